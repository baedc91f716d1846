#include "providers/dns/dns_values.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace converge::dns {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// ldns hands out malloc'ed strings.
std::string take(char* s) {
  if (!s) return {};
  std::string out(s);
  std::free(s);
  return out;
}

// ASCII classification and case, as <cctype> has them in the "C" locale (converge never calls
// setlocale), without the locale lookup.
bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c; }

// "|" and the mnemonic of the types a zone mostly holds, as ldns names them (no allocation); empty
// for the others.
std::string_view common_type_key(ldns_rr_type t) {
  switch (t) {
    case LDNS_RR_TYPE_A:
      return "|A";
    case LDNS_RR_TYPE_NS:
      return "|NS";
    case LDNS_RR_TYPE_CNAME:
      return "|CNAME";
    case LDNS_RR_TYPE_SOA:
      return "|SOA";
    case LDNS_RR_TYPE_PTR:
      return "|PTR";
    case LDNS_RR_TYPE_MX:
      return "|MX";
    case LDNS_RR_TYPE_TXT:
      return "|TXT";
    case LDNS_RR_TYPE_AAAA:
      return "|AAAA";
    case LDNS_RR_TYPE_SRV:
      return "|SRV";
    default:
      return {};
  }
}

// Appends "|" and the type's mnemonic: the second half of an rrset_key().
void put_type_key(std::string& out, ldns_rr_type t) {
  if (std::string_view k = common_type_key(t); !k.empty()) {
    out.append(k.data(), k.size());
  } else {
    out += '|';
    out += type_name(t);
  }
}

// ---- RDATA presentation without ldns_rdf2str ----
//
// ldns_rdf2str prints through ldns_buffer_printf into a fresh 64 KiB buffer, one printf per
// character of a name; an AXFR of a large zone spent most of its time there. The writers below
// print the field types that make up the managed records (and SOA) straight from the rdf bytes,
// byte for byte as ldns 1.8 does (host2str.c); anything else, and any rdf not shaped as ldns's
// own parser makes it, goes to ldns_rdf2str. rdata_text_reference keeps the old conversion, and
// the unit tests and the fuzz target compare the two.

// How ldns_rdf2buffer_str_dname prints each octet of a label: as it is, after a backslash
// (. ; ( ) \), or as \DDD (anything but isascii && isgraph).
enum : uint8_t { kAsIs, kBackslash, kDecimal };
constexpr auto kNameOctet = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = c == '.' || c == ';' || c == '(' || c == ')' || c == '\\' ? kBackslash
           : c < 0x21 || c > 0x7e                                    ? kDecimal
                                                                     : kAsIs;
  return t;
}();
// ldns_dname2canonical: A-Z to lower case, every other octet as it is.
constexpr auto kLowerOctet = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = static_cast<uint8_t>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return t;
}();

char* put_decimal_octet(char* p, unsigned c) {
  *p++ = '\\';
  *p++ = static_cast<char>('0' + c / 100);
  *p++ = static_cast<char>('0' + c / 10 % 10);
  *p++ = static_cast<char>('0' + c % 10);
  return p;
}

// A name in wire form (uncompressed, as an rdf holds it) as ldns_rdf2buffer_str_dname prints it,
// A-Z lower-cased first when `lower` (ldns_dname2canonical). False, with `out` unchanged, unless
// the name is well-formed: labels of at most 63 octets ending in the root label, 255 octets in all.
bool put_dname(std::string& out, const uint8_t* d, size_t size, bool lower) {
  if (size == 0 || size > LDNS_MAX_DOMAINLEN) return false;
  char buf[4 * LDNS_MAX_DOMAINLEN];  // every octet printed as \DDD at worst
  char* p = buf;
  size_t pos = 0;
  for (;;) {
    if (pos >= size) return false;
    size_t len = d[pos++];
    if (len == 0) break;
    if (len > LDNS_MAX_LABELLEN || pos + len >= size) return false;
    // Most labels print as they are: copy, and only if an octet needs escaping print again.
    uint8_t special = 0;
    char* label = p;
    const uint8_t* q = d + pos;
    if (lower) {
      for (size_t i = 0; i < len; ++i) {
        uint8_t c = kLowerOctet[q[i]];
        special |= kNameOctet[c];
        p[i] = static_cast<char>(c);
      }
    } else {
      for (size_t i = 0; i < len; ++i) {
        special |= kNameOctet[q[i]];
        p[i] = static_cast<char>(q[i]);
      }
    }
    p += len;
    if (special) p = label;
    for (const uint8_t *q = d + pos, *e = special ? q + len : q; q != e; ++q) {
      uint8_t c = lower ? kLowerOctet[*q] : *q;
      switch (kNameOctet[c]) {
        case kAsIs:
          *p++ = static_cast<char>(c);
          break;
        case kBackslash:
          *p++ = '\\';
          *p++ = static_cast<char>(c);
          break;
        default:
          p = put_decimal_octet(p, c);
      }
    }
    pos += len;
    *p++ = '.';
  }
  if (pos != size) return false;
  if (p == buf) *p++ = '.';  // the root
  out.append(buf, p);
  return true;
}

// A <character-string> as ldns_rdf2buffer_str_str prints it: quoted, '"' and '\' escaped with a
// backslash, tab and the printable ASCII characters as they are, every other octet as \DDD.
bool put_character_string(std::string& out, const uint8_t* d, size_t size) {
  if (size == 0 || size != d[0] + 1u) return false;
  char buf[2 + 4 * 255];
  char* p = buf;
  *p++ = '"';
  for (size_t i = 1; i < size; ++i) {
    unsigned char c = d[i];
    if ((c >= 0x20 && c <= 0x7e) || c == '\t') {  // isprint((int)(char)c) || c == '\t'
      if (c == '"' || c == '\\') *p++ = '\\';
      *p++ = static_cast<char>(c);
    } else {
      *p++ = '\\';
      *p++ = static_cast<char>('0' + c / 100);
      *p++ = static_cast<char>('0' + c / 10 % 10);
      *p++ = static_cast<char>('0' + c % 10);
    }
  }
  *p++ = '"';
  out.append(buf, p);
  return true;
}

// Appends `n` in decimal.
void put_uint(std::string& out, uint32_t n) {
  char buf[10];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
}

// Appends one field the fast way; false (nothing appended) when ldns must print it.
bool put_rdf(std::string& out, const ldns_rdf* f, bool lower) {
  const uint8_t* d = ldns_rdf_data(f);
  size_t size = ldns_rdf_size(f);
  if (!d) return false;
  switch (ldns_rdf_get_type(f)) {
    case LDNS_RDF_TYPE_DNAME:
      return put_dname(out, d, size, lower);
    case LDNS_RDF_TYPE_A: {
      if (size != 4) return false;
      char buf[16];
      char* p = std::to_chars(buf, buf + 3, d[0]).ptr;
      for (int i = 1; i < 4; ++i) {
        *p++ = '.';
        p = std::to_chars(p, p + 3, d[i]).ptr;
      }
      out.append(buf, p);
      return true;
    }
    case LDNS_RDF_TYPE_AAAA: {
      if (size != 16) return false;
      char buf[INET6_ADDRSTRLEN];
      if (!inet_ntop(AF_INET6, d, buf, sizeof buf)) return false;
      out += buf;
      return true;
    }
    case LDNS_RDF_TYPE_INT8:
      if (size != 1) return false;
      put_uint(out, d[0]);
      return true;
    case LDNS_RDF_TYPE_INT16:
      if (size != 2) return false;
      put_uint(out, static_cast<uint32_t>(d[0]) << 8 | d[1]);
      return true;
    case LDNS_RDF_TYPE_INT32:
    case LDNS_RDF_TYPE_PERIOD:
      if (size != 4) return false;
      put_uint(out, static_cast<uint32_t>(d[0]) << 24 | static_cast<uint32_t>(d[1]) << 16 |
                        static_cast<uint32_t>(d[2]) << 8 | d[3]);
      return true;
    case LDNS_RDF_TYPE_STR:
      return put_character_string(out, d, size);
    default:
      return false;
  }
}

// ldns_rdf2str of one field, DNAMEs lower-cased first when `lower` (the reference conversion).
std::string rdf2str(const ldns_rdf* f, bool lower) {
  if (lower && ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME) {
    RdfPtr lowered(ldns_rdf_clone(f));
    if (!lowered) return {};
    ldns_dname2canonical(lowered.get());
    return take(ldns_rdf2str(lowered.get()));
  }
  return take(ldns_rdf2str(f));
}

// Appends rdata_text(rr) to `out`, whose text from `start` on is the value so far.
void put_rdata(std::string& out, size_t start, const ldns_rr* rr) {
  for (size_t i = 0, n = ldns_rr_rd_count(rr); i < n; ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (!f) continue;
    if (out.size() > start) out += ' ';
    if (!put_rdf(out, f, true)) out += rdf2str(f, true);
  }
}

// The canonical owner name, as canonical_name(ldns_rdf2str(owner)) gives it.
void put_owner(std::string& out, const ldns_rr* rr) {
  size_t start = out.size();
  const ldns_rdf* o = ldns_rr_owner(rr);
  if (!put_dname(out, ldns_rdf_data(o), ldns_rdf_size(o), true)) {
    out += canonical_name(take(ldns_rdf2str(o)));
    return;
  }
  // canonical_name's trailing-dot rule: a last label ending in an escaped dot ("a\\..") loses
  // the root dot. No blank can occur (put_dname escapes them), so nothing to trim.
  while (out.size() > start + 1 && out.back() == '.' && out[out.size() - 2] == '.') out.pop_back();
}

// ---- BIND key file tokens ----

struct Token {
  enum Kind { kWord, kString, kPunct, kEnd } kind = kEnd;
  std::string text;
  int line = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Result<Token> next() {
    for (;;) {
      while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) {
        if (s_[i_] == '\n') ++line_;
        ++i_;
      }
      if (i_ >= s_.size()) return Token{Token::kEnd, "", line_};
      char c = s_[i_];
      if (c == '#' || (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/')) {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        int start = line_;
        i_ += 2;
        while (i_ + 1 < s_.size() && !(s_[i_] == '*' && s_[i_ + 1] == '/')) {
          if (s_[i_] == '\n') ++line_;
          ++i_;
        }
        if (i_ + 1 >= s_.size())
          return Error::Invalid("line " + std::to_string(start) + ": unterminated /* comment");
        i_ += 2;
        continue;
      }
      break;
    }
    char c = s_[i_];
    if (c == '{' || c == '}' || c == ';') {
      ++i_;
      return Token{Token::kPunct, std::string(1, c), line_};
    }
    if (c == '"') {
      int start = line_;
      std::string text;
      ++i_;
      while (i_ < s_.size() && s_[i_] != '"') {
        if (s_[i_] == '\n') ++line_;
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        text += s_[i_++];
      }
      if (i_ >= s_.size())
        return Error::Invalid("line " + std::to_string(start) + ": unterminated quoted string");
      ++i_;
      return Token{Token::kString, std::move(text), start};
    }
    std::string text;
    while (i_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[i_])) && s_[i_] != '{' &&
           s_[i_] != '}' && s_[i_] != ';' && s_[i_] != '"')
      text += s_[i_++];
    return Token{Token::kWord, std::move(text), line_};
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  int line_ = 1;
};

std::string at_line(const Token& t) { return "line " + std::to_string(t.line) + ": "; }

// Describes a token for an error message. Never used on a secret's value.
std::string describe(const Token& t) {
  switch (t.kind) {
    case Token::kEnd:
      return "end of file";
    case Token::kPunct:
      return "'" + t.text + "'";
    case Token::kString:
      return "a quoted string";
    case Token::kWord:
      return "'" + (t.text.size() > 40 ? t.text.substr(0, 40) + "..." : t.text) + "'";
  }
  return "?";
}

}  // namespace

// ---- settings ----

Result<std::vector<TsigKey>> parse_bind_keys(std::string_view text) {
  Lexer lx(text);
  std::vector<TsigKey> keys;
  auto expect_punct = [&](const char* p) -> Status {
    auto t = lx.next();
    if (!t.ok()) return t.error();
    if (t->kind != Token::kPunct || t->text != p)
      return Error::Invalid(at_line(*t) + "expected '" + p + "', found " + describe(*t));
    return {};
  };
  for (;;) {
    auto t = lx.next();
    if (!t.ok()) return t.error();
    if (t->kind == Token::kEnd) break;
    if (t->kind != Token::kWord || lower(t->text) != "key")
      return Error::Invalid(at_line(*t) + "expected 'key', found " + describe(*t),
                            "the file must hold key \"name\" { algorithm ...; secret \"...\"; }; "
                            "as tsig-keygen writes it");
    auto name = lx.next();
    if (!name.ok()) return name.error();
    if (name->kind != Token::kString && name->kind != Token::kWord)
      return Error::Invalid(at_line(*name) + "expected the key name, found " + describe(*name));
    TsigKey key;
    key.name = name->text;
    int key_line = name->line;
    CONVERGE_TRY(expect_punct("{"));
    for (;;) {
      auto st = lx.next();
      if (!st.ok()) return st.error();
      if (st->kind == Token::kPunct && st->text == "}") break;
      if (st->kind != Token::kWord)
        return Error::Invalid(at_line(*st) + "expected 'algorithm' or 'secret' in key \"" +
                              key.name + "\", found " + describe(*st));
      std::string what = lower(st->text);
      auto val = lx.next();
      if (!val.ok()) return val.error();
      if (val->kind != Token::kWord && val->kind != Token::kString)
        return Error::Invalid(at_line(*val) + "expected a value for '" + what + "' in key \"" +
                              key.name + "\", found " + describe(*val));
      if (what == "algorithm") {
        key.algorithm = val->text;
      } else if (what == "secret") {
        key.secret = val->text;
      } else {
        return Error::Invalid(
            at_line(*st) + "unknown statement '" + st->text + "' in key \"" + key.name + "\"",
            "a key holds only algorithm and secret");
      }
      CONVERGE_TRY(expect_punct(";"));
    }
    CONVERGE_TRY(expect_punct(";"));
    if (key.name.empty())
      return Error::Invalid("line " + std::to_string(key_line) + ": empty key name");
    if (key.algorithm.empty())
      return Error::Invalid("line " + std::to_string(key_line) + ": key \"" + key.name +
                            "\" has no algorithm");
    if (key.secret.empty())
      return Error::Invalid("line " + std::to_string(key_line) + ": key \"" + key.name +
                            "\" has no secret");
    auto alg = canonical_algorithm(key.algorithm);
    if (!alg.ok())
      return Error::Invalid(
          "line " + std::to_string(key_line) + ": key \"" + key.name + "\": " + alg.error().message,
          alg.error().hint);
    key.algorithm = *alg;
    if (!valid_base64(key.secret))
      return Error::Invalid("line " + std::to_string(key_line) + ": the secret of key \"" +
                            key.name + "\" is not valid base64");
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return Error::Invalid("no key in the file", "generate one with tsig-keygen");
  return keys;
}

Result<std::string> canonical_algorithm(std::string_view name) {
  std::string n = lower(trim(name));
  while (!n.empty() && n.back() == '.') n.pop_back();
  // What ldns 1.8 can sign with (its hmac-sha224 and hmac-sha384 are not usable).
  if (n == "hmac-md5" || n == "hmac-md5.sig-alg.reg.int")
    return std::string("hmac-md5.sig-alg.reg.int.");
  if (n == "hmac-sha1" || n == "hmac-sha256" || n == "hmac-sha512") return n + ".";
  return Error::Invalid("unsupported TSIG algorithm '" + std::string(name) + "'",
                        "use hmac-sha256 (or hmac-sha512, hmac-sha1, hmac-md5)");
}

bool valid_base64(std::string_view s) {
  if (s.empty() || s.size() > 4096) return false;
  size_t pad = 0, n = 0;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') {
      ++pad;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/') {
      if (pad) return false;
    } else {
      return false;
    }
    ++n;
  }
  if (n == 0 || n % 4 != 0 || pad > 2) return false;
  ldns_rdf* raw = nullptr;
  std::string copy(s);
  bool ok = ldns_str2rdf_b64(&raw, copy.c_str()) == LDNS_STATUS_OK && raw;
  RdfPtr rdf(raw);
  return ok;
}

std::string ServerAddress::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ServerAddress> parse_server(std::string_view text) {
  std::string s = trim(text);
  auto bad = [&](const std::string& why) {
    return Error::Invalid("server '" + s + "' " + why,
                          "write host:port, e.g. 127.0.0.1:53530 or [::1]:53");
  };
  if (s.empty()) return bad("is empty");
  ServerAddress a;
  std::string port;
  if (s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) return bad("has an unclosed '['");
    a.host = s.substr(1, close - 1);
    std::string rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("has text after ']'");
      port = rest.substr(1);
      if (port.empty()) return bad("has an empty port");
    }
  } else if (std::count(s.begin(), s.end(), ':') > 1) {
    a.host = s;  // bare IPv6 address
  } else if (auto colon = s.find(':'); colon != std::string::npos) {
    a.host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return bad("has an empty port");
  } else {
    a.host = s;
  }
  if (a.host.empty()) return bad("has no host");
  for (char c : a.host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@')
      return bad("is not a host");
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("has a bad port");
    long p = std::stol(port);
    if (p < 1 || p > 65535) return bad("has a port out of range");
    a.port = static_cast<uint16_t>(p);
  }
  return a;
}

// ---- names and types ----

std::string canonical_name(std::string_view name) {
  std::string n;
  assign_canonical_name(n, name);
  return n;
}

void assign_canonical_name(std::string& n, std::string_view name) {
  // One pass, no allocation beyond `n`'s: this runs for every desired name. Lower-casing is
  // ASCII only, as std::tolower in the "C" locale converge runs in.
  size_t b = 0, e = name.size();
  while (b < e && ascii_space(name[b])) ++b;
  while (e > b && ascii_space(name[e - 1])) --e;
  n.assign(name.data() + b, e - b);
  // A-Z to a-z eight octets at a time: a high bit marks each ASCII octet from 'A' to 'Z'.
  constexpr uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
  size_t i = 0;
  for (; i + 8 <= n.size(); i += 8) {
    uint64_t x;
    std::memcpy(&x, n.data() + i, 8);
    uint64_t low7 = x & ~kHigh;
    uint64_t upper =
        (low7 + (0x80 - 'A') * kOnes) & ~(low7 + (0x80 - 'Z' - 1) * kOnes) & ~x & kHigh;
    x |= upper >> 2;  // 0x80 >> 2 is the case bit
    std::memcpy(n.data() + i, &x, 8);
  }
  for (; i < n.size(); ++i)
    if (static_cast<unsigned char>(n[i] - 'A') < 26u) n[i] = static_cast<char>(n[i] + ('a' - 'A'));
  while (n.size() > 1 && n.back() == '.' && n[n.size() - 2] == '.') n.pop_back();
  if (n.empty() || n.back() != '.') n += '.';
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (zone == ".") return true;
  if (name == zone) return true;
  return name.size() > zone.size() && name.ends_with(zone) &&
         name[name.size() - zone.size() - 1] == '.';
}

std::string type_name(ldns_rr_type t) {
  if (std::string_view known = common_type_key(t); !known.empty())
    return std::string(known.substr(1));
  std::string s = take(ldns_rr_type2str(t));
  return s.empty() ? "TYPE" + std::to_string(static_cast<int>(t)) : s;
}

bool managed_type(std::string_view type) {
  static constexpr std::string_view kTypes[] = {"A",   "AAAA", "CNAME", "MX",
                                                "TXT", "SRV",  "PTR",   "NS"};
  return std::any_of(std::begin(kTypes), std::end(kTypes), [&](std::string_view t) {
    if (t.size() != type.size()) return false;
    for (size_t i = 0; i < t.size(); ++i)
      if (ascii_upper(type[i]) != t[i]) return false;
    return true;
  });
}

// ---- observed data ----

std::string rdata_text(const ldns_rr* rr) {
  thread_local std::string buf;  // keeps its capacity: one exact allocation per value, at most
  buf.clear();
  put_rdata(buf, 0, rr);
  return buf;
}

std::string rdata_text_reference(const ldns_rr* rr) {
  std::string out;
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (!f) continue;
    RdfPtr lowered;
    if (ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME) {
      lowered.reset(ldns_rdf_clone(f));
      if (!lowered) continue;
      ldns_dname2canonical(lowered.get());
      f = lowered.get();
    }
    std::string s = take(ldns_rdf2str(f));
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

std::string rdf_text(const ldns_rdf* f, bool lower) {
  if (!f) return {};
  std::string out;
  if (!put_rdf(out, f, lower)) out = rdf2str(f, lower);
  return out;
}

std::string rdf_text_reference(const ldns_rdf* f, bool lower) {
  return f ? rdf2str(f, lower) : std::string();
}

std::string owner_name(const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return {};
  std::string out;
  put_owner(out, rr);
  return out;
}

std::string owner_name_reference(const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return {};
  return canonical_name(take(ldns_rdf2str(ldns_rr_owner(rr))));
}

std::string rrset_key(std::string_view owner, std::string_view type) {
  std::string key = canonical_name(owner);
  key += '|';
  for (char c : type) key += ascii_upper(c);
  return key;
}

void add_record(ZoneRRsets& sets, const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return;
  ldns_rr_type t = ldns_rr_get_type(rr);
  if (t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT) return;
  // rrset_key(owner, type), built in a buffer that keeps its capacity: only a new RRset allocates.
  thread_local std::string key;
  key.clear();
  put_owner(key, rr);
  size_t owner_size = key.size();
  put_type_key(key, t);
  uint32_t ttl = ldns_rr_ttl(rr);
  auto it = sets.find(key);
  if (it == sets.end()) {
    it = sets.emplace(key, RRset{}).first;
    RRset& s = it->second;
    s.owner.assign(key, 0, owner_size);
    s.type.assign(key, owner_size + 1);
    s.ttl = ttl;
  } else {
    it->second.ttl = std::min(it->second.ttl, ttl);
  }
  std::vector<std::string>& values = it->second.values;
  std::string v = rdata_text(rr);
  if (values.empty() || values.back() < v) {  // the common case: one value, or values in order
    values.push_back(std::move(v));
    return;
  }
  auto pos = std::lower_bound(values.begin(), values.end(), v);
  if (*pos != v) values.insert(pos, std::move(v));
}

void ZoneIndex::grow() {
  std::vector<size_t> slots(std::max<size_t>(64, slots_.size() * 2), 0);
  size_t mask = slots.size() - 1;
  for (size_t k = 0; k < sets_.size(); ++k) {
    size_t i = sets_[k].hash & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = k + 1;
  }
  slots_.swap(slots);
}

const ZoneIndex::Set* ZoneIndex::find(std::string_view key) const {
  if (slots_.empty()) return nullptr;
  size_t h = std::hash<std::string_view>{}(key);
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask; slots_[i] != 0; i = (i + 1) & mask) {
    const Set& s = sets_[slots_[i] - 1];
    if (s.hash == h && text(s.key, s.key_size) == key) return &s;
  }
  return nullptr;
}

void ZoneIndex::add(const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return;
  ldns_rr_type t = ldns_rr_get_type(rr);
  if (t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT) return;
  // The key goes to the end of the text, and stays there if the RRset is new.
  size_t start = text_.size();
  put_owner(text_, rr);
  size_t owner_size = text_.size() - start;
  put_type_key(text_, t);
  std::string_view key = text(start, text_.size() - start);
  size_t h = std::hash<std::string_view>{}(key);
  if ((sets_.size() + 1) * 2 > slots_.size()) grow();
  size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  Set* set = nullptr;
  for (; slots_[i] != 0; i = (i + 1) & mask) {
    Set& s = sets_[slots_[i] - 1];
    if (s.hash == h && text(s.key, s.key_size) == key) {
      set = &s;
      break;
    }
  }
  uint32_t ttl = ldns_rr_ttl(rr);
  if (set) {
    text_.resize(start);
    set->ttl = std::min(set->ttl, ttl);
  } else {
    Set s;
    s.hash = h;
    s.key = start;
    s.key_size = key.size();
    s.owner_size = owner_size;
    s.ttl = ttl;
    sets_.push_back(s);
    slots_[i] = sets_.size();
    set = &sets_.back();
  }

  size_t vstart = text_.size();
  put_rdata(text_, vstart, rr);
  std::string_view v = text(vstart, text_.size() - vstart);
  // Into the chain, in order; at the end when it sorts last (the common case, and no walk).
  size_t prev = kNone, next = kNone;
  if (set->last != kNone) {
    int last = text(values_[set->last].offset, values_[set->last].size).compare(v);
    if (last == 0) {
      text_.resize(vstart);
      return;
    }
    if (last < 0) {
      prev = set->last;
    } else {
      for (size_t k = set->first; k != kNone; prev = k, k = values_[k].next) {
        int c = text(values_[k].offset, values_[k].size).compare(v);
        if (c == 0) {
          text_.resize(vstart);
          return;
        }
        if (c > 0) {
          next = k;
          break;
        }
      }
    }
  }
  size_t k = values_.size();
  values_.push_back({vstart, v.size(), next});
  if (prev == kNone)
    set->first = k;
  else
    values_[prev].next = k;
  if (next == kNone) set->last = k;
  ++set->count;
}

std::string ZoneIndex::digest() const {
  // Every RRset, length-prefixed (no two inputs run together), hashed in one call: OpenSSL's
  // SHA-256 uses the CPU's SHA instructions where there are some.
  std::string in;
  in.reserve(text_.size() + sets_.size() * 24 + values_.size() * 4);
  auto put = [&](std::string_view bytes) {
    auto n = static_cast<uint32_t>(bytes.size());
    char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                   static_cast<char>(n >> 8), static_cast<char>(n)};
    in.append(len, sizeof len);
    in.append(bytes);
  };
  for (const Set& s : sets_) {
    put(text(s.key, s.key_size));
    put(std::to_string(s.ttl) + "/" + std::to_string(s.count));
    each_value(s, put);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(in.data(), in.size(), out, &size, EVP_sha256(), nullptr) != 1) return {};
  static const char* hex = "0123456789abcdef";
  std::string h = "sha256:";
  for (unsigned int k = 0; k < size; ++k) {
    h += hex[out[k] >> 4];
    h += hex[out[k] & 15];
  }
  return h;
}

std::vector<std::string> ZoneIndex::types() const {
  std::vector<std::string> out;
  for (const Set& s : sets_) {
    std::string_view t = type(s);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.emplace_back(t);
  }
  return out;
}

bool ZoneIndex::has_value(const Set& s, std::string_view v) const {
  for (size_t i = s.first; i != kNone; i = values_[i].next)
    if (text(values_[i].offset, values_[i].size) == v) return true;
  return false;
}

RRset ZoneIndex::rrset(const Set& s) const {
  RRset r;
  r.owner = owner(s);
  r.type = type(s);
  r.ttl = s.ttl;
  r.values.reserve(s.count);
  each_value(s, [&](std::string_view v) { r.values.emplace_back(v); });
  return r;
}

ZoneRRsets ZoneIndex::rrsets() const {
  ZoneRRsets out;
  for (const Set& s : sets_) out.emplace(std::string(text(s.key, s.key_size)), rrset(s));
  return out;
}

void add_records(ZoneRRsets& sets, const ldns_rr_list* rrs) {
  if (!rrs) return;
  for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) add_record(sets, ldns_rr_list_rr(rrs, i));
}

Result<ParsedMessage> parse_message(const uint8_t* wire, size_t size) {
  ldns_pkt* raw = nullptr;
  ldns_status st = ldns_wire2pkt(&raw, wire, size);
  PktPtr pkt(raw);
  if (st != LDNS_STATUS_OK || !pkt)
    return Error::Invalid(std::string("malformed DNS message: ") + ldns_get_errorstr_by_id(st));
  ParsedMessage m;
  m.rcode = ldns_pkt_get_rcode(pkt.get());
  if (const ldns_rr* tsig = ldns_pkt_tsig(pkt.get())) {
    m.has_tsig = true;
    if (ldns_rr_rd_count(tsig) > 5 && ldns_rr_rdf(tsig, 5) &&
        ldns_rdf_size(ldns_rr_rdf(tsig, 5)) == 2)
      m.tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
  }
  add_records(m.answer, ldns_pkt_answer(pkt.get()));
  return m;
}

// ---- desired data ----

namespace {
bool plain_name(std::string_view n);
}  // namespace

Result<RrPtr> make_record(const std::string& owner, uint32_t ttl, const std::string& type,
                          const std::string& value, const std::string& zone) {
  std::string v = trim(value);
  if (v.empty()) return Error::Invalid("empty " + type + " value");
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 && c != '\t')
      return Error::Invalid("malformed " + type + " value: it contains a control character");
    if (c == '\\' && i + 1 < v.size()) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ';' || c == '(' || c == ')'))
      return Error::Invalid("malformed " + type + " value '" + v + "': unquoted '" +
                                std::string(1, static_cast<char>(c)) + "'",
                            "put text with ; ( ) in double quotes");
  }
  if (quoted) return Error::Invalid("malformed " + type + " value '" + v + "': unterminated quote");
  // An address at a plain name in a plain zone (nearly every record): built from its parts, without
  // assembling and re-reading a zone-file line. Anything else, or a value ldns does not read as
  // an address, takes the general path below (and its error message).
  if (std::string T = upper(type); T == "A" || T == "AAAA") {
    std::string name = canonical_name(owner);
    ldns_rdf* addr = nullptr;
    if (plain_name(name) && plain_name(canonical_name(zone)) &&
        (T == "A" ? ldns_str2rdf_a(&addr, v.c_str()) : ldns_str2rdf_aaaa(&addr, v.c_str())) ==
            LDNS_STATUS_OK) {
      RdfPtr a(addr);
      ldns_rdf* o = nullptr;
      if (ldns_str2rdf_dname(&o, name.c_str()) == LDNS_STATUS_OK) {
        RrPtr rr(ldns_rr_new());
        ldns_rr_set_owner(rr.get(), o);
        ldns_rr_set_ttl(rr.get(), ttl);
        ldns_rr_set_type(rr.get(), T == "A" ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA);
        ldns_rr_set_class(rr.get(), LDNS_RR_CLASS_IN);
        ldns_rr_push_rdf(rr.get(), a.release());
        return rr;
      }
    }
  }
  ldns_rdf* origin_raw = nullptr;
  if (ldns_str2rdf_dname(&origin_raw, canonical_name(zone).c_str()) != LDNS_STATUS_OK)
    return Error::Invalid("zone '" + zone + "' is not a valid DNS name");
  RdfPtr origin(origin_raw);
  std::string text =
      canonical_name(owner) + " " + std::to_string(ttl) + " IN " + upper(type) + " " + v;
  ldns_rr* raw = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&raw, text.c_str(), ttl, origin.get(), nullptr);
  RrPtr rr(raw);
  if (st != LDNS_STATUS_OK || !rr)
    return Error::Invalid("malformed " + upper(type) + " value '" + v +
                          "': " + ldns_get_errorstr_by_id(st));
  if (type_name(ldns_rr_get_type(rr.get())) != upper(type))
    return Error::Invalid("unsupported record type '" + type + "'");
  return rr;
}

Result<std::string> canonical_value(const std::string& type, const std::string& value,
                                    const std::string& zone) {
  auto rr = make_record(zone, 0, type, value, zone);
  if (!rr.ok()) return rr.error();
  return rdata_text(rr->get());
}

namespace {

// A lower-case absolute name of letters, digits, '-' and '_' that ldns reads as it is written:
// labels of 1 to 63 characters, at most 255 octets in wire form. Not the root.
bool plain_name(std::string_view n) {
  if (n.size() < 2 || n.size() > LDNS_MAX_DOMAINLEN - 1 || n.back() != '.') return false;
  size_t label = 0;
  for (char c : n) {
    if (c == '.') {
      if (label == 0 || label > LDNS_MAX_LABELLEN) return false;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      ++label;
    } else {
      return false;
    }
  }
  return true;
}

// 0-65535 in decimal without leading zeros.
bool plain_uint16(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 65535;
}

// A dotted quad as inet_ntop prints it: four numbers 0-255 without leading zeros (what inet_pton
// reads and inet_ntop prints back unchanged, without their cost).
bool plain_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t b = i;
    unsigned n = 0;
    while (i < s.size() && i - b < 4 && s[i] >= '0' && s[i] <= '9') n = n * 10 + (s[i++] - '0');
    size_t digits = i - b;
    if (digits == 0 || digits > 3 || n > 255 || (digits > 1 && s[b] == '0')) return false;
    if (++parts == 4) return i == s.size();
    if (i >= s.size() || s[i++] != '.') return false;
  }
  return false;
}

// An address that inet_pton reads and inet_ntop prints back unchanged (what ldns does with A and
// AAAA values).
bool plain_address(int family, std::string_view s) {
  char text[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof text) return false;
  s.copy(text, s.size());
  text[s.size()] = '\0';
  unsigned char bin[16];
  char back[INET6_ADDRSTRLEN];
  return inet_pton(family, text, bin) == 1 && inet_ntop(family, bin, back, sizeof back) &&
         s == back;
}

// Splits off the text up to the next single space.
std::string_view next_field(std::string_view& s) {
  size_t sp = s.find(' ');
  std::string_view f = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
  return f;
}

}  // namespace

bool spelled_canonically(std::string_view type, std::string_view value) {
  char t[6] = {};
  if (type.empty() || type.size() >= sizeof t) return false;
  for (size_t i = 0; i < type.size(); ++i) t[i] = ascii_upper(type[i]);
  std::string_view T(t, type.size());
  if (T == "A") return plain_ipv4(value);
  if (T == "AAAA") return plain_address(AF_INET6, value);
  if (T == "CNAME" || T == "PTR" || T == "NS") return plain_name(value);
  int numbers = T == "MX" ? 1 : T == "SRV" ? 3 : 0;
  if (numbers == 0) return false;
  std::string_view rest = value;
  for (int i = 0; i < numbers; ++i)
    if (rest.empty() || !plain_uint16(next_field(rest))) return false;
  return plain_name(rest);
}

Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed) {
  Spellings out;
  // make_record cannot fail on the owner or the zone of a plain name, so a value spelled
  // canonically would parse back to itself: no need to ask ldns.
  int plain = -1;  // unknown until a value needs it
  for (const auto& v : values) {
    if (observed && std::binary_search(observed->begin(), observed->end(), v)) continue;
    if (plain < 0)
      plain = (plain_name(owner) || plain_name(canonical_name(owner))) &&
              plain_name(canonical_name(zone));
    if (plain && spelled_canonically(type, v)) continue;
    auto rr = make_record(owner, 0, type, v, zone);
    if (!rr.ok()) return rr.error();
    out.emplace(rdata_text(rr->get()), v);
  }
  return out;
}

AttrMap record_attrs(const RRset& set, const std::string& zone, const Spellings& spelled) {
  std::vector<Value> values;
  values.reserve(set.values.size());
  for (const auto& v : set.values) {
    auto it = spelled.empty() ? spelled.end() : spelled.find(v);
    values.push_back(Value::Str(it == spelled.end() ? v : it->second));
  }
  // Inserted in key order, each at the end: no comparisons to place them.
  AttrMap a;
  a.emplace_hint(a.end(), "name", Value::Str(set.owner));
  a.emplace_hint(a.end(), "ttl", Value::Int(set.ttl));
  a.emplace_hint(a.end(), "type", Value::Str(set.type));
  a.emplace_hint(a.end(), "values", Value::List(std::move(values)));
  a.emplace_hint(a.end(), "zone", Value::Str(canonical_name(zone)));
  return a;
}

AttrMap record_attrs(const ZoneIndex& data, const ZoneIndex::Set& set, const std::string& zone) {
  // Copying a map of the five attributes is cheaper than building one: the copy allocates the
  // nodes and links them as they are, without comparing keys or rebalancing.
  thread_local AttrMap proto;
  thread_local std::string proto_zone;
  if (proto.empty() || proto_zone != zone) {
    proto = {{"name", Value::Str("")},
             {"ttl", Value::Int(0)},
             {"type", Value::Str("")},
             {"values", Value::List({})},
             {"zone", Value::Str(canonical_name(zone))}};
    proto_zone = zone;
  }
  AttrMap a(proto);
  auto it = a.begin();  // name, ttl, type, values, zone
  it->second = Value::Str(std::string(data.owner(set)));
  (++it)->second = Value::Int(set.ttl);
  (++it)->second = Value::Str(std::string(data.type(set)));
  std::vector<Value>& values = (++it)->second.mutable_list();
  values.reserve(set.count);
  data.each_value(set, [&](std::string_view v) { values.push_back(Value::Str(std::string(v))); });
  return a;
}

std::vector<std::string> canonical_set(const std::vector<std::string>& canonical_values) {
  std::vector<std::string> v = canonical_values;
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
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
