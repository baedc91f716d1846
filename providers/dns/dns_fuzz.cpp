// libFuzzer target for the parsers of what a DNS server and a key file hand us. The input is read
// three ways:
//   - as a DNS message as it arrives from a server (e.g. one message of an AXFR answer): parsing
//     never crashes and an error always has a message; every RRset of the answer has a canonical
//     key, an absolute owner and sorted unique values; every RRset of a managed type becomes
//     observation attributes under the declared names, and its canonical values, read back as
//     desired values, canonicalise to themselves (so a zone whose records the manifest copies
//     verbatim never shows a difference);
//   - as a desired value of each managed type: parsing never crashes, an error has a message, and
//     a canonical form that parses again is its own canonical form;
//   - as a BIND key file: no crash; every error has a message; every key it accepts is complete.
// That key file errors never echo a secret is a unit test (dns_data_test.cpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "providers/dns/dns_desired.h"
#include "providers/dns/dns_key_file.h"
#include "providers/dns/dns_zone_index.h"

namespace {

void Fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "dns_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

// A name with a label starting with '@' reads back as the origin: a known limit, not checked.
bool has_at_label(const std::string& s) { return s.find('@') != std::string::npos; }

void CheckMessage(const uint8_t* data, size_t size) {
  using namespace converge;
  using namespace converge::dns;
  auto m = parse_message(data, size);
  if (!m.ok()) {
    if (m.error().message.empty()) Fail("error without a message");
    return;
  }
  for (const auto& [key, set] : m->answer) {
    if (set.owner.empty() || set.owner.back() != '.') Fail("owner not absolute", set.owner);
    if (key != rrset_key(set.owner, set.type)) Fail("key mismatch", key);
    for (size_t i = 1; i < set.values.size(); ++i)
      if (!(set.values[i - 1] < set.values[i])) Fail("values not a sorted set", set.owner);
    if (!managed_type(set.type)) continue;
    const std::string& zone = set.owner;  // any enclosing name will do as the zone
    AttrMap a = record_attrs(set, zone, {});
    if (a.size() != 5 || !a.at("ttl").is_int() ||
        a.at("values").as_list().size() != set.values.size())
      Fail("bad attributes", set.owner);
    bool at_label = has_at_label(set.owner);
    for (const auto& v : set.values) at_label = at_label || has_at_label(v);
    if (at_label) continue;
    for (const auto& v : set.values) {
      auto c = canonical_value(set.type, v, zone);
      if (c.ok() && *c != v)
        Fail("canonical value not stable", set.type + " '" + v + "' -> '" + *c + "'");
    }
    auto s = desired_spellings(set.owner, set.type, set.values, zone);
    if (s.ok() && !s->empty()) Fail("canonical values needed a spelling", set.owner);
  }
}

void CheckValue(const std::string& value) {
  using namespace converge::dns;
  for (const char* type : {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"}) {
    auto c = canonical_value(type, value, "local.");
    if (!c.ok()) {
      if (c.error().message.empty()) Fail("value error without a message", type);
      continue;
    }
    if (has_at_label(*c)) continue;
    // Known limit, not checked: a canonical form ldns cannot read back (it prints '"' in names
    // unescaped); the value then is an error where it is written, never a perpetual diff.
    auto again = canonical_value(type, *c, "local.");
    if (again.ok() && *again != *c) Fail("canonical form not stable", type + (" '" + *c + "'"));
  }
}

void CheckKeyFile(std::string_view text) {
  auto keys = converge::dns::parse_bind_keys(text);
  if (keys.ok()) {
    for (const auto& k : *keys)
      if (k.name.empty() || k.secret.empty() || k.algorithm.empty())
        Fail("incomplete key accepted");
  } else if (keys.error().message.empty()) {
    Fail("key file error without a message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckMessage(data, size);
  std::string text(reinterpret_cast<const char*>(data), size);
  CheckValue(text);
  CheckKeyFile(text);
  return 0;
}
