// A streaming JSON writer for the large documents converge writes (plans, journal entries),
// which nlohmann::json would first build as a tree of std::maps, many times their size. The
// output is byte-for-byte what nlohmann's dump() gives for the same document (pretty with
// indent >= 0, compact with -1; keys must be written in sorted order, as nlohmann's
// std::map-based objects print them) — pinned by a differential test. Invalid UTF-8 is written
// as U+FFFD instead of throwing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/api/schema.h"
#include "engine/api/value.h"

namespace converge {

class JsonWriter {
 public:
  explicit JsonWriter(int indent = -1) : indent_(indent) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  // The key of the next member of the object being written.
  JsonWriter& key(std::string_view k);

  JsonWriter& null();
  JsonWriter& boolean(bool b);
  JsonWriter& integer(int64_t v);
  JsonWriter& string(std::string_view s);
  JsonWriter& value(const Value& v);
  JsonWriter& strings(const std::vector<std::string>& v);
  JsonWriter& attrs(const AttrMap& m);  // an object of values, in the map's (sorted) order

  const std::string& str() const { return out_; }
  // Starts over, keeping the capacity (a writer reused for many small documents).
  void clear() {
    out_.clear();
    stack_.clear();
    after_key_ = false;
  }
  std::string take() { return std::move(out_); }

 private:
  JsonWriter& open(char c);
  JsonWriter& close(char c);
  void before_value();
  void newline(size_t depth);

  struct Level {
    bool first = true;
  };
  int indent_;
  bool after_key_ = false;
  std::vector<Level> stack_;
  std::string out_;
};

// s as a JSON string literal (quotes included), escaped as nlohmann escapes it.
void append_json_string(std::string& out, std::string_view s);

}  // namespace converge
