// Value: the one representation of an attribute value, desired or observed.
//
// A Value is null, a bool, an integer, a string or a list of values. Secret references
// ({ env = "X" } / { file = "p" }) are strings of the form "env:X" / "file:p" in attributes whose
// declaration says `secret`; the secret itself is read only at apply time and never stored in a
// Value that leaves the engine. Values are plain data and are safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace converge {

class Value {
 public:
  enum class Kind { kNull, kBool, kInt, kString, kList };

  Value() = default;
  static Value Bool(bool b) {
    Value v;
    v.kind_ = Kind::kBool;
    v.i_ = b ? 1 : 0;
    return v;
  }
  static Value Int(int64_t i) {
    Value v;
    v.kind_ = Kind::kInt;
    v.i_ = i;
    return v;
  }
  static Value Str(std::string s) {
    Value v;
    v.kind_ = Kind::kString;
    v.s_ = std::move(s);
    return v;
  }
  static Value List(std::vector<Value> l) {
    Value v;
    v.kind_ = Kind::kList;
    v.l_ = std::move(l);
    return v;
  }
  static Value StrList(const std::vector<std::string>& l) {
    std::vector<Value> out;
    out.reserve(l.size());
    for (const auto& s : l) out.push_back(Str(s));
    return List(std::move(out));
  }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }
  const std::string& as_string() const { return s_; }
  const std::vector<Value>& as_list() const { return l_; }

  // Strings of a list value (non-string elements rendered); a scalar string gives one element.
  std::vector<std::string> strings() const;

  // Presentation form used in plans, diffs and JSON-free text: "abc" quoted, [a, b] for lists.
  std::string repr() const;
  // Plain text form: strings unquoted; lists joined with ", ".
  std::string text() const;

  bool operator==(const Value& o) const {
    return kind_ == o.kind_ && i_ == o.i_ && s_ == o.s_ && l_ == o.l_;
  }
  bool operator!=(const Value& o) const { return !(*this == o); }

 private:
  Kind kind_ = Kind::kNull;
  int64_t i_ = 0;
  std::string s_;
  std::vector<Value> l_;
};

}  // namespace converge
