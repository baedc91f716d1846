#include "providers/dns/dns_answer.h"

#include <cstdlib>
#include <ctime>

#include "engine/api/names.h"

namespace converge::dns {
namespace {

int64_t now(const ClientOptions& opt) {
  return opt.clock ? opt.clock() : static_cast<int64_t>(std::time(nullptr));
}

std::string count(uint64_t n) { return std::to_string(n); }

}  // namespace

Result<PktPtr> verify_answer(const ClientOptions& opt, const uint8_t* wire, size_t size,
                             uint16_t id, const ldns_rdf* mac, bool later) {
  PktPtr pkt;
  ldns_status st = parse_wire(wire, size, &pkt);
  if (st != LDNS_STATUS_OK || !pkt)
    return Error::Internal("malformed answer from " + opt.server.text + ": " +
                           ldns_get_errorstr_by_id(st));
  if (ldns_pkt_id(pkt.get()) != id || !ldns_pkt_qr(pkt.get()))
    return Error::Internal("answer from " + opt.server.text + " does not match the request");
  if (!opt.key) return pkt;
  const TsigKey& key = *opt.key;
  int rcode = ldns_pkt_get_rcode(pkt.get());
  ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
  if (!tsig && later)
    return Error::Invalid(
        "the transfer from " + opt.server.text + " contains an unsigned message; cannot verify it",
        "check that key '" + key.name + "' signs every message on the server");
  if (!tsig)
    return Error::Invalid("the server answered " + rcode_name(rcode) + " without a TSIG signature",
                          "check that key '" + key.name + "' is configured on the server");
  if (ldns_rr_rd_count(tsig) < 7)
    return Error::Internal("malformed TSIG record in the answer from " + opt.server.text);
  int tsig_error =
      ldns_rdf_size(ldns_rr_rdf(tsig, 5)) == 2 ? ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)) : 0;
  if (tsig_error != 0) {
    std::string why = tsig_error == 16   ? "the secret does not match the server's"
                      : tsig_error == 17 ? "the server does not know this key name"
                      : tsig_error == 18 ? "the clocks differ by more than the allowed fudge"
                                         : "the server did not accept the signature";
    return Error::Invalid("the server rejected TSIG key '" + key.name +
                              "': " + tsig_error_name(tsig_error) + " (" + rcode_name(rcode) + ")",
                          why);
  }
  // ldns computes the MAC with our key name and takes the record's on trust: compare them.
  std::string signer, alg;
  if (char* n = ldns_rdf2str(ldns_rr_owner(tsig))) {
    signer = canonical_dns_name(n);
    std::free(n);
  }
  if (signer != canonical_dns_name(key.name))
    return Error::Invalid("the answer from " + opt.server.text + " is signed with key '" + signer +
                          "', not '" + key.name + "'");
  if (char* a = ldns_rdf2str(ldns_rr_rdf(tsig, 0))) {
    alg = canonical_dns_name(a);
    std::free(a);
  }
  if (alg != canonical_dns_name(key.algorithm))
    return Error::Invalid("the answer is signed with algorithm " + alg + ", not " + key.algorithm);
  bool ok = later ? ldns_pkt_tsig_verify_next(pkt.get(), wire, size, key.name.c_str(),
                                              key.secret.c_str(), mac, 1)
                  : ldns_pkt_tsig_verify(pkt.get(), wire, size, key.name.c_str(),
                                         key.secret.c_str(), mac);
  if (!ok)
    return Error::Invalid(
        "the TSIG signature of the answer from " + opt.server.text + " does not verify",
        "check the secret of key '" + key.name + "'");
  // A valid signature from outside the time window is a replay (RFC 8945 5.2.3).
  const ldns_rdf* when = ldns_rr_rdf(tsig, 1);
  const ldns_rdf* fudge = ldns_rr_rdf(tsig, 2);
  if (ldns_rdf_size(when) == 6 && ldns_rdf_size(fudge) == 2) {
    const uint8_t* d = ldns_rdf_data(when);
    int64_t signed_at = 0;
    for (int i = 0; i < 6; ++i) signed_at = (signed_at << 8) | d[i];
    int64_t t = now(opt);
    // In unsigned arithmetic: the clock may be anywhere in int64_t, and the distance still fits.
    uint64_t skew = t > signed_at ? static_cast<uint64_t>(t) - static_cast<uint64_t>(signed_at)
                                  : static_cast<uint64_t>(signed_at) - static_cast<uint64_t>(t);
    if (skew > ldns_rdf2native_int16(fudge))
      return Error::Invalid("the answer's TSIG signature is " + std::to_string(skew) +
                                " s away from this host's clock",
                            "synchronise the clocks (NTP)");
  }
  return pkt;
}

namespace {
const ldns_rdf* request_mac(const ldns_pkt* request) {
  const ldns_rr* t = ldns_pkt_tsig(request);
  return t && ldns_rr_rd_count(t) >= 4 ? ldns_rr_rdf(t, 3) : nullptr;
}
}  // namespace

TransferReader::TransferReader(const ClientOptions& opt, std::string zone, const ldns_pkt* request)
    : TransferReader(opt, std::move(zone), ldns_pkt_id(request), request_mac(request)) {}

TransferReader::TransferReader(const ClientOptions& opt, std::string zone, uint16_t id,
                               const ldns_rdf* mac)
    : opt_(opt), zone_(std::move(zone)), id_(id), mac_(mac ? ldns_rdf_clone(mac) : nullptr) {}

Status TransferReader::add(const uint8_t* wire, size_t size) {
  if (failed_) return *failed_;
  Status s = check(wire, size);
  if (!s.ok()) failed_ = s.error();
  return s;
}

Status TransferReader::check(const uint8_t* wire, size_t size) {
  const TransferLimits& lim = opt_.limits;
  auto over = [&](const std::string& what, uint64_t limit, const char* setting) {
    return Error::Invalid(
        "the transfer of " + zone_ + " from " + opt_.server.text + " is larger than " +
            count(limit) + " " + what,
        std::string("raise ") + setting + " of the provider if the zone really is this large");
  };
  if (done_) return Error::Internal("a message after the end of the transfer of " + zone_);
  if (t_.messages + 1 > lim.messages)
    return over("messages", lim.messages, "max_transfer_messages");
  t_.bytes += size + 2;
  if (t_.bytes > lim.bytes) return over("octets", lim.bytes, "max_transfer_bytes");

  bool first = t_.messages == 0;
  auto pkt = verify_answer(opt_, wire, size, id_, mac_.get(), !first);
  if (!pkt.ok()) return pkt.error();
  ++t_.messages;
  if (const ldns_rr* tsig = ldns_pkt_tsig(pkt->get()))
    mac_.reset(ldns_rdf_clone(ldns_rr_rdf(tsig, 3)));

  int rcode = ldns_pkt_get_rcode(pkt->get());
  if (first && rcode != LDNS_RCODE_NOERROR) {
    t_.rcode = rcode;
    done_ = true;
    return {};
  }
  if (rcode != LDNS_RCODE_NOERROR)
    return Error::Transient("the transfer of " + zone_ + " failed midway: " + rcode_name(rcode));
  const ldns_rr_list* an = ldns_pkt_answer(pkt->get());
  size_t n = an ? ldns_rr_list_rr_count(an) : 0;
  if (first && n == 0) return Error::Internal("empty first message in the transfer of " + zone_);
  for (size_t i = 0; i < n; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(an, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
      if (++soa_seen_ == 2) {
        done_ = true;
        break;
      }
    } else if (soa_seen_ == 0) {
      return Error::Internal("the transfer of " + zone_ + " does not start with its SOA");
    }
    if (t_.records + 1 > lim.records) return over("records", lim.records, "max_transfer_records");
    add_record(t_.sets, rr);
    ++t_.records;
  }
  return {};
}

}  // namespace converge::dns
