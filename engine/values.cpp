// Value's renderings and the small text helpers the engine's messages use.
#include "engine/values.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "engine/api/value.h"

namespace converge {

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

}  // namespace converge
