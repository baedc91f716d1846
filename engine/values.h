// Small pure helpers over strings and values used across the engine: case folding, DN and DNS
// name canonical forms, closest-name hints. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/api/names.h"

namespace converge {

enum class Compare;  // engine/api/schema.h

// normalize(Value::Str(s), c) appended to `out` when that is one string (every comparison but the
// set-like ones, whose normal form is a list); false, and nothing appended, otherwise.
bool append_normalized(std::string& out, std::string_view s, Compare c);
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` within a small edit distance, or "".
std::string closest(std::string_view word, const std::vector<std::string>& candidates);
std::vector<std::string> split_ws(std::string_view s);
// The current UTC time as 2026-11-25T10:00:00Z.
std::string now_iso();

}  // namespace converge
