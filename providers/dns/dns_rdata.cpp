#include "providers/dns/dns_rdata.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include "engine/api/names.h"

namespace converge::dns {
namespace {

// ldns hands out malloc'ed strings.
std::string take(char* s) {
  if (!s) return {};
  std::string out(s);
  std::free(s);
  return out;
}

// Moves `pos` past the name there: labels up to the root, or up to a compression pointer.
bool skip_name(const uint8_t* w, size_t n, size_t& pos) {
  while (pos < n) {
    uint8_t len = w[pos];
    if ((len & 0xC0) == 0xC0) return (pos += 2) <= n;
    if (len & 0xC0) return false;
    pos += 1 + len;
    if (len == 0) return true;
  }
  return false;
}

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Whether a TSIG record stands anywhere but last; what is malformed is left to ldns to report.
bool misplaced_tsig(const uint8_t* w, size_t n) {
  if (n < 12) return false;
  size_t pos = 12;
  for (unsigned i = 0; i < u16(w + 4); ++i)
    if (!skip_name(w, n, pos) || (pos += 4) > n) return false;
  size_t records = size_t{u16(w + 6)} + u16(w + 8) + u16(w + 10);
  for (size_t i = 0; i < records; ++i) {
    if (!skip_name(w, n, pos) || pos + 10 > n) return false;
    bool tsig = u16(w + pos) == LDNS_RR_TYPE_TSIG;
    pos += 10 + size_t{u16(w + pos + 8)};
    if (tsig && i + 1 < records) return true;
  }
  return false;
}

}  // namespace

ldns_status parse_wire(const uint8_t* wire, size_t size, PktPtr* out) {
  if (misplaced_tsig(wire, size)) return LDNS_STATUS_WIRE_RDATA_ERR;
  ldns_pkt* raw = nullptr;
  ldns_status st = ldns_wire2pkt(&raw, wire, size);
  out->reset(raw);
  return st;
}

std::string rdf_text(const ldns_rdf* f, bool lower) {
  if (!f) return {};
  if (lower && ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME) {
    RdfPtr lowered(ldns_rdf_clone(f));
    if (!lowered) return {};
    ldns_dname2canonical(lowered.get());
    return take(ldns_rdf2str(lowered.get()));
  }
  return take(ldns_rdf2str(f));
}

std::string rdata_text(const ldns_rr* rr) {
  std::string out;
  for (size_t i = 0, n = ldns_rr_rd_count(rr); i < n; ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (!f) continue;
    if (!out.empty()) out += ' ';
    out += rdf_text(f);
  }
  return out;
}

std::string owner_name(const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return {};
  return canonical_dns_name(take(ldns_rdf2str(ldns_rr_owner(rr))));
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (zone == "." || name == zone) return true;
  return name.size() > zone.size() && name.ends_with(zone) &&
         name[name.size() - zone.size() - 1] == '.';
}

std::string type_name(ldns_rr_type t) {
  std::string s = take(ldns_rr_type2str(t));
  return s.empty() ? "TYPE" + std::to_string(static_cast<int>(t)) : s;
}

std::string canonical_type(std::string_view type) {
  std::string out(type);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - ('a' - 'A'));
  return out;
}

bool managed_type(std::string_view type) {
  static constexpr std::string_view kTypes[] = {"A",   "AAAA", "CNAME", "MX",
                                                "TXT", "SRV",  "PTR",   "NS"};
  return std::find(std::begin(kTypes), std::end(kTypes), canonical_type(type)) != std::end(kTypes);
}

std::string rcode_name(int rcode) {
  static const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                 "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode >= 0 && rcode < static_cast<int>(std::size(kNames))) return kNames[rcode];
  return "RCODE" + std::to_string(rcode);
}

std::string tsig_error_name(int code) {
  switch (code) {
    case 0:
      return "NOERROR";
    case 16:
      return "BADSIG";
    case 17:
      return "BADKEY";
    case 18:
      return "BADTIME";
    case 19:
      return "BADMODE";
    case 20:
      return "BADNAME";
    case 21:
      return "BADALG";
    case 22:
      return "BADTRUNC";
    default:
      return "TSIG error " + std::to_string(code);
  }
}

}  // namespace converge::dns
