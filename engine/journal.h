// Journal: a record of every converge run (plan, apply, drift, undo) in one SQLite file.
//
// Write-ahead: begin_run() commits the run's row (status "running", with host and pid) and its
// plan (the changes, not the no-ops) in one transaction before anything is applied. During the
// run a JournalObserver commits each batch of intents before the executor hands those changes to
// a provider, and each batch of outcomes after the calls return; a batch that cannot be committed
// stops the run (ApplyObserver::batch_end()). end_run() closes the row. A run killed at any
// moment is visible as such: the next run marks it "interrupted", together with its intents that
// have no outcome (those changes may or may not have reached the target).
//
// Durability (journal_mode=WAL, synchronous=FULL): a commit returns only after the write-ahead
// log has been fsynced, so everything committed survives a process crash (SIGKILL included) and
// a power loss or OS crash; an uncommitted tail of the log is discarded when the file is next
// opened. (synchronous=NORMAL would fsync the log only at checkpoints: the last commits, intents
// included, could be lost on power loss after the provider was called.) SQLite checkpoints the
// log into the database on its own (every 1000 pages, and when the last connection closes).
// A commit that fails — a full disk ("database or disk is full"), an I/O error — is reported
// and stops the run before the calls whose intents it held (tests/e2e/saved_plan.sh runs with
// the journal on a full filesystem): the target never holds a change the journal does not.
//
// Alongside, the journal keeps, per manifest version, a fingerprint of each resource's desired
// attributes, which tells intentional changes (the manifest changed) from corrective ones (the
// environment changed). Only secret *references* are ever stored, never secrets.
// Thread-safety: none; one thread uses a Journal (the executor calls its observer from the
// scheduler thread only).
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/api/result.h"
#include "engine/executor.h"
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
  // Starts a run: commits its row and the plan's changes (not its no-ops), so that the run can
  // be shown and undone whenever it stops. REQUIRES: no batch is open.
  Result<int64_t> begin_run(const std::string& kind, const Plan& plan, int64_t undoes = 0);
  Status intent(int64_t run, const PlannedResource& r);
  Status outcome(int64_t run, const PlannedResource& r, const ResourceOutcome& o);
  Status end_run(int64_t run, const std::string& status, const std::string& summary);
  // Groups the writes between them into one transaction (one commit for many intents). A
  // commit that fails rolls the batch back; rollback_batch() drops an open batch on purpose.
  Status begin_batch();
  Status commit_batch();
  void rollback_batch();

  Result<std::vector<RunRecord>> runs(int limit);
  Result<RunRecord> run(int64_t id);
  Result<std::vector<ChangeRecord>> changes(int64_t run);
  // The stored plan of a run (changed resources only).
  Result<Plan> plan_of(int64_t run);
  // Resources among `ids` that a later run changed (applied) after `run`.
  Result<std::set<std::string>> changed_after(int64_t run, const std::set<std::string>& ids);

  // Plan files written by `converge plan --out`, by the SHA-256 of their bytes: apply tells a
  // plan made with this state directory from one that was not.
  Status remember_plan_file(int64_t run, const std::string& sha256, const std::string& path);
  // When the plan file with these bytes was written here (run 0: the plan run was unrecorded).
  struct PlanFileRecord {
    int64_t run = 0;
    std::string path, written;
  };
  Result<std::optional<PlanFileRecord>> plan_file(const std::string& sha256);

  // Fingerprints of desired attributes for the manifest version of `plan` (stored once per hash).
  Status remember_desired(const Plan& plan);
  // The manifest hash of the last successful run of the manifest at `path`, if any.
  Result<std::optional<std::string>> last_success_hash(const std::string& path);
  Result<std::map<std::string, std::string>> desired_fingerprints(const std::string& manifest_hash);

  const std::string& path() const { return path_; }

 private:
  Journal() = default;
  Status exec(const char* sql);
  Error err(const std::string& what) const;
  sqlite3_stmt* cached(const char* sql);
  sqlite3* db_ = nullptr;
  void forget_batch();
  std::map<const char*, sqlite3_stmt*> cache_;  // by the address of the statement's text
  std::string path_;
  std::unordered_map<std::string, int64_t> seq_;  // "run|resource" -> change seq
  std::vector<std::string> batch_keys_;           // keys of seq_ added in the open batch
};

// Journals a run as the executor goes: each change's intent before its provider is called, its
// outcome after, a batch per transaction. batch_end() returns the batch's first failure (a write
// or the commit; the batch is then rolled back), which stops the run. Every call is passed on to
// `next` (e.g. the console). REQUIRES: `j` and `next` outlive it; run is begin_run()'s id.
class JournalObserver : public ApplyObserver {
 public:
  JournalObserver(Journal& j, int64_t run, ApplyObserver& next) : j_(j), run_(run), next_(next) {}
  void started(const PlannedResource& r) override;
  void finished(const PlannedResource& r, const ResourceOutcome& o) override;
  void batch_begin() override;
  Status batch_end() override;

 private:
  void keep(const Status& s);
  Journal& j_;
  int64_t run_;
  ApplyObserver& next_;
  bool open_ = false;           // a batch transaction is open
  std::optional<Error> error_;  // the open batch's first failure
};

std::string canonical_manifest(const std::string& path);

// Fingerprint of a resource's desired attributes (FNV-1a over their JSON-free encoding).
std::string desired_fingerprint(const AttrMap& desired);

// Intentional or corrective, per changed resource of `plan`, against the last successful run.
void classify_changes(Journal& j, Plan& plan);

// The journal path: --journal, else CONVERGE_JOURNAL, else journal.sqlite beside the lab.
std::string default_journal_path(const std::string& lab_path);

}  // namespace converge
