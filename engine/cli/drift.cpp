// `converge drift MANIFEST`: a plan read as a drift check (engine/drift_report.h), printed,
// optionally corrected, reported and written as metrics; `--every` repeats it until a signal.
#include <poll.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <random>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/drift_report.h"
#include "engine/render.h"
#include "engine/secrets.h"
#include "engine/values.h"

namespace converge::cli {
namespace {

int g_signal_pipe[2] = {-1, -1};
void on_signal(int) {
  char b = 1;
  ssize_t n = write(g_signal_pipe[1], &b, 1);
  (void)n;
}

void print_drift(const DriftReport& rep, const std::string& manifest) {
  std::cout << "Drift check of " << manifest << ":\n";
  for (const auto& d : rep.resources) {
    std::cout << "  " << action_symbol(d.action) << " " << d.id
              << (d.drift == DriftMode::kMonitor ? " (monitor only)" : "")
              << (d.cause.empty() ? "" : " (" + d.cause + ")") << "\n";
    for (const auto& a : d.attributes)
      std::cout << "      " << a.attribute << ": expected " << a.expected << ", observed "
                << a.observed << "\n";
    if (d.action == Action::kBlocked) std::cout << "      " << d.reason << "\n";
  }
  if (rep.drifted() == 0)
    std::cout << "  no drift (" << rep.checked << " resources checked)\n";
  else
    std::cout << rep.drifted() << " resource(s) drifted.\n";
}

// One drift check; returns 0 (no drift), 2 (drift), 1 (the run itself failed) or 65.
// `last`: nothing follows it, so it ends through finish().
int drift_once(const Common& c, const DriftArgs& a, bool last = false) {
  auto t0 = std::chrono::steady_clock::now();
  Planned p;
  Session session;
  // Correcting changes the target: take the lock. A check alone only reads.
  if (int rc = make(c, a.manifest, p, &session, "converge drift --correct " + a.manifest,
                    /*exclusive=*/a.correct))
    return rc == kInvalid ? kInvalid : kFailed;
  if (observe_failed(p.plan)) {
    for (const auto& r : p.plan.resources)
      if (r.observe_error)
        std::cerr << "error: " << r.id << ": " << redact_secrets(r.reason) << "\n";
    return kFailed;
  }
  DriftReport rep = find_drift(p.plan, a.correct);
  rep.manifest = a.manifest;
  int64_t run = begin_run(session, "drift", p.plan);
  rep.run_id = run;
  print_drift(rep, a.manifest);
  ApplySummary sum;
  std::vector<ResourceOutcome> outcomes;
  if (rep.correcting() > 0 && !run) {
    std::cerr << "error: the journal cannot record this run (see above); drift was not "
                 "corrected.\n";
    rep.failed = static_cast<int>(rep.correcting());
  } else if (rep.correcting() > 0) {
    size_t changes = p.plan.summary().changes();
    std::cout << "\nCorrecting " << changes << " resource(s):\n";
    sum = apply_plan(p.plan, p.providers, c, p.loaded.m().dir, session, run, /*announce=*/false,
                     &outcomes);
    std::cout << render_apply_summary(sum) << "\n";
  }
  record_corrections(rep, sum, outcomes);
  std::string status = rep.failed ? "failed" : rep.clean() ? "succeeded" : "drifted";
  if (run) {
    Status st = session.journal->end_run(run, status,
                                         std::to_string(rep.checked) + " checked, " +
                                             std::to_string(rep.drifted()) + " drifted, " +
                                             std::to_string(rep.corrected) + " corrected, " +
                                             std::to_string(rep.failed) + " failed");
    if (!st.ok()) spdlog::error("{}", st.error().str());
    if (rep.clean() && !rep.failed) (void)session.journal->remember_desired(p.plan);
  }
  rep.time = now_iso();
  rep.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int rc = rep.failed ? kFailed : rep.drifted() ? kChangesPending : kOk;
  set_activity("writing the report and metrics");
  if (!a.report.empty() && !write_file(a.report, drift_report_json(rep))) {
    std::cerr << "error: cannot write report " << a.report << "\n";
    rc = kFailed;
  }
  if (!a.metrics.empty()) {
    int64_t last_ok = rc != kFailed ? epoch_of(rep.time) : 0;
    if (!last_ok)
      if (auto runs = session.journal->runs(1000); runs.ok())
        last_ok = last_drift_success(*runs, run);
    // 0644: node_exporter's textfile collector runs as its own user; metrics are counts and
    // timestamps, nothing about the target's contents.
    if (!write_file(a.metrics, drift_metrics(rep, last_ok), 0644)) {
      std::cerr << "error: cannot write metrics " << a.metrics << "\n";
      rc = kFailed;
    }
  }
  if (!last) return rc;
  session.journal.reset();
  return finish(rc, &p.providers);
}

}  // namespace

int cmd_drift(const Common& c, const DriftArgs& a) {
  if (a.every.empty()) return drift_once(c, a, /*last=*/true);
  auto every = parse_duration(a.every);
  if (!every.ok()) {
    std::cerr << "error: --every: " << every.error().str() << "\n";
    return kUsage;
  }
  if (pipe(g_signal_pipe) != 0) return kFailed;
  // One log line per run goes to stderr even without -v.
  for (auto& sink : spdlog::default_logger()->sinks())
    if (sink->level() > spdlog::level::info) sink->set_level(spdlog::level::info);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::mt19937 rng(std::random_device{}());
  int last = kOk;
  for (int run = 1;; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    arm_deadline();  // --timeout bounds each check, not the schedule
    last = drift_once(c, a);
    disarm_deadline();
    forget_secrets();  // each check reads its secrets afresh: a rotated one is picked up
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    spdlog::info("drift run {}: {} in {} ms", run,
                 last == kOk               ? "no drift"
                 : last == kChangesPending ? "drift"
                                           : "failed",
                 ms);
    // Next run after the interval plus up to 5% jitter; a signal ends the wait (and the loop).
    long jitter = static_cast<long>(every->count() / 20);
    long wait = every->count() + (jitter > 0 ? static_cast<long>(rng() % jitter) : 0);
    pollfd pfd{g_signal_pipe[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<long>(wait, 0x7fffffff))) > 0) {
      spdlog::info("drift: stopping on signal after run {}", run);
      break;
    }
  }
  return last == kFailed ? kFailed : kOk;
}

}  // namespace converge::cli
