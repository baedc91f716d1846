// Executor: applies a Plan in dependency order, independent resources in parallel.
//
// Like ninja's Builder: the scheduler thread (the caller of execute()) owns all state (what is
// ready, running, done) and hands one change, or one batch of changes for a provider that takes
// batches, at a time to a worker in a thread pool (Boost.Asio); workers get immutable inputs (the
// planned resources, their resolved secrets) and return outcomes through a queue. At most
// `parallelism` calls run at once, and at most Provider::max_parallel() per provider.
// A failure marks every resource that depends on it skipped and lets independent work finish.
// Every provider call is wrapped: exceptions become errors, transient errors are retried with
// backoff. Before a change is sent again it is observed: a call that failed transiently may have
// made the change all the same (its answer lost), and a change observed as planned counts as
// applied instead of failing as "already exists" and skipping its dependents.
// A plan whose dependencies form a cycle (possible in a plan file, not from a manifest) fails
// the changes that wait on it and reports them; nothing is silently left out.
//
// Threads: observers are called on the scheduler thread only, never concurrently. Deferred
// checks (checks judged after their dependencies are applied) and changes to retry are observed
// on the scheduler thread too, so Provider::observe() keeps its contract: one thread, never two
// at once.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/plan.h"

namespace converge {

enum class Outcome { kNoop, kApplied, kFailed, kSkipped, kBlocked };

struct ResourceOutcome {
  Outcome outcome = Outcome::kNoop;
  std::optional<Error> error;
  std::string because;  // for skipped: the failed dependency
  int attempts = 0;
};

struct ApplySummary {
  int applied = 0, failed = 0, skipped = 0, blocked = 0, noop = 0;
};

class ApplyObserver {
 public:
  virtual ~ApplyObserver() = default;
  virtual void started(const PlannedResource&) {}
  virtual void finished(const PlannedResource&, const ResourceOutcome&) {}
  // Around each group of started()/finished() calls of one scheduler step: an observer that
  // writes them somewhere durable can do it in one go. Every started() of a group is followed by
  // batch_end() before any of those changes is handed to its provider.
  virtual void batch_begin() {}
  // Not ok when the group could not be recorded. The run then stops: none of the group's
  // changes is handed to a provider; they and every change not yet started are reported failed
  // with this error; calls already running finish and are reported; execute() returns.
  virtual Status batch_end() { return {}; }
};

struct ExecOptions {
  int parallelism = 8;
  int attempts = 3;  // for transient errors
  std::chrono::milliseconds backoff{100};
  std::string secret_base_dir;  // for { file = ... } secrets
};

ApplySummary execute(const Plan& plan, ProviderMap& providers, ApplyObserver& observer,
                     const ExecOptions& opt, std::vector<ResourceOutcome>* outcomes = nullptr);

}  // namespace converge
