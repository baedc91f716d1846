#include "engine/values.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <sstream>

#include "engine/api/ad_rights.h"
#include "engine/api/schema.h"
#include "engine/api/value.h"

namespace converge {

namespace {
// The C locale's tolower/isspace (the engine never changes the locale), inlined.
inline char lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
inline bool space_ascii(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
// a == b, for short names (no call to memcmp).
inline bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

std::string_view trim_view(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && space_ascii(s[b])) ++b;
  while (e > b && space_ascii(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// The end of canonical_dns_name for out[base..]: one trailing dot.
void finish_dns_name(std::string& out, size_t base) {
  while (out.size() - base > 1 && out.back() == '.' && out[out.size() - 2] == '.') out.pop_back();
  if (out.size() == base || out.back() != '.') out += '.';
}
}  // namespace

void append_lower(std::string& out, std::string_view s) {
  size_t at = out.size(), n = s.size(), i = 0;
  out.append(s);
  char* d = out.data() + at;
  // Eight bytes at a time: add 0x20 to each byte in 'A'..'Z' (bytes >= 0x80 stay as they are).
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, d + i, 8);
    uint64_t low7 = x & 0x7f7f7f7f7f7f7f7full;
    uint64_t above_z = low7 + 0x2525252525252525ull;  // high bit set where byte > 'Z'
    uint64_t from_a = low7 + 0x3f3f3f3f3f3f3f3full;   // high bit set where byte >= 'A'
    uint64_t upper = (from_a ^ above_z) & ~x & 0x8080808080808080ull;
    x |= upper >> 2;
    std::memcpy(d + i, &x, 8);
  }
  for (; i < n; ++i) d[i] = lower_ascii(d[i]);
}

std::string lower(std::string_view s) {
  std::string out;
  append_lower(out, s);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  return true;
}

std::string trim(std::string_view s) { return std::string(trim_view(s)); }

void append_canonical_dn(std::string& out, std::string_view dn) {
  // One pass: lower-case, drop spaces around ',' and '=' (unescaped), keep escapes as written.
  // Usually there is nothing to drop: then the canonical form is the DN lower-cased.
  bool plain = !dn.empty() && dn.front() != ' ' && dn.back() != ' ';
  for (size_t i = 0; plain && i < dn.size(); ++i) {
    char c = dn[i];
    if (c == '\\')
      plain = false;
    else if (c == ' ')
      plain = dn[i - 1] != ',' && dn[i - 1] != '=' && dn[i + 1] != ',' && dn[i + 1] != '=';
  }
  if (plain) return append_lower(out, dn);
  // The canonical form is never longer than the DN: written in place, then cut to length.
  const size_t base = out.size();
  out.resize(base + dn.size());
  char* o = out.data() + base;
  size_t n = 0;
  auto drop_trailing_spaces = [&] {
    while (n > 0 && o[n - 1] == ' ' && !(n >= 2 && o[n - 2] == '\\')) --n;
  };
  size_t i = 0;
  while (i < dn.size() && dn[i] == ' ') ++i;
  while (i < dn.size()) {
    char c = dn[i];
    if (c == '\\' && i + 1 < dn.size()) {
      o[n++] = c;
      o[n++] = dn[i + 1];
      i += 2;
      continue;
    }
    if (c == ',' || c == '=') {
      drop_trailing_spaces();
      o[n++] = c;
      ++i;
      while (i < dn.size() && dn[i] == ' ') ++i;
      continue;
    }
    o[n++] = lower_ascii(c);
    ++i;
  }
  drop_trailing_spaces();
  out.resize(base + n);
}

std::string canonical_dn(std::string_view dn) {
  std::string out;
  append_canonical_dn(out, dn);
  return out;
}

void append_canonical_dns_name(std::string& out, std::string_view name) {
  size_t base = out.size();
  append_lower(out, trim_view(name));
  finish_dns_name(out, base);
}

std::string canonical_dns_name(std::string_view name) {
  std::string out;
  append_canonical_dns_name(out, name);
  return out;
}

void append_absolute_dns_name(std::string& out, std::string_view name, std::string_view zone) {
  std::string_view n = trim_view(name);
  out.reserve(out.size() + n.size() + zone.size() + 2);
  if (n == "@" || n.empty()) return append_canonical_dns_name(out, zone);
  if (n.back() == '.') return append_canonical_dns_name(out, n);
  // canonical_dns_name(n + "." + canonical_dns_name(zone)): trimming and lower-casing the joined
  // name change nothing more, only the trailing dots are collapsed again (a root zone gives "..").
  size_t base = out.size();
  append_lower(out, n);
  out += '.';
  append_canonical_dns_name(out, zone);
  finish_dns_name(out, base);
}

std::string absolute_dns_name(std::string_view name, std::string_view zone) {
  std::string out;
  append_absolute_dns_name(out, name, zone);
  return out;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto parts = [](std::string_view s) {
    std::vector<long> v;
    long cur = 0;
    bool any = false;
    for (char c : s) {
      if (std::isdigit(static_cast<unsigned char>(c))) {
        cur = cur * 10 + (c - '0');
        any = true;
      } else if (c == '.') {
        v.push_back(cur);
        cur = 0;
        any = false;
      }
    }
    if (any || !v.empty()) v.push_back(cur);
    return v;
  };
  auto pa = parts(a), pb = parts(b);
  size_t n = std::max(pa.size(), pb.size());
  pa.resize(n, 0);
  pb.resize(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (pa[i] < pb[i]) return -1;
    if (pa[i] > pb[i]) return 1;
  }
  return 0;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (lower_ascii(a[i - 1]) == lower_ascii(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (space_ascii(c)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string now_iso() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  // Formatted once per second per thread: every journaled change asks.
  thread_local std::time_t last = -1;
  thread_local std::string text;
  if (t != last) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    text = buf;
    last = t;
  }
  return text;
}

// ---- Value ----

std::vector<std::string> Value::strings() const {
  if (kind_ == Kind::kList) {
    std::vector<std::string> out;
    out.reserve(l_.size());
    for (const auto& v : l_) out.push_back(v.text());
    return out;
  }
  if (kind_ == Kind::kNull) return {};
  return {text()};
}

std::string Value::text() const {
  switch (kind_) {
    case Kind::kNull:
      return "";
    case Kind::kBool:
      return i_ ? "true" : "false";
    case Kind::kInt:
      return std::to_string(i_);
    case Kind::kString:
      return s_;
    case Kind::kList: {
      std::string out;
      for (size_t i = 0; i < l_.size(); ++i) out += (i ? ", " : "") + l_[i].text();
      return out;
    }
  }
  return "";
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::kNull:
      return "(none)";
    case Kind::kString: {
      std::string out = "\"";
      for (char c : s_) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    }
    case Kind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < l_.size(); ++i) out += (i ? ", " : "") + l_[i].repr();
      return out + "]";
    }
    default:
      return text();
  }
}

// ---- AD rights ----

namespace {
struct RightName {
  std::string_view name;
  uint32_t mask;
};
constexpr uint32_t kGenericAllExpanded = 0x000F01FF;
constexpr uint32_t kGenericReadExpanded = 0x00020094;
constexpr uint32_t kGenericWriteExpanded = 0x00020028;
constexpr uint32_t kGenericExecuteExpanded = 0x00020004;
const RightName kRights[] = {
    {"CreateChild", 0x1},
    {"DeleteChild", 0x2},
    {"ListChildren", 0x4},
    {"Self", 0x8},
    {"ReadProperty", 0x10},
    {"WriteProperty", 0x20},
    {"DeleteTree", 0x40},
    {"ListObject", 0x80},
    {"ExtendedRight", 0x100},
    {"Delete", 0x10000},
    {"ReadControl", 0x20000},
    {"WriteDacl", 0x40000},
    {"WriteOwner", 0x80000},
    {"GenericAll", kGenericAllExpanded},
    {"GenericRead", kGenericReadExpanded},
    {"GenericWrite", kGenericWriteExpanded},
    {"GenericExecute", kGenericExecuteExpanded},
};
const std::pair<std::string_view, std::string_view> kAliases[] = {
    {"FullControl", "GenericAll"},      {"Read", "GenericRead"},    {"Write", "GenericWrite"},
    {"ControlAccess", "ExtendedRight"}, {"ValidatedWrite", "Self"},
};
uint32_t expand_generic(uint32_t m) {
  uint32_t out = m & 0x0FFFFFFF;
  if (m & 0x10000000) out |= kGenericAllExpanded;
  if (m & 0x80000000) out |= kGenericReadExpanded;
  if (m & 0x40000000) out |= kGenericWriteExpanded;
  if (m & 0x20000000) out |= kGenericExecuteExpanded;
  return out;
}
}  // namespace

const std::vector<std::string>& ad_right_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& r : kRights) v.emplace_back(r.name);
    for (const auto& a : kAliases) v.emplace_back(a.first);
    return v;
  }();
  return names;
}

Result<uint32_t> ad_rights_mask(const std::vector<std::string>& names) {
  uint32_t mask = 0;
  for (const auto& raw : names) {
    std::string_view n = trim_view(raw);
    for (const auto& a : kAliases)
      if (iequals(n, a.first)) n = a.second;
    if (n.size() > 2 && n[0] == '0' && (n[1] == 'x' || n[1] == 'X')) {
      try {
        size_t used = 0;
        std::string hex(n);
        unsigned long v = std::stoul(hex, &used, 16);
        if (used != hex.size() || v > 0xFFFFFFFFul) throw std::invalid_argument(hex);
        mask |= expand_generic(static_cast<uint32_t>(v));
        continue;
      } catch (const std::exception&) {
        return Error::Invalid("invalid rights mask '" + raw + "'", "write a hex mask like 0x20094");
      }
    }
    bool found = false;
    for (const auto& r : kRights) {
      if (iequals(n, r.name)) {
        mask |= r.mask;
        found = true;
        break;
      }
    }
    if (!found) {
      std::string near = closest(n, ad_right_names());
      return Error::Invalid("unknown right '" + raw + "'",
                            near.empty() ? "known rights: GenericAll, GenericRead, ReadProperty, "
                                           "WriteProperty, CreateChild, ExtendedRight, ..."
                                         : "did you mean '" + near + "'?");
    }
  }
  return mask;
}

std::vector<std::string> ad_rights_names(uint32_t mask) {
  mask = expand_generic(mask);
  if (mask == kGenericAllExpanded) return {"GenericAll"};
  if (mask == kGenericReadExpanded) return {"GenericRead"};
  std::vector<std::string> out;
  uint32_t left = mask;
  for (const auto& r : kRights) {
    if (r.mask & (r.mask - 1)) continue;  // composite names only for exact matches
    if (mask & r.mask) {
      out.emplace_back(r.name);
      left &= ~r.mask;
    }
  }
  if (left) {
    std::ostringstream os;
    os << "0x" << std::hex << left;
    out.push_back(os.str());
  }
  return out;
}

// ---- compare ----

namespace {
std::string canonical_rdata(std::string_view v) {
  std::string out;
  bool quoted = false;
  bool space = false;
  for (char c : trim_view(v)) {
    if (c == '"') quoted = !quoted;
    if (!quoted && space_ascii(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += quoted ? c : lower_ascii(c);
  }
  return out;
}

Value sorted_strings(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::vector<Value> out;
  out.reserve(v.size());
  for (auto& s : v) out.push_back(Value::Str(std::move(s)));
  return Value::List(std::move(out));
}

// Calls f(text) for each element of v.strings(), without copying string elements.
template <class F>
void each_text(const Value& v, F&& f) {
  if (v.is_list()) {
    for (const auto& e : v.as_list()) {
      if (e.is_string())
        f(e.as_string());
      else
        f(e.text());
    }
  } else if (v.is_string()) {
    f(v.as_string());
  } else if (!v.is_null()) {
    f(v.text());
  }
}

// identity_key for types with many identity attributes: one find() each.
std::string identity_key_slow(const TypeSpec& t, const AttrMap& attrs) {
  std::string key;
  bool first = true;
  for (const auto& a : t.attrs) {
    if (!a.identity) continue;
    if (!first) key += '|';
    first = false;
    auto it = attrs.find(a.name);
    if (it != attrs.end()) key += normalize(it->second, a.compare).text();
  }
  return key;
}

// a < b, as std::string compares (bytes as unsigned), for short names.
inline bool name_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  return a.size() < b.size();
}

// The first attribute at or after `it` whose name is not less than `name`: names looked up in
// increasing order are all found in one walk over the (small, sorted) map.
inline AttrMap::iterator seek(AttrMap& a, AttrMap::iterator it, std::string_view name) {
  while (it != a.end() && name_less(it->first, name)) ++it;
  return it;
}

// The text of the attribute `name` if `it` is it, as derive_computed reads attributes: "" when
// missing or null, a view of a string, the rendering of other values (kept in `tmp`).
std::string_view text_at(const AttrMap& a, AttrMap::const_iterator it, std::string_view name,
                         std::string& tmp) {
  if (it == a.end() || !same_name(it->first, name) || it->second.is_null()) return {};
  if (it->second.is_string()) return it->second.as_string();
  return tmp = it->second.text();
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
      if (v.is_list()) {
        std::vector<std::string> out;
        out.reserve(v.as_list().size());
        each_text(v, [&](std::string_view s) { out.push_back(canonical_dns_name(s)); });
        return sorted_strings(std::move(out));
      }
      return v.is_string() ? Value::Str(canonical_dns_name(v.as_string())) : v;
    case Compare::kSet:
      return sorted_strings(v.strings());
    case Compare::kSetCaseInsensitive:
    case Compare::kSubset: {
      std::vector<std::string> out;
      each_text(v, [&](std::string_view s) { out.push_back(lower(s)); });
      return sorted_strings(std::move(out));
    }
    case Compare::kRights: {
      auto m = ad_rights_mask(v.strings());
      if (!m.ok()) return sorted_strings(v.strings());
      return Value::StrList(ad_rights_names(*m));
    }
    case Compare::kDnsValues: {
      std::vector<std::string> out;
      each_text(v, [&](std::string_view s) { out.push_back(canonical_rdata(s)); });
      return sorted_strings(std::move(out));
    }
  }
  return v;
}

bool satisfies(const Value& desired, const Value& observed, Compare c) {
  if (desired.is_null()) return true;
  if (desired == observed) return true;  // equal values satisfy every comparison; no normalising
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
  // The identity attributes in declaration order, found in one walk over the (small, sorted) map.
  constexpr size_t kMax = 8;
  const AttrSpec* ids[kMax];
  const Value* values[kMax] = {};
  size_t n = 0;
  for (const auto& a : t.attrs) {
    if (!a.identity) continue;
    if (n == kMax) return identity_key_slow(t, attrs);
    ids[n++] = &a;
  }
  size_t left = n, size = n ? n - 1 : 0;  // the key's length, about
  for (auto it = attrs.begin(); it != attrs.end() && left; ++it) {
    for (size_t k = 0; k < n; ++k) {
      if (!values[k] && same_name(ids[k]->name, it->first)) {
        values[k] = &it->second;
        if (it->second.is_string())
          size += it->second.as_string().size() + (ids[k]->compare == Compare::kDnsName);
        --left;
      }
    }
  }
  std::string key;
  if (size > 15) key.reserve(size);  // (short keys stay in the string itself)
  for (size_t k = 0; k < n; ++k) {
    if (k) key += '|';
    const Value* v = values[k];
    if (!v) continue;
    if (v->is_string() && append_normalized(key, v->as_string(), ids[k]->compare)) continue;
    key += normalize(*v, ids[k]->compare).text();
  }
  return key;
}

// ---- derived attributes ----

void derive_computed(const TypeSpec& t, AttrMap& a) {
  auto str = [&](const char* k) -> std::string {
    auto it = a.find(k);
    return it == a.end() || it->second.is_null() ? std::string() : it->second.text();
  };
  // Whether the type has both dn and path; remembered for the registry's type of the last call.
  thread_local const TypeSpec* last_type = nullptr;
  thread_local bool last_dn_path = false;
  bool dn_path;
  if (&t == last_type) {
    dn_path = last_dn_path;
  } else {
    bool has_dn = false, has_path = false;
    for (const auto& spec : t.attrs) {
      has_dn = has_dn || spec.name == "dn";
      has_path = has_path || spec.name == "path";
    }
    dn_path = has_dn && has_path;
    const auto& all = all_types();  // immutable: its addresses always mean the same type
    if (&t >= all.data() && &t < all.data() + all.size()) {
      last_type = &t;
      last_dn_path = dn_path;
    }
  }
  if (dn_path) {
    auto cn_it = seek(a, a.begin(), "cn"), dn_it = seek(a, cn_it, "dn");
    auto name_it = seek(a, dn_it, "name"), path_it = seek(a, name_it, "path");
    std::string t1, t2, t3;
    std::string_view cn = text_at(a, cn_it, "cn", t1);
    if (cn.empty()) cn = text_at(a, name_it, "name", t2);
    std::string_view path = text_at(a, path_it, "path", t3);
    std::string dn;
    dn.reserve(4 + cn.size() + path.size());
    dn.append(t.name == std::string_view("ou") ? "OU=" : "CN=")
        .append(cn)
        .append(1, ',')
        .append(path);
    a.insert_or_assign(dn_it, "dn", Value::Str(std::move(dn)));
  }
  if (t.name == std::string_view("dns_record")) {
    auto address_it = seek(a, a.begin(), "address_of"), name_it = seek(a, address_it, "name");
    auto targets_it = seek(a, name_it, "targets"), type_it = seek(a, targets_it, "type");
    auto values_it = seek(a, type_it, "values"), zone_it = seek(a, values_it, "zone");
    std::string t1, t2, t3;
    std::string_view zone = text_at(a, zone_it, "zone", t1), type = text_at(a, type_it, "type", t2);
    std::string fqdn;
    append_absolute_dns_name(fqdn, text_at(a, name_it, "name", t3), zone);
    bool mx = iequals(type, "mx"), srv = iequals(type, "srv");
    // One spelling of the owner name: absolute.
    if (iequals(type, "a") || iequals(type, "aaaa"))
      a.insert_or_assign(address_it, "address_of", Value::Str(fqdn));
    a.insert_or_assign(name_it, "name", Value::Str(std::move(fqdn)));
    // Absolute targets, so that "exch1" and "exch1.local." compare equal.
    size_t target_field = mx ? 1 : srv ? 3 : 0;
    bool has_target =
        mx || srv || iequals(type, "cname") || iequals(type, "ns") || iequals(type, "ptr");
    if (has_target) {
      std::vector<Value> values, targets;
      if (values_it != a.end() && same_name(values_it->first, "values")) {
        // Each value's fields (as split_ws) joined by one space, the target made absolute.
        each_text(values_it->second, [&](std::string_view s) {
          std::string joined;
          joined.reserve(s.size() + zone.size() + 2);
          size_t i = 0, field = 0;
          while (true) {
            while (i < s.size() && space_ascii(s[i])) ++i;
            if (i == s.size()) break;
            size_t b = i;
            while (i < s.size() && !space_ascii(s[i])) ++i;
            if (!joined.empty()) joined += ' ';
            if (field++ == target_field) {
              size_t at = joined.size();
              append_absolute_dns_name(joined, s.substr(b, i - b), zone);
              targets.push_back(Value::Str(joined.substr(at)));
            } else {
              joined.append(s.substr(b, i - b));
            }
          }
          values.push_back(Value::Str(std::move(joined)));
        });
        values_it->second = Value::List(std::move(values));
      }
      a.insert_or_assign(targets_it, "targets", Value::List(std::move(targets)));
    }
  }
  if (t.name == std::string_view("migration_path")) {
    bool needs = false;
    if (str("source_version") == "2003" && str("target_version") == "2007") {
      auto it = a.find("source_agents");
      if (it != a.end())
        for (const auto& s : it->second.strings())
          if (iequals(s, "MSA") || iequals(s, "CSA")) needs = true;
    }
    if (needs) a["target_public_folder_store"] = Value::Bool(true);
  }
}

}  // namespace converge
