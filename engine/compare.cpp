// How desired and observed values compare (engine/api/schema.h): normal forms per Compare, the
// checks' orderings, and the identity key built from them.
#include <algorithm>
#include <cctype>

#include "engine/api/ad_rights.h"
#include "engine/api/names.h"
#include "engine/api/schema.h"
#include "engine/values.h"

namespace converge {
namespace {

// RDATA in one spelling: fields separated by one space, lower-cased outside quoted text.
std::string canonical_rdata(std::string_view v) {
  std::string out;
  bool quoted = false, space = false;
  for (char c : trim(v)) {
    if (c == '"') quoted = !quoted;
    if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += quoted ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// The strings of `v`, each mapped by f, sorted and without duplicates, as a list.
template <class F>
Value sorted_set(const Value& v, F&& f) {
  std::vector<std::string> s;
  for (const auto& e : v.strings()) s.push_back(f(e));
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return Value::StrList(std::move(s));
}

}  // namespace

bool append_normalized(std::string& out, std::string_view s, Compare c) {
  switch (c) {
    case Compare::kExact:
    case Compare::kVersionAtLeast:
    case Compare::kAtMost:
    case Compare::kAtLeast:
      out.append(s);
      return true;
    case Compare::kCaseInsensitive:
      append_lower(out, s);
      return true;
    case Compare::kDn:
      append_canonical_dn(out, s);
      return true;
    case Compare::kDnsName:
      append_canonical_dns_name(out, s);
      return true;
    default:
      return false;
  }
}

Value normalize(const Value& v, Compare c) {
  if (v.is_null()) return v;
  auto same = [](const std::string& s) { return s; };
  switch (c) {
    case Compare::kExact:
    case Compare::kVersionAtLeast:
    case Compare::kAtMost:
    case Compare::kAtLeast:
      return v;
    case Compare::kCaseInsensitive:
      return v.is_string() ? Value::Str(lower(v.as_string())) : v;
    case Compare::kDn:
      return v.is_string() ? Value::Str(canonical_dn(v.as_string())) : v;
    case Compare::kDnsName:
      if (v.is_list())
        return sorted_set(v, [](const std::string& s) { return canonical_dns_name(s); });
      return v.is_string() ? Value::Str(canonical_dns_name(v.as_string())) : v;
    case Compare::kSet:
      return sorted_set(v, same);
    case Compare::kSetCaseInsensitive:
    case Compare::kSubset:
      return sorted_set(v, [](const std::string& s) { return lower(s); });
    case Compare::kRights: {
      auto m = ad_rights_mask(v.strings());
      if (!m.ok()) return sorted_set(v, same);
      return Value::StrList(ad_rights_names(*m));
    }
    case Compare::kDnsValues:
      return sorted_set(v, [](const std::string& s) { return canonical_rdata(s); });
  }
  return v;
}

bool satisfies(const Value& desired, const Value& observed, Compare c) {
  if (desired.is_null()) return true;
  if (desired == observed) return true;  // equal values satisfy every comparison
  switch (c) {
    case Compare::kVersionAtLeast:
      return !observed.is_null() && compare_versions(observed.text(), desired.text()) >= 0;
    case Compare::kAtMost:
      return observed.is_int() && desired.is_int() && observed.as_int() <= desired.as_int();
    case Compare::kAtLeast:
      return observed.is_int() && desired.is_int() && observed.as_int() >= desired.as_int();
    case Compare::kSubset: {
      auto want = normalize(desired, c).strings();
      auto have = normalize(observed, c).strings();
      return std::includes(have.begin(), have.end(), want.begin(), want.end());
    }
    default:
      return normalize(desired, c) == normalize(observed, c);
  }
}

std::string identity_key(const TypeSpec& t, const AttrMap& attrs) {
  std::string key;
  bool first = true;
  for (const auto& a : t.attrs) {
    if (!a.identity) continue;
    if (!first) key += '|';
    first = false;
    auto it = attrs.find(a.name);
    if (it == attrs.end()) continue;
    const Value& v = it->second;
    if (!(v.is_string() && append_normalized(key, v.as_string(), a.compare)))
      key += normalize(v, a.compare).text();
  }
  return key;
}

}  // namespace converge
