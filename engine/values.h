// Small pure helpers over strings and values used across the engine: case folding, DN and DNS
// name canonical forms, closest-name hints. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace converge {

enum class Compare;  // engine/api/schema.h

std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string trim(std::string_view s);
// Canonical DN: RDNs split on unescaped commas, spaces around ',' and '=' removed, lower-cased.
std::string canonical_dn(std::string_view dn);
// Canonical absolute DNS name: lower-cased, with exactly one trailing dot ("." for the root).
std::string canonical_dns_name(std::string_view name);
// Absolute form of `name` relative to `zone` ("@" is the apex; names ending in '.' are absolute).
std::string absolute_dns_name(std::string_view name, std::string_view zone);
// The same forms appended to `out`, without temporaries (for loops over many values).
void append_lower(std::string& out, std::string_view s);
void append_canonical_dn(std::string& out, std::string_view dn);
void append_canonical_dns_name(std::string& out, std::string_view name);
void append_absolute_dns_name(std::string& out, std::string_view name, std::string_view zone);
// normalize(Value::Str(s), c) appended to `out` when that is one string (every comparison but the
// set-like ones, whose normal form is a list); false, and nothing appended, otherwise.
bool append_normalized(std::string& out, std::string_view s, Compare c);
// Compare dotted versions numerically: -1, 0, 1.
int compare_versions(std::string_view a, std::string_view b);
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` within a small edit distance, or "".
std::string closest(std::string_view word, const std::vector<std::string>& candidates);
std::vector<std::string> split_ws(std::string_view s);
// The current UTC time as 2026-11-25T10:00:00Z.
std::string now_iso();

}  // namespace converge
