// libFuzzer target for the conversion of observed DNS data into converge values: the input is a
// DNS message as it arrives from a server (e.g. one message of an AXFR answer). Properties checked:
// parsing never crashes and an error always has a message; the fast conversions (owner names and
// RDATA printed from the rdf bytes, the ZoneIndex of a transfer) give byte for byte what the
// ldns_rdf2str-based reference conversions give, for every record of every section; every RRset
// of a managed type becomes observation attributes under the declared names; its canonical
// values, read back as desired values, canonicalise to themselves (so a zone whose records the
// manifest copies verbatim never shows a difference), and the desired-spelling mapping of those
// values is empty; a value spelled_canonically (the input itself, read as a value of each managed
// type, too) does canonicalise to itself. The message rendered by render() (the compression order
// messages are sent and signed with) is byte for byte libldns's own rendering. The same bytes are
// also fed to the BIND key file parser (no crash; every error has a message; every key it accepts
// is complete). That its errors never echo a secret is a unit test (dns_values_test.cpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "providers/dns/dns_client.h"
#include "providers/dns/dns_values.h"

namespace {

void Fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "dns_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

// The fast conversions of one record against the reference ones.
void CheckAgainstReference(const ldns_rr* rr) {
  using namespace converge::dns;
  if (std::string fast = owner_name(rr), ref = owner_name_reference(rr); fast != ref)
    Fail("owner name differs from ldns", "'" + fast + "' != '" + ref + "'");
  if (std::string fast = rdata_text(rr), ref = rdata_text_reference(rr); fast != ref)
    Fail("RDATA text differs from ldns", "'" + fast + "' != '" + ref + "'");
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i)
    for (bool lower : {true, false})
      if (std::string fast = rdf_text(ldns_rr_rdf(rr, i), lower),
          ref = rdf_text_reference(ldns_rr_rdf(rr, i), lower);
          fast != ref)
        Fail("field text differs from ldns", "'" + fast + "' != '" + ref + "'");
}

// A value that spelled_canonically accepts must be canonical indeed (and parse).
void CheckSpelledCanonically(const std::string& type, const std::string& value,
                             const std::string& zone) {
  using namespace converge::dns;
  if (!spelled_canonically(type, value)) return;
  auto c = canonical_value(type, value, zone);
  if (!c.ok()) Fail("spelled_canonically accepted a malformed value", type + " '" + value + "'");
  if (*c != value)
    Fail("spelled_canonically accepted a value spelled otherwise",
         type + " '" + value + "' -> '" + *c + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace converge;
  using namespace converge::dns;

  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, data, size) == LDNS_STATUS_OK && raw) {
    PktPtr pkt(raw);
    for (const ldns_rr_list* list : {ldns_pkt_question(pkt.get()), ldns_pkt_answer(pkt.get()),
                                     ldns_pkt_authority(pkt.get()), ldns_pkt_additional(pkt.get())})
      for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i)
        CheckAgainstReference(ldns_rr_list_rr(list, i));
    if (const ldns_rr* tsig = ldns_pkt_tsig(pkt.get())) CheckAgainstReference(tsig);
    // Messages are rendered with a cheaper order of the compression tree (also when ldns
    // renders them to sign them): the bytes must be exactly libldns's own.
    if (auto reference = render_reference(pkt.get()); reference.ok()) {
      const uint8_t* ref = ldns_buffer_begin(reference->get());
      size_t ref_size = ldns_buffer_position(reference->get());
      auto fast = render(pkt.get());
      if (ref_size > 65535) {
        if (fast.ok()) Fail("a message over 64 KiB was rendered");
      } else if (!fast.ok()) {
        Fail("render failed", fast.error().message);
      } else if (ldns_buffer_position(fast->get()) != ref_size ||
                 std::memcmp(ldns_buffer_begin(fast->get()), ref, ref_size) != 0) {
        Fail("rendered message differs from libldns's own rendering");
      }
    }
    // The index of a transfer holds what add_record builds.
    ZoneIndex index;
    ZoneRRsets sets;
    const ldns_rr_list* an = ldns_pkt_answer(pkt.get());
    for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); ++i) {
      index.add(ldns_rr_list_rr(an, i));
      add_record(sets, ldns_rr_list_rr(an, i));
    }
    if (index.size() != sets.size() || index.rrsets() != sets) Fail("zone index differs");
    for (const auto& [key, set] : sets) {
      const ZoneIndex::Set* s = index.find(key);
      if (!s) Fail("zone index misses", key);
      if (record_attrs(index, *s, set.owner) != record_attrs(set, set.owner, {}))
        Fail("zone index attributes differ", key);
    }
  }
  std::string as_value(reinterpret_cast<const char*>(data), size);
  for (const char* type : {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"})
    CheckSpelledCanonically(type, as_value, "local.");

  auto m = parse_message(data, size);
  if (!m.ok()) {
    if (m.error().message.empty()) Fail("error without a message");
  } else {
    for (const auto& [key, set] : m->answer) {
      if (set.owner.empty() || set.owner.back() != '.') Fail("owner not absolute", set.owner);
      if (key != rrset_key(set.owner, set.type)) Fail("key mismatch", key);
      for (size_t i = 1; i < set.values.size(); ++i)
        if (!(set.values[i - 1] < set.values[i])) Fail("values not a sorted set", set.owner);
      if (!managed_type(set.type)) continue;
      std::string zone = set.owner;  // any enclosing name will do as the zone
      AttrMap a = record_attrs(set, zone, {});
      if (a.size() != 5 || !a.at("ttl").is_int() ||
          a.at("values").as_list().size() != set.values.size())
        Fail("bad attributes", set.owner);
      // Canonical values read back as desired values are canonical already. Known limit, not
      // checked: a name whose label starts with '@' (ldns reads it back as the origin).
      bool at_label = set.owner.find('@') != std::string::npos;
      for (const auto& v : set.values) at_label = at_label || v.find('@') != std::string::npos;
      if (at_label) continue;
      for (const auto& v : set.values) {
        auto c = canonical_value(set.type, v, zone);
        if (c.ok() && *c != v)
          Fail("canonical value not stable", set.type + " '" + v + "' -> '" + *c + "'");
        CheckSpelledCanonically(set.type, v, "local.");
      }
      auto s = desired_spellings(set.owner, set.type, set.values, zone, &set.values);
      if (!s.ok() || !s->empty()) Fail("verbatim values needed a spelling", set.owner);
    }
  }

  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto keys = parse_bind_keys(text);
  if (keys.ok()) {
    for (const auto& k : *keys)
      if (k.name.empty() || k.secret.empty() || k.algorithm.empty())
        Fail("incomplete key accepted");
  } else if (keys.error().message.empty()) {
    Fail("key file error without a message");
  }
  return 0;
}
