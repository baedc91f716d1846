#include "providers/dns/dns_values.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

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
  std::string n = lower(trim(name));
  while (n.size() > 1 && n.back() == '.' && n[n.size() - 2] == '.') n.pop_back();
  if (n.empty() || n.back() != '.') n += '.';
  return n;
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (zone == ".") return true;
  if (name == zone) return true;
  return name.size() > zone.size() && name.ends_with(zone) &&
         name[name.size() - zone.size() - 1] == '.';
}

std::string type_name(ldns_rr_type t) {
  std::string s = take(ldns_rr_type2str(t));
  return s.empty() ? "TYPE" + std::to_string(static_cast<int>(t)) : s;
}

bool managed_type(std::string_view type) {
  static const char* kTypes[] = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"};
  std::string u = upper(type);
  return std::any_of(std::begin(kTypes), std::end(kTypes), [&](const char* t) { return u == t; });
}

// ---- observed data ----

std::string rdata_text(const ldns_rr* rr) {
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

std::string rrset_key(std::string_view owner, std::string_view type) {
  return canonical_name(owner) + "|" + upper(type);
}

void add_record(ZoneRRsets& sets, const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return;
  ldns_rr_type t = ldns_rr_get_type(rr);
  if (t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT) return;
  std::string owner = canonical_name(take(ldns_rdf2str(ldns_rr_owner(rr))));
  std::string type = type_name(t);
  RRset& s = sets[owner + "|" + type];  // rrset_key(owner, type): both are canonical already
  uint32_t ttl = ldns_rr_ttl(rr);
  if (s.owner.empty()) {
    s.owner = owner;
    s.type = type;
    s.ttl = ttl;
  } else {
    s.ttl = std::min(s.ttl, ttl);
  }
  std::string v = rdata_text(rr);
  auto it = std::lower_bound(s.values.begin(), s.values.end(), v);
  if (it == s.values.end() || *it != v) s.values.insert(it, std::move(v));
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

Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed) {
  Spellings out;
  for (const auto& v : values) {
    if (observed && std::binary_search(observed->begin(), observed->end(), v)) continue;
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
    auto it = spelled.find(v);
    values.push_back(Value::Str(it == spelled.end() ? v : it->second));
  }
  AttrMap a;
  a["zone"] = Value::Str(canonical_name(zone));
  a["name"] = Value::Str(set.owner);
  a["type"] = Value::Str(set.type);
  a["ttl"] = Value::Int(set.ttl);
  a["values"] = Value::List(std::move(values));
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
