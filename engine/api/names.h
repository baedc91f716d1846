// Names as directories and DNS compare them: case folding, canonical DNs and DNS names, dotted
// versions. Pure functions over bytes (the C locale's ASCII rules; the engine never changes the
// locale); thread-safe. Implemented in the engine library (engine/names.cpp), which every
// provider links.
#pragma once

#include <string>
#include <string_view>

namespace converge {

std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string trim(std::string_view s);
// Canonical DN: RDNs split on unescaped commas, spaces around ',' and '=' removed, lower-cased.
std::string canonical_dn(std::string_view dn);
// `value` as the value of one RDN (RFC 4514 section 2.4): ',' '+' '"' '\\' '<' '>' ';' '='
// anywhere, '#' or a space first and a space last are escaped with a backslash; NUL, CR and LF
// as \00, \0d, \0a. "Sales,OU=X" gives "Sales\,OU\=X": one RDN value, not three RDNs. The
// same spelling as the ldap provider's, so the two compare equal as written.
std::string escape_rdn_value(std::string_view value);
// Canonical absolute DNS name: lower-cased, with exactly one trailing dot ("." for the root).
std::string canonical_dns_name(std::string_view name);
// Absolute form of `name` relative to `zone` ("@" is the apex; names ending in '.' are absolute).
std::string absolute_dns_name(std::string_view name, std::string_view zone);
// The same forms appended to `out`, without temporaries (for loops over many values).
void append_lower(std::string& out, std::string_view s);
void append_canonical_dn(std::string& out, std::string_view dn);
void append_canonical_dns_name(std::string& out, std::string_view name);
void append_absolute_dns_name(std::string& out, std::string_view name, std::string_view zone);
// Compare dotted versions numerically: -1, 0, 1.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace converge
