#include "engine/json_writer.h"

#include <array>
#include <charconv>

namespace converge {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF), or 0 when it is not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

// Bytes copied as they are: printable ASCII but for '"' and '\\'.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  size_t run = 0;  // start of the bytes copied as they are
  auto flush = [&](size_t upto) { out.append(s.data() + run, upto - run); };
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    while (i < n && kPlain[static_cast<unsigned char>(s[i])]) ++i;
    if (i == n) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8_sequence(s, i);
      if (len) {
        i += len;
        continue;
      }
      flush(i);
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not UTF-8
      run = ++i;
      continue;
    }
    flush(i);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
    run = ++i;
  }
  flush(s.size());
  out.push_back('"');
}

void JsonWriter::newline(size_t depth) {
  out_.push_back('\n');
  out_.append(depth * static_cast<size_t>(indent_), ' ');
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& l = stack_.back();
  if (!l.first) out_.push_back(',');
  l.first = false;
  if (indent_ >= 0) newline(stack_.size());
}

JsonWriter& JsonWriter::key(std::string_view k) {
  before_value();
  bool plain = true;
  for (char c : k) plain = plain && kPlain[static_cast<unsigned char>(c)];
  if (plain) {  // the usual case: a constant name
    out_.push_back('"');
    out_.append(k);
    out_.append(indent_ >= 0 ? "\": " : "\":");
  } else {
    append_json_string(out_, k);
    out_ += indent_ >= 0 ? ": " : ":";
  }
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::open(char c) {
  before_value();
  out_.push_back(c);
  stack_.push_back({});
  return *this;
}

JsonWriter& JsonWriter::close(char c) {
  bool empty = stack_.back().first;
  stack_.pop_back();
  if (!empty && indent_ >= 0) newline(stack_.size());
  out_.push_back(c);
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::boolean(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::integer(int64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view s) {
  before_value();
  append_json_string(out_, s);
  return *this;
}

JsonWriter& JsonWriter::value(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      return null();
    case Value::Kind::kBool:
      return boolean(v.as_bool());
    case Value::Kind::kInt:
      return integer(v.as_int());
    case Value::Kind::kString:
      return string(v.as_string());
    case Value::Kind::kList:
      begin_array();
      for (const auto& e : v.as_list()) value(e);
      return end_array();
  }
  return null();
}

JsonWriter& JsonWriter::strings(const std::vector<std::string>& v) {
  begin_array();
  for (const auto& s : v) string(s);
  return end_array();
}

JsonWriter& JsonWriter::attrs(const AttrMap& m) {
  begin_object();
  for (const auto& [k, v] : m) key(k).value(v);
  return end_object();
}

}  // namespace converge
