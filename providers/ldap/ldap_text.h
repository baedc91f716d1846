// Pure helpers of the LDAP provider: distinguished names (RFC 4514), search filters (RFC 4515),
// the unicodePwd encoding, ranged-retrieval attribute options, AD group types and account
// control bits, well-known principals and the guide's fallback table of extended rights.
//
// No I/O and no global mutable state: every function is thread-safe and tested on literal
// strings (ldap_text_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"

namespace converge::ldap {

// ---- distinguished names ------------------------------------------------------------------------

// One attribute=value pair of an RDN; `value` is unescaped (the bytes it stands for).
struct Ava {
  std::string type;
  std::string value;
};
using Rdn = std::vector<Ava>;  // usually one Ava; several when joined with '+'

// Parses an RFC 4514 string DN ("CN=a\,b,OU=x,DC=y"). The empty string is the root DSE (no RDNs).
// Errors name the DN and say what is wrong (missing '=', bad escape, empty attribute type ...).
Result<std::vector<Rdn>> parse_dn(std::string_view dn);

// Escapes an attribute value for use in a DN (RFC 4514 section 2.4).
std::string escape_dn_value(std::string_view value);

// The key under which DNs are compared and mapped: types and values lower-cased (ASCII), values
// unescaped and minimally re-escaped, the AVAs of a multi-valued RDN sorted, no spaces around
// separators. Two spellings of one DN give the same key ("CN=a\,b" and "cn=A\2Cb", "CN=a+UID=b"
// and "uid=b+cn=a", quoted values). A DN that does not parse is returned lower-cased and trimmed
// (it then matches nothing real, and the caller reports the parse error separately).
//
// Not engine/api/names.h's canonical_dn: that one lower-cases and drops spaces but keeps escapes
// as written and AVAs in their order. Here every DN the directory returns (in its own spelling:
// its escapes, its case, its AVA order) is matched against the manifest's, so two spellings of
// one DN must give one key.
std::string dn_key(std::string_view dn);
bool same_dn(std::string_view a, std::string_view b);
// The parent of a DN ("OU=x,DC=y" -> "DC=y"), in the input's own spelling; "" for one RDN.
std::string parent_dn(std::string_view dn);
// The unescaped value of the first RDN's first AVA ("CN=a\,b,DC=y" -> "a,b"); "" if none.
std::string first_rdn_value(std::string_view dn);
// True iff `dn` equals `base` or lies below it (canonical comparison).
bool dn_within(std::string_view dn, std::string_view base);
// "CN=" + escaped name + "," + parent.
std::string child_dn(std::string_view rdn_type, std::string_view name, std::string_view parent);

// ---- filters
// --------------------------------------------------------------------------------------

// Escapes an assertion value (RFC 4515): * ( ) \ and NUL become \2a \28 \29 \5c \00.
std::string escape_filter(std::string_view value);
// Every byte as \xx: for binary assertion values such as objectSid.
std::string escape_filter_bytes(std::string_view bytes);
// Filters that together select entries whose `attr` equals one of the already escaped `values`,
// each combined with `base_clause` (e.g. "(objectClass=user)", may be empty), at most `chunk`
// values per filter: "(&(objectClass=user)(|(sAMAccountName=a)(sAMAccountName=b)))".
std::vector<std::string> or_filters(std::string_view base_clause, std::string_view attr,
                                    const std::vector<std::string>& escaped_values, size_t chunk);

// ---- passwords
// ------------------------------------------------------------------------------------

// The unicodePwd value AD requires: the password in double quotes, UTF-16LE. Invalid UTF-8 is an
// error (which never contains the password).
Result<std::string> unicode_pwd(std::string_view utf8_password);

// ---- ranged retrieval (MS-ADTS 3.1.1.3.1.3.3)
// -----------------------------------------------------

struct RangeOption {
  std::string attr;     // "member"
  bool ranged = false;  // the description carried ";range=..."
  uint64_t low = 0;
  std::optional<uint64_t> high;  // nullopt for "*": the last chunk
};
// Parses an attribute description such as "member;range=0-1499" or "member;range=1500-*".
RangeOption parse_range(std::string_view description);
// "member;range=LOW-HIGH" for a window of `count` values starting at `low`.
std::string range_request(std::string_view attr, uint64_t low, uint64_t count);
// The window a directory serves at most per read (Active Directory's default MaxValRange).
inline constexpr uint64_t kRangeWindow = 1500;

// ---- AD group types and account control
// -----------------------------------------------------------

inline constexpr uint32_t kGroupBuiltin = 0x1;
inline constexpr uint32_t kGroupGlobal = 0x2;
inline constexpr uint32_t kGroupDomainLocal = 0x4;
inline constexpr uint32_t kGroupUniversal = 0x8;
inline constexpr uint32_t kGroupSecurity = 0x80000000u;

// groupType for scope "global" | "domain_local" | "universal" and category "security" |
// "distribution" (case-insensitive); Invalid for anything else.
Result<int32_t> group_type(std::string_view scope, std::string_view category);
// The scope/category words of a groupType value (builtin groups are domain_local).
std::string group_scope(int32_t group_type);
std::string group_category(int32_t group_type);

inline constexpr uint32_t kUacAccountDisable = 0x2;
inline constexpr uint32_t kUacPasswdNotReqd = 0x20;
inline constexpr uint32_t kUacNormalAccount = 0x200;
inline constexpr uint32_t kUacDontExpirePassword = 0x10000;

// userAccountControl with the enabled / password-never-expires bits set as asked, other bits kept.
uint32_t account_control(uint32_t current, bool enabled, bool password_never_expires);

// ---- principals and rights
// ------------------------------------------------------------------------

// "TARGET\name" -> "name", "name@target.local" -> "name"; other strings unchanged.
// ('@' cannot occur in a sAMAccountName.)
std::string strip_domain(std::string_view principal);
// The qualifier of "NETBIOS\name" or "name@dns.domain" ("" for a bare name), as written.
std::string domain_of(std::string_view principal);
// nullopt when `principal` names an account of the target domain: a bare name, a SID, a
// well-known name, or a qualifier equal (case-insensitively) to `netbios` or `dns_domain`, or
// the machine-local authorities BUILTIN and NT AUTHORITY. Otherwise the message to report: a
// name of another domain must never silently resolve to the target's account of that name.
std::optional<std::string> foreign_principal(std::string_view principal, std::string_view netbios,
                                             std::string_view dns_domain);
// The DNS name of a domain from its DN: "DC=target,DC=local" -> "target.local" ("" when the DN
// has no DC components).
std::string dns_domain_of(std::string_view domain_dn);

// ---- confidential attributes
// ---------------------------------------------------------------------

// Attributes that hold secrets (passwords, LAPS and BitLocker recovery material, credential
// blobs, trust secrets, managed-service-account passwords), by lDAPDisplayName or cn,
// case-insensitive, attribute options ignored ("unicodePwd;binary"). Their values must never be
// copied into plans, the journal or reports.
bool is_secret_attribute(std::string_view name);
// The confidential bit of an attributeSchema's searchFlags (fCONFIDENTIAL, MS-ADTS 3.1.1.2.3).
inline constexpr uint32_t kSearchFlagConfidential = 0x80;
// SIDs of names the directory resolves without an object ("Everyone", "Authenticated Users",
// "SELF", "SYSTEM", "Creator Owner", ...), case-insensitive; nullopt otherwise.
std::optional<std::string> well_known_sid(std::string_view name);
// True for "S-1-..." strings (case-insensitive S).
bool looks_like_sid(std::string_view s);

// Key under which names of extended rights and schema objects are compared: lower case, '-' and
// '_' read as spaces, runs of spaces collapsed. "Send-As", "send as" and "Send_As" are one key.
std::string object_type_key(std::string_view name);
// Spellings to ask the directory for: the name as given, with '-' for ' ' and with ' ' for '-'.
std::vector<std::string> object_type_variants(std::string_view name);
// The guide's table of extended rights (../shared/docs/mission.md), used when the directory has
// no controlAccessRight of that name (Samba has no Exchange rights): GUID text or nullopt.
std::optional<std::string> fallback_right_guid(std::string_view name);

}  // namespace converge::ldap
