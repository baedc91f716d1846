// The name helpers of engine/api/names.h. Bytes are compared by the C locale's ASCII rules (the
// engine never changes the locale): only 'A'..'Z' fold, bytes >= 0x80 stay as they are.
#include "engine/api/names.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace converge {
namespace {

char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool space_char(char c) { return std::isspace(static_cast<unsigned char>(c)); }

std::string_view trim_view(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && space_char(s[b])) ++b;
  while (e > b && space_char(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// The end of a canonical DNS name written at out[base..]: exactly one trailing dot.
void finish_dns_name(std::string& out, size_t base) {
  while (out.size() - base > 1 && out.back() == '.' && out[out.size() - 2] == '.') out.pop_back();
  if (out.size() == base || out.back() != '.') out += '.';
}

}  // namespace

void append_lower(std::string& out, std::string_view s) {
  for (char c : s) out += lower_char(c);
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_lower(out, s);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower_char(x) == lower_char(y);
         });
}

std::string trim(std::string_view s) { return std::string(trim_view(s)); }

void append_canonical_dn(std::string& out, std::string_view dn) {
  // Lower-cased; spaces around unescaped ',' and '=' dropped; escapes kept as written.
  const size_t base = out.size();
  auto drop_trailing_spaces = [&] {
    while (out.size() > base && out.back() == ' ' &&
           !(out.size() - base >= 2 && out[out.size() - 2] == '\\'))
      out.pop_back();
  };
  size_t i = 0;
  while (i < dn.size() && dn[i] == ' ') ++i;
  while (i < dn.size()) {
    char c = dn[i];
    if (c == '\\' && i + 1 < dn.size()) {
      out += c;
      out += dn[i + 1];
      i += 2;
    } else if (c == ',' || c == '=') {
      drop_trailing_spaces();
      out += c;
      ++i;
      while (i < dn.size() && dn[i] == ' ') ++i;
    } else {
      out += lower_char(c);
      ++i;
    }
  }
  drop_trailing_spaces();
}

std::string canonical_dn(std::string_view dn) {
  std::string out;
  append_canonical_dn(out, dn);
  return out;
}

std::string escape_rdn_value(std::string_view value) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    bool edge_space = c == ' ' && (i == 0 || i + 1 == value.size());
    if (c == '\0' || c == '\n' || c == '\r') {
      auto u = static_cast<unsigned char>(c);
      out += '\\';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else if (edge_space || (c == '#' && i == 0) ||
               std::string_view(",+\"\\<>;=").find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
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
  if (n == "@" || n.empty()) return append_canonical_dns_name(out, zone);
  if (n.back() == '.') return append_canonical_dns_name(out, n);
  // canonical_dns_name(n + "." + canonical_dns_name(zone)): only the trailing dots need
  // collapsing again (a root zone gives "..").
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

}  // namespace converge
