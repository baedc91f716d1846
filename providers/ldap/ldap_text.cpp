#include "providers/ldap/ldap_text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "engine/api/names.h"

namespace converge::ldap {
namespace {

bool is_space(char c) { return c == ' '; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hex_escape(unsigned char c) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "\\%02x", c);
  return buf;
}

// Splits `s` at unescaped occurrences of any of `seps`, keeping escapes intact. Quoted strings
// (RFC 2253 '"...") are honoured so that separators inside them do not split.
std::vector<std::string_view> split_unescaped(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && seps.find(c) != std::string_view::npos) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

std::string_view trim_spaces(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  // A trailing space is significant when escaped ("a\ ").
  while (e > b && is_space(s[e - 1]) && !(e >= 2 && s[e - 2] == '\\')) --e;
  return s.substr(b, e - b);
}

Result<std::string> unescape_value(std::string_view dn, std::string_view v) {
  std::string out;
  auto bad = [&](const std::string& why) {
    return Error::Invalid(
        "invalid DN '" + std::string(dn) + "': " + why,
        "write RDNs like CN=name,OU=unit,DC=example,DC=com; escape , + \" \\ < > ; "
        "with a backslash");
  };
  bool quoted = v.size() >= 2 && v.front() == '"' && v.back() == '"';
  if (quoted) v = v.substr(1, v.size() - 2);
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c != '\\') {
      if (!quoted && (c == '"' || c == '<' || c == '>' || c == ';'))
        return bad(std::string("unescaped '") + c + "' in a value");
      out += c;
      continue;
    }
    if (i + 1 >= v.size()) return bad("dangling backslash");
    int h1 = hex_value(v[i + 1]);
    if (h1 >= 0 && i + 2 < v.size() && hex_value(v[i + 2]) >= 0) {
      out += static_cast<char>(h1 * 16 + hex_value(v[i + 2]));
      i += 2;
      continue;
    }
    char n = v[i + 1];
    if (std::string_view(",+\"\\<>;= #").find(n) == std::string_view::npos)
      return bad(std::string("bad escape '\\") + n + "'");
    out += n;
    ++i;
  }
  return out;
}

}  // namespace

// ---- distinguished names ------------------------------------------------------------------------

Result<std::vector<Rdn>> parse_dn(std::string_view dn) {
  std::vector<Rdn> out;
  std::string_view whole = trim_spaces(dn);
  if (whole.empty()) return out;
  auto bad = [&](const std::string& why) {
    return Error::Invalid("invalid DN '" + std::string(dn) + "': " + why,
                          "write RDNs like CN=name,OU=unit,DC=example,DC=com");
  };
  for (std::string_view rdn_text : split_unescaped(whole, ",")) {
    Rdn rdn;
    for (std::string_view ava_text : split_unescaped(rdn_text, "+")) {
      ava_text = trim_spaces(ava_text);
      if (ava_text.empty()) return bad("empty RDN");
      size_t eq = ava_text.find('=');
      if (eq == std::string_view::npos) return bad("'" + std::string(ava_text) + "' has no '='");
      std::string_view type = trim_spaces(ava_text.substr(0, eq));
      if (type.empty()) return bad("empty attribute type in '" + std::string(ava_text) + "'");
      for (char c : type)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
          return bad("bad attribute type '" + std::string(type) + "'");
      std::string_view raw = trim_spaces(ava_text.substr(eq + 1));
      if (raw.empty()) return bad("empty value for " + std::string(type));
      auto value = unescape_value(dn, raw);
      if (!value.ok()) return value.error();
      rdn.push_back({std::string(type), std::move(*value)});
    }
    out.push_back(std::move(rdn));
  }
  return out;
}

// The engine's derived dn spells RDN values the same way: one implementation (engine/api/names.h).
std::string escape_dn_value(std::string_view value) { return escape_rdn_value(value); }

std::string dn_key(std::string_view dn) {
  auto parsed = parse_dn(dn);
  if (!parsed.ok()) return lower(trim_spaces(dn));
  std::string out;
  for (const auto& rdn : *parsed) {
    if (!out.empty()) out += ',';
    // AVAs of a multi-valued RDN in a fixed order.
    std::vector<std::string> avas;
    for (const auto& a : rdn) avas.push_back(lower(a.type) + "=" + escape_dn_value(lower(a.value)));
    std::sort(avas.begin(), avas.end());
    for (size_t i = 0; i < avas.size(); ++i) out += (i ? "+" : "") + avas[i];
  }
  return out;
}

bool same_dn(std::string_view a, std::string_view b) { return dn_key(a) == dn_key(b); }

std::string parent_dn(std::string_view dn) {
  auto parts = split_unescaped(trim_spaces(dn), ",");
  if (parts.size() <= 1) return "";
  size_t offset = static_cast<size_t>(parts[1].data() - dn.data());
  return std::string(trim_spaces(dn.substr(offset)));
}

std::string first_rdn_value(std::string_view dn) {
  auto parsed = parse_dn(dn);
  if (!parsed.ok() || parsed->empty() || parsed->front().empty()) return "";
  return parsed->front().front().value;
}

bool dn_within(std::string_view dn, std::string_view base) {
  std::string d = dn_key(dn), b = dn_key(base);
  if (b.empty()) return true;
  if (d == b) return true;
  return d.size() > b.size() && d.compare(d.size() - b.size(), b.size(), b) == 0 &&
         d[d.size() - b.size() - 1] == ',';
}

std::string child_dn(std::string_view rdn_type, std::string_view name, std::string_view parent) {
  std::string out(rdn_type);
  out += '=';
  out += escape_dn_value(name);
  if (!parent.empty()) {
    out += ',';
    out += parent;
  }
  return out;
}

// ---- filters
// --------------------------------------------------------------------------------------

std::string escape_filter(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0')
      out += hex_escape(static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}

std::string escape_filter_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char c : bytes) out += hex_escape(static_cast<unsigned char>(c));
  return out;
}

std::vector<std::string> or_filters(std::string_view base_clause, std::string_view attr,
                                    const std::vector<std::string>& escaped_values, size_t chunk) {
  std::vector<std::string> out;
  if (chunk == 0) chunk = 1;
  for (size_t i = 0; i < escaped_values.size(); i += chunk) {
    size_t end = std::min(escaped_values.size(), i + chunk);
    std::string terms;
    for (size_t k = i; k < end; ++k)
      terms += "(" + std::string(attr) + "=" + escaped_values[k] + ")";
    std::string any = end - i == 1 ? terms : "(|" + terms + ")";
    out.push_back(base_clause.empty() ? any : "(&" + std::string(base_clause) + any + ")");
  }
  return out;
}

// ---- passwords
// ------------------------------------------------------------------------------------

Result<std::string> unicode_pwd(std::string_view pw) {
  std::string out;
  out.reserve((pw.size() + 2) * 2);
  auto put = [&](uint32_t unit) {
    out += static_cast<char>(unit & 0xff);
    out += static_cast<char>((unit >> 8) & 0xff);
  };
  auto bad = [] {
    return Error::Invalid("the password is not valid UTF-8", "store the password as UTF-8 text");
  };
  put('"');
  for (size_t i = 0; i < pw.size();) {
    auto b0 = static_cast<unsigned char>(pw[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (b0 < 0x80) {
      cp = b0;
      n = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1F;
      n = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0F;
      n = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07;
      n = 4;
    } else {
      return bad();
    }
    if (i + n > pw.size()) return bad();
    for (size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(pw[i + k]);
      if ((b & 0xC0) != 0x80) return bad();
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad();
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put(0xD800 + (cp >> 10));
      put(0xDC00 + (cp & 0x3FF));
    } else {
      put(cp);
    }
    i += n;
  }
  put('"');
  return out;
}

// ---- ranged retrieval
// -----------------------------------------------------------------------------

RangeOption parse_range(std::string_view description) {
  RangeOption r;
  auto parts = split_unescaped(description, ";");
  r.attr = std::string(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string opt = lower(parts[i]);
    if (opt.rfind("range=", 0) != 0) continue;
    std::string spec = opt.substr(6);
    size_t dash = spec.find('-');
    if (dash == std::string::npos) continue;
    try {
      r.low = std::stoull(spec.substr(0, dash));
      std::string hi = spec.substr(dash + 1);
      if (hi == "*")
        r.high.reset();
      else
        r.high = std::stoull(hi);
      r.ranged = true;
    } catch (const std::exception&) {
      r.ranged = false;
    }
  }
  return r;
}

std::string range_request(std::string_view attr, uint64_t low, uint64_t count) {
  return std::string(attr) + ";range=" + std::to_string(low) + "-" +
         std::to_string(low + (count ? count : 1) - 1);
}

// ---- group types and account control
// --------------------------------------------------------------

Result<int32_t> group_type(std::string_view scope, std::string_view category) {
  uint32_t t = 0;
  std::string s = lower(scope), c = lower(category);
  if (s == "global")
    t = kGroupGlobal;
  else if (s == "domain_local")
    t = kGroupDomainLocal;
  else if (s == "universal")
    t = kGroupUniversal;
  else
    return Error::Invalid("unknown group scope '" + std::string(scope) + "'",
                          "global, domain_local or universal");
  if (c == "security")
    t |= kGroupSecurity;
  else if (c != "distribution")
    return Error::Invalid("unknown group category '" + std::string(category) + "'",
                          "security or distribution");
  return static_cast<int32_t>(t);
}

std::string group_scope(int32_t group_type) {
  auto t = static_cast<uint32_t>(group_type);
  if (t & kGroupUniversal) return "universal";
  if (t & kGroupDomainLocal) return "domain_local";
  if (t & kGroupGlobal) return "global";
  return "";
}

std::string group_category(int32_t group_type) {
  return (static_cast<uint32_t>(group_type) & kGroupSecurity) ? "security" : "distribution";
}

uint32_t account_control(uint32_t current, bool enabled, bool password_never_expires) {
  uint32_t u = current == 0 ? kUacNormalAccount : current;
  u = enabled ? (u & ~kUacAccountDisable) : (u | kUacAccountDisable);
  u = password_never_expires ? (u | kUacDontExpirePassword) : (u & ~kUacDontExpirePassword);
  return u;
}

// ---- principals and rights
// ------------------------------------------------------------------------

std::string strip_domain(std::string_view principal) {
  size_t bs = principal.rfind('\\');
  if (bs != std::string_view::npos) return std::string(principal.substr(bs + 1));
  size_t at = principal.rfind('@');
  if (at != std::string_view::npos && at > 0) return std::string(principal.substr(0, at));
  return std::string(principal);
}

std::string domain_of(std::string_view principal) {
  size_t bs = principal.rfind('\\');
  if (bs != std::string_view::npos) return std::string(principal.substr(0, bs));
  size_t at = principal.rfind('@');
  if (at != std::string_view::npos && at > 0) return std::string(principal.substr(at + 1));
  return "";
}

std::optional<std::string> foreign_principal(std::string_view principal, std::string_view netbios,
                                             std::string_view dns_domain) {
  std::string d = lower(domain_of(principal));
  if (d.empty() && principal.find('\\') == std::string_view::npos) return std::nullopt;
  if (d == "builtin" || d == "nt authority") return std::nullopt;
  if (!d.empty() && (d == lower(netbios) || d == lower(dns_domain))) return std::nullopt;
  std::string ours = std::string(netbios);
  if (!dns_domain.empty()) ours += (ours.empty() ? "" : " / ") + std::string(dns_domain);
  return "principal '" + std::string(principal) + "' names the domain '" + domain_of(principal) +
         "', not the target domain" + (ours.empty() ? std::string() : " (" + ours + ")") +
         ": converge would resolve it to the target's account of the same name";
}

std::string dns_domain_of(std::string_view domain_dn) {
  auto rdns = parse_dn(domain_dn);
  if (!rdns.ok()) return "";
  std::string out;
  for (const auto& rdn : *rdns)
    for (const auto& ava : rdn)
      if (lower(ava.type) == "dc") out += (out.empty() ? "" : ".") + lower(ava.value);
  return out;
}

bool is_secret_attribute(std::string_view name) {
  static const char* const kSecret[] = {"unicodepwd",
                                        "dbcspwd",
                                        "ntpwdhistory",
                                        "lmpwdhistory",
                                        "supplementalcredentials",
                                        "userpassword",
                                        "clearTextPassword",
                                        "unixuserpassword",
                                        "mssfu30password",
                                        "ms-mcs-admpwd",
                                        "ms-laps-password",
                                        "ms-laps-encryptedpassword",
                                        "ms-laps-encryptedpasswordhistory",
                                        "ms-laps-encrypteddsrmpassword",
                                        "ms-laps-encrypteddsrmpasswordhistory",
                                        "msfve-recoverypassword",
                                        "msfve-keypackage",
                                        "msds-managedpassword",
                                        "trustauthincoming",
                                        "trustauthoutgoing",
                                        "initialauthincoming",
                                        "initialauthoutgoing",
                                        "currentvalue",
                                        "priorvalue",
                                        "mspkiaccountcredentials",
                                        "mspki-credentialroamingtokens",
                                        "mspkidpapimasterkeys",
                                        "mstpm-ownerinformation"};
  std::string n = lower(name.substr(0, name.find(';')));
  for (const char* s : kSecret)
    if (n == lower(s)) return true;
  return false;
}

std::optional<std::string> well_known_sid(std::string_view name) {
  static const std::pair<const char*, const char*> kWellKnown[] = {
      {"everyone", "S-1-1-0"},
      {"world", "S-1-1-0"},
      {"creator owner", "S-1-3-0"},
      {"creator group", "S-1-3-1"},
      {"network", "S-1-5-2"},
      {"batch", "S-1-5-3"},
      {"interactive", "S-1-5-4"},
      {"service", "S-1-5-6"},
      {"anonymous logon", "S-1-5-7"},
      {"anonymous", "S-1-5-7"},
      {"enterprise domain controllers", "S-1-5-9"},
      {"self", "S-1-5-10"},
      {"principal self", "S-1-5-10"},
      {"authenticated users", "S-1-5-11"},
      {"system", "S-1-5-18"},
      {"local system", "S-1-5-18"},
      {"local service", "S-1-5-19"},
      {"network service", "S-1-5-20"},
  };
  std::string n = lower(strip_domain(name));
  for (const auto& [k, sid] : kWellKnown)
    if (n == k) return std::string(sid);
  return std::nullopt;
}

bool looks_like_sid(std::string_view s) {
  return s.size() > 4 && (s[0] == 'S' || s[0] == 's') && s[1] == '-' && s[2] == '1' && s[3] == '-';
}

std::string object_type_key(std::string_view name) {
  std::string out;
  for (char c : lower(name)) {
    char d = (c == '-' || c == '_') ? ' ' : c;
    if (d == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += d;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> object_type_variants(std::string_view name) {
  std::vector<std::string> out{std::string(name)};
  std::string dashes(name), spaces(name);
  std::replace(dashes.begin(), dashes.end(), ' ', '-');
  std::replace(spaces.begin(), spaces.end(), '-', ' ');
  for (auto* v : {&dashes, &spaces})
    if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
  return out;
}

std::optional<std::string> fallback_right_guid(std::string_view name) {
  static const std::pair<const char*, const char*> kRights[] = {
      {"send as", "ab721a54-1e2f-11d0-9819-00aa0040529b"},
      {"receive as", "ab721a56-1e2f-11d0-9819-00aa0040529b"},
      {"modify public folder replica list", "d0780592-afe6-11d2-aa04-00c04f8eedd8"},
      {"modify public folder deleted item retention", "cffe6da4-afe6-11d2-aa04-00c04f8eedd8"},
      {"modify public folder quotas", "d03a086e-afe6-11d2-aa04-00c04f8eedd8"},
  };
  std::string k = object_type_key(name);
  for (const auto& [n, g] : kRights)
    if (k == n) return std::string(g);
  return std::nullopt;
}

}  // namespace converge::ldap
