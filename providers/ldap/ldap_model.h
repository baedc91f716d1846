// The LDAP provider's pure mapping between directory entries and converge resources: what an
// observed entry means as attributes of an ou / container / ldap_object / account / group /
// ldap_attribute resource, which LDAP modifications create or update one, and how an `ace`
// resource maps to an ACE in a DACL and back.
//
// Observed values are given in the manifest's own spelling whenever they are equal to what it
// says (same DN in another case, principal name for the SID it resolves to, object type name for
// its GUID, "GenericAll" for the full mask), so plans show no perpetual differences and name
// things the way the manifest does.
//
// No I/O; thread-safe; tested in ldap_model_test.cpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "engine/api/schema.h"
#include "providers/ldap/security_descriptor.h"

namespace converge::ldap {

// One search result entry: attribute values by lower-cased attribute description.
struct Entry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attrs;

  const std::vector<std::string>& values(const std::string& lower_name) const;
  std::string first(const std::string& lower_name) const;  // "" when absent
  bool has(const std::string& lower_name) const { return !values(lower_name).empty(); }
};

// One LDAP modification (add / replace / delete of an attribute's values).
struct Mod {
  enum Op { kAdd, kReplace, kDelete } op = kReplace;
  std::string attr;
  std::vector<std::string> values;  // bytes; empty with kDelete / kReplace removes the attribute
  bool operator==(const Mod& o) const = default;
};

// Attribute value helpers on AttrMap.
const Value& attr(const AttrMap& m, const std::string& name);
std::string attr_text(const AttrMap& m, const std::string& name);

// ---- directory objects
// ------------------------------------------------------------------------------

// The DN the resource's object has (RDN type OU for ou, CN otherwise; the value escaped).
std::string object_dn(const TypeSpec& t, const AttrMap& desired);
// Attributes to request when observing resources of type `t` (ou, container, ldap_object,
// account, group).
std::vector<std::string> object_attributes(const TypeSpec& t);
// The observed attributes of an entry for a resource of type `t` whose desired attributes are
// `desired`.
AttrMap observe_object(const TypeSpec& t, const Entry& e, const AttrMap& desired);
// The add request for a new object (without the password, which ldap_apply.cpp sets after it).
Result<std::vector<Mod>> create_mods(const TypeSpec& t, const AttrMap& desired);
// The modifications that bring an existing object to the desired attributes named in `changed`
// (the engine's list; identity and computed attributes never appear there). `current_uac` is the
// account's userAccountControl (accounts only). Attributes that need a rename or move (path, cn)
// are not included: see needs_move().
Result<std::vector<Mod>> update_mods(const TypeSpec& t, const AttrMap& desired,
                                     const std::vector<std::string>& changed, uint32_t current_uac);
// For accounts and groups: true when `changed` asks for a new RDN or parent.
bool needs_move(const TypeSpec& t, const std::vector<std::string>& changed);

// ---- ldap_attribute
// -----------------------------------------------------------------------------------

// Observed ldap_attribute: `value` = the attribute's values (list), `source_value` = the values of
// `copy_from` when it has any, identity attributes as desired.
AttrMap observe_attribute(const Entry& e, const AttrMap& desired);

// ---- ace
// -----------------------------------------------------------------------------------------------

// What an `ace` resource resolves to before it can be matched against a DACL.
struct AceTarget {
  sd::Sid sid;
  std::optional<sd::Guid> object_type;
  std::optional<sd::Guid> inherited_object_type;
};

// The ACE the resource wants: rights from `rights` (names or masks, expanded as AD stores them),
// allow/deny from `access`, inheritance flags from `applies_to`.
Result<sd::Ace> desired_ace(const AttrMap& desired, const AceTarget& target);

// Explicit ACEs of `dacl` with the identity of `wanted` (inherited ACEs never count).
struct AceMatch {
  int count = 0;
  uint32_t mask = 0;  // OR of their masks
};
AceMatch find_explicit(const sd::Acl& dacl, const sd::Ace& wanted);

// Observed attributes of an ace resource whose ACE was found: identity attributes as desired,
// `rights` as canonical names of the mask. Several matching ACEs (which upsert collapses into
// one) are reported with an extra "(N ACEs)" element so that the plan shows an update.
AttrMap observe_ace(const AttrMap& desired, const AceMatch& m);

}  // namespace converge::ldap
