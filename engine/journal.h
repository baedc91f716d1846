// Journal: a record of every converge run (plan, apply, drift, undo) in one SQLite file.
//
// A run row is written when a run starts (status "running", with host and pid) and closed when
// it ends. Each change's intent is written before the provider is called and its outcome after,
// so a run killed at any moment is visible as such: the next run marks it "interrupted".
// Alongside, the journal keeps, per manifest version, a fingerprint of each resource's desired
// attributes, which tells intentional changes (the manifest changed) from corrective ones (the
// environment changed). Only secret *references* are ever stored, never secrets.
// Thread-safety: none; the executor calls it from its scheduler thread only.
#pragma once

#include <sqlite3.h>

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/api/result.h"
#include "engine/executor.h"
#include "engine/json_writer.h"
#include "engine/plan.h"

namespace converge {

struct RunRecord {
  int64_t id = 0;
  std::string kind;  // plan, run, apply, drift, undo
  std::string manifest;
  std::string manifest_hash;
  std::string started, finished;
  std::string status;  // running, succeeded, failed, interrupted
  std::string host;
  int64_t pid = 0;
  std::string summary;  // free text, e.g. "3 applied, 0 failed"
  int64_t undoes = 0;   // for undo runs: the run undone
};

struct ChangeRecord {
  int64_t run = 0;
  int64_t seq = 0;
  std::string resource;
  std::string type;
  std::string action;
  std::string status;  // intent, applied, failed, skipped
  std::string error;
  std::string changes_json;  // [{"attribute","before","after"}], secrets as "(sensitive)"
};

class Journal {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::string& path);
  ~Journal();

  // Runs left "running" by a process that is gone become "interrupted"; returns them.
  Result<std::vector<RunRecord>> recover_interrupted();
  // Starts a run; stores the plan's changes (not its no-ops) so the run can be shown and undone.
  // The plan is written out on a thread of its own (`plan` must stay alive and unchanged until
  // end_run()) and stored with the first batch committed after that, or by end_run().
  Result<int64_t> begin_run(const std::string& kind, const Plan& plan, int64_t undoes = 0);
  Status intent(int64_t run, const PlannedResource& r);
  Status outcome(int64_t run, const PlannedResource& r, const ResourceOutcome& o);
  Status end_run(int64_t run, const std::string& status, const std::string& summary);
  // Groups the writes between them into one transaction (one commit for many intents).
  Status begin_batch();
  Status commit_batch();

  Result<std::vector<RunRecord>> runs(int limit);
  Result<RunRecord> run(int64_t id);
  Result<std::vector<ChangeRecord>> changes(int64_t run);
  // The stored plan of a run (changed resources only).
  Result<Plan> plan_of(int64_t run);
  // Resources among `ids` that a later run changed (applied) after `run`.
  Result<std::set<std::string>> changed_after(int64_t run, const std::set<std::string>& ids);

  // Fingerprints of desired attributes for the manifest version of `plan` (stored once per hash).
  Status remember_desired(const Plan& plan);
  // The manifest hash of the last successful run of the manifest at `path`, if any.
  Result<std::optional<std::string>> last_success_hash(const std::string& path);
  Result<std::map<std::string, std::string>> desired_fingerprints(const std::string& manifest_hash);

  const std::string& path() const { return path_; }
  // Moves what earlier runs wrote to the write-ahead log into the database file, on a thread of
  // its own with a connection of its own, so that no run waits for the fsync.
  void checkpoint_in_background();

 private:
  Journal() = default;
  Status exec(const char* sql);
  Error err(const std::string& what) const;
  sqlite3_stmt* cached(const char* sql);
  sqlite3* db_ = nullptr;
  std::map<const char*, sqlite3_stmt*> cache_;  // by the address of the statement's text
  std::thread checkpointer_;
  // begin_run()'s plan as JSON, being written out; stored in the plans table by the connection
  // itself (a second connection would wait for this one's write lock with SQLite's sleeping
  // busy handler while the changes are journaled).
  std::future<std::string> plan_json_;
  int64_t plan_run_ = 0;
  Status store_plan(bool wait);
  std::string path_;
  JsonWriter intent_json_;                        // reused by intent()
  std::unordered_map<std::string, int64_t> seq_;  // "run|resource" -> change seq
};

std::string canonical_manifest(const std::string& path);

// Fingerprint of a resource's desired attributes (FNV-1a over their JSON-free encoding).
std::string desired_fingerprint(const AttrMap& desired);

// Intentional or corrective, per changed resource of `plan`, against the last successful run.
void classify_changes(Journal& j, Plan& plan);

// The journal path: --journal, else CONVERGE_JOURNAL, else journal.sqlite beside the lab.
std::string default_journal_path(const std::string& lab_path);

}  // namespace converge
