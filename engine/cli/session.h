// What the subcommands share: loading a manifest (and printing every problem), opening its
// providers, the session of a run that records itself (the lock, then the journal), and applying
// a plan with the console and the journal watching. Each function that can fail prints what went
// wrong for people and returns the exit code (0 when it did not fail).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/cli/commands.h"
#include "engine/executor.h"
#include "engine/graph.h"
#include "engine/journal.h"
#include "engine/manifest.h"
#include "engine/plan.h"
#include "engine/run_lock.h"

namespace converge::cli {

// Prints each error as `error: file:line:col: id: what (hint)` and that nothing was changed.
void print_errors(const std::vector<Error>& errors);
// 65 for bad input (a manifest, a plan file, a provider block), 1 for anything else.
int exit_for(const Error& e);

struct Loaded {
  LoadResult lr;
  std::unique_ptr<Graph> graph;
  const Manifest& m() const { return lr.manifest; }
};

// Loads and validates the manifest and builds its graph; a cycle is an error unless
// `allow_cycle`. Returns 0, 64 (unreadable file) or 65 (every problem printed).
int load(const std::string& path, Loaded& out, bool allow_cycle = false);

// Opens the providers a manifest (or a saved plan) declares; relative paths and { file } secrets
// are relative to `manifest_dir`.
Result<ProviderMap> open_providers(const std::vector<ProviderDecl>& decls,
                                   const std::string& manifest_dir, const Common& c);

// What a run that records itself holds: the lock (when it changes the target), then the journal.
struct Session {
  std::optional<RunLock> lock;
  std::unique_ptr<Journal> journal;
};

// Takes the lock when `exclusive` (`what` says who holds it), opens the journal and, when
// exclusive, reports the runs a crash interrupted.
int open_session(const Common& c, bool exclusive, const std::string& what, Session& s);
// Starts a journal run for `plan`; returns its id, or 0 when the journal failed (logged: the run
// goes on unrecorded).
int64_t begin_run(Session& s, const std::string& kind, const Plan& plan, int64_t undoes = 0);
// Ends it with the summary; a successful run remembers the plan's desired state.
void end_run(Session& s, int64_t run, const Plan& plan, const ApplySummary& sum);

// The manifest loaded, its providers open, and its plan.
struct Planned {
  Loaded loaded;
  ProviderMap providers;
  Plan plan;
};

// A run as a straight line: load and validate the manifest; then (with a session) take the lock
// when `exclusive` and open the journal — so an invalid manifest touches nothing —; open the
// providers, observe, plan, check that the plan's secrets resolve and classify its changes.
int make(const Common& c, const std::string& manifest, Planned& out, Session* session = nullptr,
         const std::string& what = "", bool exclusive = true);

// Applies `plan`, printing each change and journaling it as run `run` of the session. With
// `announce`, "Applying N change(s):" comes before the first line. `outcomes`: see execute().
ApplySummary apply_plan(const Plan& plan, ProviderMap& providers, const Common& c,
                        const std::string& base_dir, Session& s, int64_t run, bool announce = true,
                        std::vector<ResourceOutcome>* outcomes = nullptr);

// Prints the apply summary and where the run was recorded.
void print_applied(const ApplySummary& s, Session& session, int64_t run);

// Secrets that planned creates and updates need, unresolvable ones as errors.
std::vector<Error> check_secrets(const Plan& plan, const std::string& base_dir);
bool observe_failed(const Plan& p);
// Writes `text` to `path` whole or not at all: into a new file (mkstemp: created, never opened
// through a link) in the same directory, given `mode`, fsynced, then renamed over `path`. A
// symbolic link at `path` is replaced, never followed. False on failure, the reason logged.
bool write_file(const std::string& path, const std::string& text, unsigned mode = 0600);
std::string dirname_of(const std::string& path);
std::string default_lab_path(const Common& c);
// The state directory (the journal's, by default .converge): created 0700 when missing; an
// existing one named .converge that this user owns loses any group and other permissions.
void secure_state_dir(const std::string& dir);

// "30s", "15m", "1h", "1d", "500ms" (a positive count and a unit).
Result<std::chrono::milliseconds> parse_duration(const std::string& s);

// The run's deadline (--timeout). A thread of its own waits for it, so no blocked provider call
// can hold it up: when it passes, that thread prints what the run was waiting for (the activity
// and the changes in flight) and ends the process with kTimedOut at once. That is as safe as a
// kill: the journal commits each step durably (SQLite WAL) and the next run marks this one
// interrupted; the kernel releases the lock.
inline constexpr int kTimedOut = 124;  // as timeout(1)
// `limit` zero: no deadline. `spelled` is the option as given, for the message.
void configure_deadline(std::chrono::milliseconds limit, const std::string& spelled);
// Starts the clock (again) with the configured limit; disarm stops it (drift --every between
// checks).
void arm_deadline();
void disarm_deadline();
// What the run is doing now, named if the deadline passes ("observing the target", ...).
void set_activity(std::string what);
// A change handed to its provider / answered (the console observer calls these).
void change_started(const std::string& id);
void change_finished(const std::string& id);

// Called with a command's exit code once its output is complete: closes the providers (the lab
// checkpoints its SQLite WAL on close) and ends the process there (session.cpp says why);
// returns `rc` in sanitizer builds.
int finish(int rc, ProviderMap* providers = nullptr);

}  // namespace converge::cli
