#include "engine/cli/session.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "engine/cli/console.h"
#include "engine/cli/providers.h"
#include "engine/render.h"
#include "engine/secrets.h"

namespace converge::cli {
namespace {

std::string summary_text(const ApplySummary& s) {
  return std::to_string(s.applied) + " applied, " + std::to_string(s.failed) + " failed, " +
         std::to_string(s.skipped) + " skipped, " + std::to_string(s.blocked) + " blocked, " +
         std::to_string(s.noop) + " unchanged";
}

size_t count_changes(const Plan& plan) {
  size_t n = 0;
  for (const auto& r : plan.resources)
    if (r.action == Action::kCreate || r.action == Action::kUpdate || r.action == Action::kDelete)
      ++n;
  return n;
}

}  // namespace

void print_errors(const std::vector<Error>& errors) {
  for (const auto& e : errors) std::cerr << "error: " << e.str() << "\n";
  if (errors.size() > 1)
    std::cerr << errors.size() << " errors; nothing was changed.\n";
  else if (!errors.empty())
    std::cerr << "nothing was changed.\n";
}

int exit_for(const Error& e) { return e.kind == ErrorKind::kInvalid ? kInvalid : kFailed; }

int load(const std::string& path, Loaded& out, bool allow_cycle) {
  out.lr = load_manifest_file(path, provider_kinds());
  if (!out.lr.ok()) {
    print_errors(out.lr.errors);
    return out.lr.errors.front().kind == ErrorKind::kIo ? kUsage : kInvalid;
  }
  std::vector<Error> errors;
  out.graph = Graph::build(out.lr.manifest, &errors);
  if (!allow_cycle)
    if (auto cycle = out.graph->find_cycle()) {
      Error e = Error::Invalid("dependency cycle: " + describe_cycle(out.lr.manifest, *cycle),
                               "remove one of these dependencies");
      e.loc = cycle->front().loc;
      errors.push_back(std::move(e));
    }
  if (!errors.empty()) {
    print_errors(errors);
    return kInvalid;
  }
  return 0;
}

Result<ProviderMap> open_providers(const std::vector<ProviderDecl>& decls,
                                   const std::string& manifest_dir, const Common& c) {
  ProviderMap out;
  for (const auto& d : decls) {
    ProviderConfig cfg;
    cfg.name = d.name;
    cfg.type = d.type;
    cfg.settings = d.settings;
    cfg.loc = d.loc;
    cfg.manifest_dir = manifest_dir;
    cfg.lab_path = c.lab_path;
    cfg.resolve_secret = [manifest_dir](const std::string& ref) {
      return resolve_secret(ref, manifest_dir);
    };
    auto p = make_provider(cfg);
    if (!p.ok()) return Error(p.error()).on("provider." + d.name);
    out[d.name] = std::move(*p);
  }
  return out;
}

int open_session(const Common& c, bool exclusive, const std::string& what, Session& s) {
  std::string jp = c.journal_path.empty() ? default_journal_path(c.lab_path) : c.journal_path;
  if (exclusive) {
    auto lock = RunLock::acquire(jp + ".lock", c.wait, what);
    if (!lock.ok()) {
      print_errors({lock.error()});
      return kFailed;
    }
    s.lock.emplace(std::move(*lock));
  }
  auto j = Journal::open(jp);
  if (!j.ok()) {
    print_errors({j.error()});
    return kFailed;
  }
  s.journal = std::move(*j);
  if (exclusive) {
    auto gone = s.journal->recover_interrupted();
    if (gone.ok())
      for (const auto& r : *gone)
        std::cout << "note: run " << r.id << " (" << r.kind << ", started " << r.started
                  << ") was interrupted; converging from the state it left.\n";
  }
  return 0;
}

int64_t begin_run(Session& s, const std::string& kind, const Plan& plan, int64_t undoes) {
  auto id = s.journal->begin_run(kind, plan, undoes);
  if (!id.ok()) {
    spdlog::error("{}", id.error().str());
    return 0;
  }
  return *id;
}

void end_run(Session& s, int64_t run, const Plan& plan, const ApplySummary& sum) {
  bool ok = sum.failed == 0 && sum.skipped == 0;
  Status st = s.journal->end_run(run, ok ? "succeeded" : "failed", summary_text(sum));
  if (!st.ok()) spdlog::error("{}", st.error().str());
  if (ok) {
    Status d = s.journal->remember_desired(plan);
    if (!d.ok()) spdlog::error("{}", d.error().str());
  }
}

int make(const Common& c, const std::string& manifest, Planned& out, Session* session,
         const std::string& what, bool exclusive) {
  if (int rc = load(manifest, out.loaded)) return rc;
  if (session)
    if (int rc = open_session(c, exclusive, what, *session)) return rc;
  const Manifest& m = out.loaded.m();
  auto providers = open_providers(m.providers, m.dir, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  out.providers = std::move(*providers);
  PlanOptions po;
  po.allow_destroy = c.allow_destroy;
  out.plan = make_plan(m, *out.loaded.graph, out.providers, po);
  auto secret_errors = check_secrets(out.plan, m.dir);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  if (session) classify_changes(*session->journal, out.plan);
  return 0;
}

ApplySummary apply_plan(const Plan& plan, ProviderMap& providers, const Common& c,
                        const std::string& base_dir, Session& s, int64_t run, bool announce,
                        std::vector<ResourceOutcome>* outcomes) {
  size_t changes = count_changes(plan);
  std::string header;
  if (announce && changes) header = "\nApplying " + std::to_string(changes) + " change(s):\n";
  ConsoleObserver console(c.color, changes, header);
  JournalObserver obs(*s.journal, run, console);
  ExecOptions opt;
  opt.parallelism = c.parallelism;
  opt.secret_base_dir = base_dir;
  ApplySummary sum = execute(plan, providers, obs, opt, outcomes);
  console.start();
  return sum;
}

void print_applied(const ApplySummary& s, Session& session, int64_t run) {
  std::cout << "\n" << render_apply_summary(s) << "\n";
  if (run) std::cout << "Recorded as run " << run << " in " << session.journal->path() << ".\n";
}

std::vector<Error> check_secrets(const Plan& plan, const std::string& base_dir) {
  std::vector<Error> errors;
  for (const auto& r : plan.resources) {
    if (r.action != Action::kCreate && r.action != Action::kUpdate) continue;
    for (const auto& a : r.type->attrs) {
      if (a.type != AttrType::kSecret) continue;
      auto it = r.desired.find(a.name);
      if (it == r.desired.end() || it->second.is_null()) continue;
      auto s = resolve_secret(it->second.text(), base_dir);
      if (!s.ok()) errors.push_back(Error(s.error()).on(r.id));
    }
  }
  return errors;
}

bool observe_failed(const Plan& p) {
  for (const auto& r : p.resources)
    if (r.observe_error) return true;
  return false;
}

bool write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string default_lab_path(const Common& c) {
  return c.lab_path.empty() ? ".converge/lab.sqlite" : c.lab_path;
}

#if defined(__SANITIZE_ADDRESS__)
#define CONVERGE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVERGE_SANITIZED 1
#endif
#endif

// Ends the process once a command's output is complete instead of freeing the manifest, graph
// and plan one node at a time: on a no-op plan of 100,000 lab resources (gen_lab_bench.py) that
// teardown is 12-16% of the wall time (median 4.6 s vs 4.1 s, best 3.5 s vs 2.5 s, measured
// interleaved), which the OS does for free by dropping the pages. Sanitizer builds return
// normally so that leak checking sees everything freed.
int finish(int rc, ProviderMap* providers) {
  if (providers) providers->clear();
#ifndef CONVERGE_SANITIZED
  std::cout.flush();
  std::cerr.flush();
  spdlog::shutdown();
  std::fflush(nullptr);
  _exit(rc);
#endif
  return rc;
}

}  // namespace converge::cli
