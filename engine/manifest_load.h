// The stages of loading a manifest (engine/manifest.cpp runs them in this order, once each):
//   parse_manifest      (manifest_parse.cpp)   the whole TOML text -> vars, providers, raw
//   resources expand_resources    (manifest_expand.cpp)  for_each, ${var.X}, ${each.value}, meta
//   keys, index resolve_references  (manifest_expand.cpp)  ${TYPE.NAME.ATTR}; each target is
//   finished first finish_resource     (manifest_check.cpp)   defaults, types, allowed values,
//   derived attributes check_manifest      (manifest_check.cpp)   provider assignment, depends_on,
//   duplicate objects
// Each stage adds what it finds wrong to LoadContext::errors and goes on, so that one load reports
// every problem. Internal to the engine; single-threaded.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/manifest.h"

namespace converge::manifest_load {

// The keys every resource accepts besides its attributes.
inline const std::vector<std::string> kMetaKeys = {"ensure", "depends_on", "provider", "for_each",
                                                   "drift"};

// A meta key as written.
struct MetaKey {
  std::string key;
  Value value;
  Loc loc;
};

// A [TYPE.NAME] table as written: its attributes converted to Values, nothing expanded or checked.
struct RawResource {
  const TypeSpec* type = nullptr;
  std::string name;
  Loc loc;
  AttrMap attrs;
  std::vector<Resource::AttrLoc> attr_locs;
  std::vector<MetaKey> meta;
};

// What the stages share: where problems go and what earlier stages learnt about them.
struct LoadContext {
  LoadContext(std::string file, const std::vector<ProviderKind>& provider_kinds)
      : path(std::move(file)), kinds(provider_kinds) {}

  std::string path;
  const std::vector<ProviderKind>& kinds;
  std::vector<Error> errors;
  // "id\nattr" of values that already failed: later stages say nothing more about them.
  std::unordered_set<std::string> poisoned;
  // TYPE.NAME -> attributes an unknown attribute was said to be a misspelling of: one of them
  // missing is not reported again as missing.
  std::map<std::string, std::set<std::string>> suggested;
  std::map<std::string, Loc> provider_locs;  // resource id -> where its `provider =` was written

  void fail(Error e) { errors.push_back(std::move(e)); }
  void poison(const std::string& id, std::string_view attr) {
    poisoned.insert(id + "\n" + std::string(attr));
  }
  bool is_poisoned(const std::string& id, std::string_view attr) const {
    return !poisoned.empty() && poisoned.count(id + "\n" + std::string(attr));
  }
  const ProviderKind* kind(std::string_view type) const {
    for (const auto& k : kinds)
      if (k.type == type) return &k;
    return nullptr;
  }
};

// Parses `text` whole and fills m.vars and m.providers; the resources come back raw, in document
// order. nullopt (with the error in cx) when the text is not TOML.
std::optional<std::vector<RawResource>> parse_manifest(std::string_view text, Manifest& m,
                                                       LoadContext& cx);

// Turns raw resources into m.resources (one per for_each element), substituting ${var.X} and
// ${each.value}, applying the meta keys and filling m.index and m.groups.
void expand_resources(std::vector<RawResource> raw, Manifest& m, LoadContext& cx);

// Replaces every ${TYPE.NAME.ATTR} with the target's finished value (recording a "reference"
// dependency), then finishes every resource. Reference cycles are errors.
void resolve_references(Manifest& m, LoadContext& cx);

// Defaults, value types, allowed values and per-type rules; then derived attributes and identity.
void finish_resource(Resource& r, LoadContext& cx);

// What needs every resource: providers assigned (adding the implicit lab), depends_on targets
// known, no two resources managing one object.
void check_manifest(Manifest& m, LoadContext& cx);

// "a string", "an integer", ... as messages name the types.
std::string attr_type_name(AttrType t);
std::string join(const std::vector<std::string>& v);  // "a, b, c"
// True when a value still holds a ${...} to substitute or resolve.
bool needs_resolving(const Value& v);

}  // namespace converge::manifest_load
