#include "engine/cli/console.h"

#include <iostream>

#include "engine/cli/session.h"
#include "engine/render.h"
#include "engine/secrets.h"

namespace converge::cli {
namespace {

const char* verb_of(const PlannedResource& r, Outcome o) {
  switch (o) {
    case Outcome::kApplied:
      return r.action == Action::kCreate   ? "created"
             : r.action == Action::kDelete ? "deleted"
                                           : "updated";
    case Outcome::kFailed:
      return r.deferred ? "CHECK FAILED" : "FAILED";
    case Outcome::kSkipped:
      return "skipped";
    default:
      return "";
  }
}

}  // namespace

void ConsoleObserver::started(const PlannedResource& r) { change_started(r.id); }

void ConsoleObserver::finished(const PlannedResource& r, const ResourceOutcome& o) {
  change_finished(r.id);
  if (o.outcome == Outcome::kNoop && r.deferred) {
    start();
    std::cout << "  ? " << r.id << ": check passed\n" << std::flush;
    return;
  }
  if (o.outcome == Outcome::kNoop || o.outcome == Outcome::kBlocked) return;
  ++n_;
  std::string line = "  [" + std::to_string(n_) + "/" + std::to_string(total_) + "] " +
                     action_symbol(r.action) + " " + r.id + ": " + verb_of(r, o.outcome);
  if (o.outcome == Outcome::kFailed && o.error)
    line += ": " + redact_secrets(o.error->message +
                                  (o.error->hint.empty() ? "" : " (" + o.error->hint + ")"));
  if (o.outcome == Outcome::kSkipped) line += " (" + o.because + " did not apply)";
  if (color_ && o.outcome == Outcome::kFailed) line = "\033[31m" + line + "\033[0m";
  start();
  std::cout << line << "\n";
}

Status ConsoleObserver::batch_end() {
  if (started_) std::cout << std::flush;
  return {};
}

void ConsoleObserver::start() {
  if (started_) return;
  started_ = true;
  std::cout << header_;
}

}  // namespace converge::cli
