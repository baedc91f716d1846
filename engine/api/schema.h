// Resource type declarations: the single source of truth for every resource type and attribute.
//
// Each type and each of its attributes is declared once (engine/types.cpp). Manifest validation,
// defaults, reference inference for the dependency graph, the plan's diff, the JSON Schema and the
// generated docs all read these declarations; nothing else lists attributes. Providers read them
// too (e.g. to know which attributes identify an object). Declarations are immutable after
// start-up and safe to share between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/value.h"

namespace converge {

using AttrMap = std::map<std::string, Value>;

enum class AttrType {
  kString,
  kInt,
  kBool,
  kList,    // list of strings
  kSecret,  // { env = "VAR" } or { file = "path" }; never a literal
  kScalar,  // string, integer or boolean (registry data)
};

// How a desired value is compared with an observed one.
enum class Compare {
  kExact,
  kCaseInsensitive,
  kDn,       // distinguished names: case-insensitive, spaces around , and = ignored
  kDnsName,  // DNS names: case-insensitive, trailing dot ignored
  kSet,      // list compared as a set, case-sensitive
  kSetCaseInsensitive,
  kVersionAtLeast,  // check: observed dotted version >= desired
  kAtMost,          // check: observed integer <= desired
  kAtLeast,         // check: observed integer >= desired
  kSubset,          // every desired element is among the observed (case-insensitive)
  kRights,          // directory access rights: names or masks, GenericAll == its expansion
  kDnsValues,       // DNS RDATA set: names case-insensitive and absolute, quoted text kept
};

// An attribute whose value names another resource: the graph adds an edge from every declared
// resource of one of `types` whose attribute `match` equals the value (compared by that
// attribute's Compare). `what` says why, for cycle reports.
struct RefRule {
  std::vector<std::string> types;
  std::string match;
  std::string what;
};

struct AttrSpec {
  std::string name;
  AttrType type = AttrType::kString;
  std::string doc;
  bool required = false;
  std::optional<Value> def;          // default when the manifest does not set it
  std::vector<std::string> allowed;  // allowed values (case-insensitive), empty = any
  Compare compare = Compare::kExact;
  bool identity = false;    // identifies the object the resource manages; cannot be updated
  bool computed = false;    // derived from other attributes (e.g. dn); not settable
  bool write_only = false;  // set on create only, never observed (passwords)
  bool restart = false;     // changing it needs a restart of the host/service
  std::vector<RefRule> refs;
};

// A desired value read from the target itself: when a resource sets `attr` (ldap_attribute's
// copy_from), its desired `into` (value) is what the provider observed under `observed`
// (source_value); nothing observed there blocks the resource.
struct CopyRule {
  std::string attr, into, observed;
};

struct TypeSpec {
  std::string name;
  std::string doc;
  std::string guide;        // which rows of the guide (mission.md) it expresses
  bool check_only = false;  // observed and judged, never changed (a failing check blocks)
  bool holds_data = false;  // deleting it loses data (accounts, mailboxes): undo needs opt-in
  std::vector<AttrSpec> attrs;
  // Every declared resource of these types precedes every resource of this type.
  std::vector<std::string> after_all;
  std::optional<CopyRule> copy;
  // The boolean attribute that says whether changing a `restart` attribute of this resource needs
  // a restart (registry_value's restart_required); "" when every such change does.
  std::string restart_switch;

  const AttrSpec* attr(const std::string& n) const {
    for (const auto& a : attrs)
      if (a.name == n) return &a;
    return nullptr;
  }
};

// The registry of all declared types (engine/types.cpp).
const std::vector<TypeSpec>& all_types();
const TypeSpec* find_type(const std::string& name);

// Normalise a value for comparison under `c` (lower-casing, DN/DNS canonical form, sorted sets).
Value normalize(const Value& v, Compare c);
// True when the observed value satisfies the desired one under `c`.
bool satisfies(const Value& desired, const Value& observed, Compare c);

// The normalised identity of the object a resource manages: its identity attributes, each
// normalised by its Compare, joined with '|'. Two resources with equal keys manage one object.
std::string identity_key(const TypeSpec& t, const AttrMap& attrs);

// Computes derived attributes (e.g. `dn` of an ou from name + path) in place.
void derive_computed(const TypeSpec& t, AttrMap& attrs);

}  // namespace converge
