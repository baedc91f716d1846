// Drift: what a drift check found in a plan, and the two files it can write about it — the JSON
// report (`--report`, format_version "1", README "Drift, the journal and undo") and Prometheus
// text-format metrics (`--metrics`, for node_exporter's textfile collector).
//
// A drift check is a plan of the manifest: every resource whose action is not a no-op drifted.
// find_drift() decides per drifted resource whether this run corrects it (drift = "correct"
// always, "default" when the command line says --correct, "monitor" never, blocked never) and
// turns the others into no-ops in the plan, so that executing the plan changes only what is
// corrected. Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/journal.h"
#include "engine/plan.h"

namespace converge {

struct DriftAttribute {
  std::string attribute, expected, observed;  // values as Value::repr(); secrets "(sensitive)"
  // The same values as JSON values of the attribute's type, for the report.
  nlohmann::json expected_json, observed_json;
};

struct DriftedResource {
  size_t index = 0;  // position in the plan's resources
  std::string id;
  std::string type;
  Action action = Action::kNoop;  // what correcting it does (create, update, delete) or blocked
  DriftMode drift = DriftMode::kDefault;
  std::string cause;   // intentional / corrective / ""
  std::string reason;  // why blocked, or a provider note
  std::vector<DriftAttribute> attributes;
  bool correcting = false;  // this run corrects it
  bool corrected = false;   // ...and it was applied
  bool check = false;       // a failing check judged again after the corrections it waits for
};

struct DriftReport {
  int64_t run_id = 0;
  std::string time;  // ISO 8601 UTC
  std::string manifest;
  std::string manifest_hash;
  size_t checked = 0;  // resources in the plan
  int corrected = 0;
  int failed = 0;  // corrections that failed or were skipped
  double duration_seconds = 0;
  std::vector<DriftedResource> resources;  // the drifted ones, in plan order

  int drifted() const { return static_cast<int>(resources.size()); }
  int correcting() const;
  bool clean() const { return drifted() == corrected; }
};

// Finds the drift in `plan` (see above); sets checked, manifest_hash and resources.
DriftReport find_drift(Plan& plan, bool correct);

// Records what executing the plan did: `outcomes` has one entry per plan resource.
void record_corrections(DriftReport& report, const ApplySummary& sum,
                        const std::vector<ResourceOutcome>& outcomes);

std::string drift_report_json(const DriftReport& report);
// `last_success`: Unix time of the last drift run that did not fail (0: none).
std::string drift_metrics(const DriftReport& report, int64_t last_success);

// The Unix time a drift run among `runs` (newest first) last finished without failing, other
// than run `except`; 0 when none did.
int64_t last_drift_success(const std::vector<RunRecord>& runs, int64_t except);
// Seconds since the epoch of an ISO 8601 UTC time as now_iso() writes it; 0 when unreadable.
int64_t epoch_of(const std::string& iso);

const char* drift_mode_name(DriftMode m);

}  // namespace converge
