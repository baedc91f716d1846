// Manifest: the desired state read from a TOML file.
//
// load_manifest() parses the whole file once (toml++), expands for_each, resolves ${var.X},
// ${each.value} and ${TYPE.NAME.ATTR} references, applies defaults, derives computed attributes
// and validates every resource against its type declaration (the stages: engine/manifest_load.h).
// It collects every problem it finds (with file:line:col, the resource id and a hint) instead of
// stopping at the first; a manifest with any error must change nothing. The result is immutable
// and may be shared by reference between threads.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/api/provider.h"
#include "engine/api/result.h"
#include "engine/api/schema.h"

namespace converge {

enum class DriftMode { kDefault, kMonitor, kCorrect };

// A dependency written down or implied, kept with where it came from for cycle reports.
struct DependencyDecl {
  std::string target;  // resource id or TYPE.NAME of a for_each resource (every instance)
  Loc loc;
  std::string kind;  // "depends_on", "reference"
};

struct Resource {
  std::string id;  // TYPE.NAME or TYPE.NAME[KEY]
  const TypeSpec* type = nullptr;
  std::string name;
  std::string key;  // for_each element, "" when not expanded
  AttrMap attrs;    // desired, with defaults and derived attributes
  // Where each attribute the manifest set was written (line, column in loc.file). A small vector:
  // resources have a handful of attributes and there may be 100,000 resources.
  struct AttrLoc {
    std::string attr;
    int line, column;
  };
  std::vector<AttrLoc> attr_locs;
  Loc loc;
  bool absent = false;
  std::string provider;  // provider block name; resolved to a configured or implicit provider
  DriftMode drift = DriftMode::kDefault;
  std::vector<DependencyDecl> deps;

  std::string identity;  // identity_key(*type, attrs), computed once after derivation

  ResourceView view() const { return {&id, type, &attrs, &identity}; }
  Loc loc_of(const std::string& attr) const {
    for (const auto& a : attr_locs)
      if (a.attr == attr) return Loc{loc.file, a.line, a.column};
    return loc;
  }
};

struct ProviderDecl {
  std::string name;
  std::string type;
  AttrMap settings;
  Loc loc;
};

struct Manifest {
  std::string path;
  std::string dir;
  std::string hash;  // hex digest of the file's bytes
  std::map<std::string, Value> vars;
  std::vector<ProviderDecl> providers;  // declared plus the implicit "lab" when needed
  std::vector<Resource> resources;
  std::unordered_map<std::string, size_t> index;  // id -> position in resources
  // TYPE.NAME of a for_each resource -> its instances (a single resource is in `index` only)
  std::unordered_map<std::string, std::vector<size_t>> groups;

  const Resource* find(const std::string& id) const {
    auto it = index.find(id);
    return it == index.end() ? nullptr : &resources[it->second];
  }
  const ProviderDecl* provider(const std::string& name) const {
    for (const auto& p : providers)
      if (p.name == name) return &p;
    return nullptr;
  }
};

struct LoadResult {
  Manifest manifest;
  std::vector<Error> errors;
  bool ok() const { return errors.empty(); }
};

LoadResult load_manifest_file(const std::string& path, const std::vector<ProviderKind>& kinds);
LoadResult load_manifest_string(std::string_view text, const std::string& path,
                                const std::vector<ProviderKind>& kinds);

// FNV-1a 64-bit of bytes, as 16 hex digits (content identity, not security).
std::string content_hash(std::string_view bytes);

}  // namespace converge
