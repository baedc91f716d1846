#include "engine/values.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <sstream>

#include "engine/api/ad_rights.h"
#include "engine/api/schema.h"
#include "engine/api/value.h"

namespace converge {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string canonical_dn(std::string_view dn) {
  // One pass: lower-case, drop spaces around ',' and '=' (unescaped), keep escapes as written.
  std::string out;
  out.reserve(dn.size());
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dn.size() && dn[i] == ' ') ++i;
  };
  skip_spaces();
  while (i < dn.size()) {
    char c = dn[i];
    if (c == '\\' && i + 1 < dn.size()) {
      out += c;
      out += dn[i + 1];
      i += 2;
      continue;
    }
    if (c == ',' || c == '=') {
      while (!out.empty() && out.back() == ' ' && !(out.size() >= 2 && out[out.size() - 2] == '\\'))
        out.pop_back();
      out += c;
      ++i;
      skip_spaces();
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ++i;
  }
  while (!out.empty() && out.back() == ' ' && !(out.size() >= 2 && out[out.size() - 2] == '\\'))
    out.pop_back();
  return out;
}

std::string canonical_dns_name(std::string_view name) {
  std::string n = lower(trim(name));
  while (n.size() > 1 && n.back() == '.' && n[n.size() - 2] == '.') n.pop_back();
  if (n.empty() || n.back() != '.') n += '.';
  return n;
}

std::string absolute_dns_name(std::string_view name, std::string_view zone) {
  std::string n = trim(name);
  if (n == "@" || n.empty()) return canonical_dns_name(zone);
  if (n.back() == '.') return canonical_dns_name(n);
  return canonical_dns_name(n + "." + canonical_dns_name(zone));
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
      size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                          std::tolower(static_cast<unsigned char>(b[j - 1]))
                                      ? 0
                                      : 1);
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
    if (std::isspace(static_cast<unsigned char>(c))) {
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
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
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
  const char* name;
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
const std::pair<const char*, const char*> kAliases[] = {
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
    std::string n = trim(raw);
    for (const auto& a : kAliases)
      if (iequals(n, a.first)) n = a.second;
    if (n.size() > 2 && n[0] == '0' && (n[1] == 'x' || n[1] == 'X')) {
      try {
        size_t used = 0;
        unsigned long v = std::stoul(n, &used, 16);
        if (used != n.size() || v > 0xFFFFFFFFul) throw std::invalid_argument(n);
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

Value sorted_strings(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return Value::StrList(v);
}
}  // namespace

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
        for (const auto& s : v.strings()) out.push_back(canonical_dns_name(s));
        return sorted_strings(out);
      }
      return v.is_string() ? Value::Str(canonical_dns_name(v.as_string())) : v;
    case Compare::kSet:
      return sorted_strings(v.strings());
    case Compare::kSetCaseInsensitive:
    case Compare::kSubset: {
      std::vector<std::string> out;
      for (const auto& s : v.strings()) out.push_back(lower(s));
      return sorted_strings(out);
    }
    case Compare::kRights: {
      auto m = ad_rights_mask(v.strings());
      if (!m.ok()) return sorted_strings(v.strings());
      return Value::StrList(ad_rights_names(*m));
    }
    case Compare::kDnsValues: {
      std::vector<std::string> out;
      for (const auto& s : v.strings()) out.push_back(canonical_rdata(s));
      return sorted_strings(out);
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

// ---- derived attributes ----

void derive_computed(const TypeSpec& t, AttrMap& a) {
  auto str = [&](const char* k) -> std::string {
    auto it = a.find(k);
    return it == a.end() || it->second.is_null() ? std::string() : it->second.text();
  };
  if (t.attr("dn") && t.attr("path")) {
    std::string rdn = t.name == "ou" ? "OU=" : "CN=";
    std::string cn = str("cn").empty() ? str("name") : str("cn");
    a["dn"] = Value::Str(rdn + cn + "," + str("path"));
  }
  if (t.name == "dns_record") {
    std::string zone = str("zone"), type = lower(str("type"));
    std::string fqdn = absolute_dns_name(str("name"), zone);
    a["name"] = Value::Str(fqdn);  // one spelling of the owner name: absolute
    if (type == "a" || type == "aaaa") a["address_of"] = Value::Str(fqdn);
    // Absolute targets, so that "exch1" and "exch1.local." compare equal.
    size_t target_field = type == "mx" ? 1 : type == "srv" ? 3 : 0;
    bool has_target =
        type == "mx" || type == "srv" || type == "cname" || type == "ns" || type == "ptr";
    if (has_target) {
      std::vector<Value> values, targets;
      auto vit = a.find("values");
      if (vit != a.end()) {
        for (const auto& s : vit->second.strings()) {
          auto f = split_ws(s);
          if (f.size() > target_field) {
            f[target_field] = absolute_dns_name(f[target_field], zone);
            targets.push_back(Value::Str(f[target_field]));
          }
          std::string joined;
          for (const auto& x : f) joined += (joined.empty() ? "" : " ") + x;
          values.push_back(Value::Str(joined));
        }
        a["values"] = Value::List(std::move(values));
      }
      a["targets"] = Value::List(std::move(targets));
    }
  }
  if (t.name == "migration_path") {
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
