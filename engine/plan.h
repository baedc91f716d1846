// Plan: what converge will do, resource by resource, and why.
//
// make_plan() compares the manifest's desired state with what providers observed and decides an
// Action per resource (create, update, delete, no-op, blocked) with attribute-level changes. A
// plan is self-contained: it carries the desired attributes (secret references only, never
// secrets), the observed "before" state and each resource's direct dependencies, so that
// `converge apply plan.json` can apply exactly what was reviewed without the manifest, and can
// refuse when what it observes now differs from "before". Plans are values; the JSON form is
// versioned (format_version "1", documented in README.md).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/api/provider.h"
#include "engine/graph.h"
#include "engine/manifest.h"

namespace converge {

struct Change {
  std::string attr;
  Value before;
  Value after;
  bool sensitive = false;
};

struct PlannedResource {
  std::string id;
  const TypeSpec* type = nullptr;
  std::string provider;
  Action action = Action::kNoop;
  std::vector<Change> changes;
  std::vector<std::string> blocked_by;  // dependencies that block it (root causes first)
  std::string reason;                   // why blocked, or a provider note
  bool restart_required = false;
  bool exists = false;                  // observed to exist when planned
  AttrMap before;                       // observed
  AttrMap desired;                      // declared (secret references only)
  std::vector<std::string> depends_on;  // direct dependencies (ids)
  DriftMode drift = DriftMode::kDefault;
  std::optional<Error> observe_error;
  // A check whose dependencies change in this run is judged after they are applied (the executor
  // observes it again then); until then it is a no-op that says so.
  bool deferred = false;
  // For changes: "intentional" (the manifest changed since the last successful run) or
  // "corrective" (the environment changed under us); empty when there is no earlier run.
  std::string cause;

  ResourceView view() const { return {&id, type, &desired}; }
};

struct PlanSummary {
  int create = 0, update = 0, del = 0, noop = 0, blocked = 0;
  int changes() const { return create + update + del; }
};

struct Plan {
  std::string manifest_path;
  std::string manifest_hash;
  std::string created_at;  // ISO 8601 UTC
  bool allow_destroy = false;
  std::vector<ProviderDecl> providers;
  std::vector<PlannedResource> resources;  // in dependency order
  std::vector<std::string> notes;

  PlanSummary summary() const;
  // The plan file (format_version 1): pretty with indent >= 0, one line with -1; changes_only
  // (the journal's copy) leaves out the no-ops, counting only what it lists, and the changes of
  // creates (their desired attributes say the same).
  std::string to_json(int indent = 2, bool changes_only = false) const;
  static Result<Plan> from_json(const std::string& text, const std::string& path);
};

using ProviderMap = std::map<std::string, std::unique_ptr<Provider>>;

// Observes every resource in `items` (batched: one call per provider and type).
// `items` are views of resources with the name of the provider serving each.
struct ObserveItem {
  ResourceView view;
  std::string provider;
};
std::vector<Observation> observe_all(const std::vector<ObserveItem>& items, ProviderMap& providers,
                                     std::vector<std::string>* notes);
// How observe_all() groups `items`: positions by (provider, type name), one call per group.
using ObserveGroups = std::map<std::pair<std::string, std::string>, std::vector<size_t>>;
ObserveGroups observe_groups(const std::vector<ObserveItem>& items);

struct PlanOptions {
  bool allow_destroy = false;
};

// Observes every resource of `m`, batched; results in manifest order.
struct Observed {
  std::vector<Observation> results;
  std::vector<std::string> notes;
};
Observed observe_manifest(const Manifest& m, ProviderMap& providers);

// REQUIRES: g is acyclic and built from m; `observed` comes from observe_manifest(m).
Plan make_plan(const Manifest& m, const Graph& g, Observed observed, ProviderMap& providers,
               const PlanOptions& opt);
// Observes, then plans.
Plan make_plan(const Manifest& m, const Graph& g, ProviderMap& providers, const PlanOptions& opt);

// Why a check fails ("" when it passes); sets *restart when a failing attribute needs a restart.
std::string check_failure(const TypeSpec& t, const AttrMap& desired, const AttrMap& observed,
                          bool* restart);

// The changes between desired and observed for one present resource (what an update would do).
std::vector<Change> diff(const TypeSpec& t, const AttrMap& desired, const AttrMap& observed,
                         bool creating);

// Values in JSON (plans, journal): null, bool, integer, string, array.
nlohmann::json value_to_json(const Value& v);
Value value_from_json(const nlohmann::json& j);

const char* action_name(Action a);
Result<Action> action_from_name(const std::string& s);

}  // namespace converge
