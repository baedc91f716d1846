// libFuzzer target for the conversion of observed DNS data into converge values: the input is a
// DNS message as it arrives from a server (e.g. one message of an AXFR answer). Properties checked:
// parsing never crashes and an error always has a message; every RRset of a managed type becomes
// observation attributes under the declared names; its canonical values, read back as desired
// values, canonicalise to themselves (so a zone whose records the manifest copies verbatim never
// shows a difference), and the desired-spelling mapping of those values is empty. The same bytes
// are also fed to the BIND key file parser (no crash; every error has a message; every key it
// accepts is complete). That its errors never echo a secret is a unit test (dns_values_test.cpp).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "providers/dns/dns_values.h"

namespace {

void Fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "dns_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace converge;
  using namespace converge::dns;

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
