// Result<T> and Error: errors are values.
//
// An Error carries a message, an optional hint ("did you mean ...", "set the variable ..."), an
// optional source location and the id of the resource it concerns. Result<T> is either a T or an
// Error; it is a small stand-in for std::expected, which clang 14 cannot build with this libstdc++.
// Thread-safety: plain values; no shared state.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace converge {

// A position in a source file (1-based line and column). line == 0 means "unknown".
struct Loc {
  std::string file;
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
  std::string str() const {
    if (!known()) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
};

enum class ErrorKind {
  kInvalid,    // bad input: manifest, plan file, argument
  kNotFound,   // something the input names does not exist
  kConflict,   // the target refuses because of its own rules or a concurrent change
  kTransient,  // may succeed when retried (timeout, busy, server down)
  kIo,         // local file or process failure
  kInternal,
};

struct Error {
  ErrorKind kind = ErrorKind::kInvalid;
  std::string message;
  std::string hint;
  Loc loc;
  std::string resource;  // TYPE.NAME of the resource concerned, if any

  static Error Invalid(std::string m, std::string h = {}) {
    return {ErrorKind::kInvalid, std::move(m), std::move(h), {}, {}};
  }
  static Error NotFound(std::string m, std::string h = {}) {
    return {ErrorKind::kNotFound, std::move(m), std::move(h), {}, {}};
  }
  static Error Conflict(std::string m, std::string h = {}) {
    return {ErrorKind::kConflict, std::move(m), std::move(h), {}, {}};
  }
  static Error Transient(std::string m, std::string h = {}) {
    return {ErrorKind::kTransient, std::move(m), std::move(h), {}, {}};
  }
  static Error Io(std::string m, std::string h = {}) {
    return {ErrorKind::kIo, std::move(m), std::move(h), {}, {}};
  }
  static Error Internal(std::string m) { return {ErrorKind::kInternal, std::move(m), {}, {}, {}}; }

  Error&& at(Loc l) && {
    loc = std::move(l);
    return std::move(*this);
  }
  Error&& on(std::string id) && {
    resource = std::move(id);
    return std::move(*this);
  }

  // "file:line:col: resource: message (hint)" — the one way errors are printed.
  std::string str() const {
    std::string out;
    if (loc.known() || !loc.file.empty()) out += loc.str() + ": ";
    if (!resource.empty()) out += resource + ": ";
    out += message;
    if (!hint.empty()) out += " (" + hint + ")";
    return out;
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}      // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *e_; }
  Error&& error() && { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;

}  // namespace converge

// TRY(expr): evaluate a Result; on error return the error from the enclosing function.
#define CONVERGE_TRY(expr)                                     \
  do {                                                         \
    auto&& converge_try_r_ = (expr);                           \
    if (!converge_try_r_.ok()) return converge_try_r_.error(); \
  } while (0)
