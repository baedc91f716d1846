#include "providers/dns/dns_key_file.h"

#include <cctype>

#include "engine/api/names.h"
#include "providers/dns/dns_rdata.h"

namespace converge::dns {
namespace {

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

}  // namespace converge::dns
