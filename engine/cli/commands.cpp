#include "engine/cli/commands.h"

#include <poll.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "engine/executor.h"
#include "engine/graph.h"
#include "engine/journal.h"
#include "engine/manifest.h"
#include "engine/manifest_cache.h"
#include "engine/noop_memo.h"
#include "engine/plan.h"
#include "engine/render.h"
#include "engine/run_lock.h"
#include "engine/schema_export.h"
#include "engine/secrets.h"
#include "engine/values.h"
#include "providers/lab/lab_provider.h"
#include "providers/registry.h"

namespace converge::cli {
namespace {

void print_errors(const std::vector<Error>& errors) {
  for (const auto& e : errors) std::cerr << "error: " << e.str() << "\n";
  if (errors.size() > 1)
    std::cerr << errors.size() << " errors; nothing was changed.\n";
  else if (!errors.empty())
    std::cerr << "nothing was changed.\n";
}

int exit_for(const Error& e) { return e.kind == ErrorKind::kInvalid ? kInvalid : kFailed; }

#if defined(__SANITIZE_ADDRESS__)
#define CONVERGE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVERGE_SANITIZED 1
#endif
#endif

// Ends the process once a command's output is complete, like ninja: freeing a 100,000-resource
// manifest, graph and plan one node at a time costs more than the OS reclaiming the pages.
// Sanitizer builds return normally so that leak checking sees everything freed.
// Providers are closed first (the lab checkpoints its SQLite WAL on close).
// When the process (its static initialisation) started: phases say when they ended too.
const auto g_started = std::chrono::steady_clock::now();

int finish(int rc, ProviderMap* providers = nullptr) {
  if (providers) providers->clear();
  spdlog::debug(
      "exit {} at +{:.1f} ms", rc,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_started)
          .count());
#ifndef CONVERGE_SANITIZED
  std::cout.flush();
  std::cerr.flush();
  spdlog::shutdown();
  std::fflush(nullptr);
  _exit(rc);
#endif
  return rc;
}

// Logs how long a phase took (-vv), so slow runs can be explained without a profiler.
struct PhaseTimer {
  const char* what;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit PhaseTimer(const char* w) : what(w) {}
  ~PhaseTimer() {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration<double, std::milli>(now - t0).count();
    auto at = std::chrono::duration<double, std::milli>(now - g_started).count();
    spdlog::debug("{}: {:.1f} ms (done at +{:.1f} ms)", what, ms, at);
  }
};

struct Loaded {
  LoadResult lr;
  std::unique_ptr<Graph> graph;
  // Writes the compiled manifest into the cache: called once the run got as far as a plan, so
  // that input the run rejects (a cycle, a provider that cannot be configured) leaves nothing.
  std::function<void()> store_cache;
  bool from_cache = false;  // the compiled manifest came from the cache
  const Manifest& m() const { return lr.manifest; }
};

// Loads and validates the manifest, printing every problem. Returns 0 or an exit code.
// `cache_dir` non-empty: through the compiled-manifest cache there (engine/manifest_cache.h).
int load_only(const std::string& path, Loaded& out, const std::string& cache_dir = "",
              const EarlyHint& hint = {}) {
  PhaseTimer t("load manifest");
  bool hit = false;
  out.lr = cache_dir.empty() ? load_manifest_file(path, provider_kinds())
                             : load_manifest_cached(path, provider_kinds(), cache_dir, &hit, hint,
                                                    &out.store_cache);
  if (hit) spdlog::debug("manifest {}: compiled form from the cache", path);
  out.from_cache = hit;
  if (!out.lr.ok()) {
    print_errors(out.lr.errors);
    return out.lr.errors.front().kind == ErrorKind::kIo ? kUsage : kInvalid;
  }
  return 0;
}

// Builds the graph of a loaded manifest; contradictions and cycles are printed. Returns 0 or 65.
int build_graph(Loaded& out, bool allow_cycle = false) {
  std::vector<Error> errors;
  PhaseTimer t("build graph");
  out.graph = Graph::build(out.lr.manifest, &errors);
  if (!allow_cycle) {
    if (auto cycle = out.graph->find_cycle()) {
      Error e = Error::Invalid("dependency cycle: " + describe_cycle(out.lr.manifest, *cycle),
                               "remove one of these dependencies");
      e.loc = cycle->front().loc;
      errors.push_back(std::move(e));
    }
  }
  if (!errors.empty()) {
    print_errors(errors);
    return kInvalid;
  }
  return 0;
}

// Loads, validates and builds the graph; prints every problem. Returns 0 or an exit code.
int load(const std::string& path, Loaded& out, bool allow_cycle = false) {
  if (int rc = load_only(path, out)) return rc;
  return build_graph(out, allow_cycle);
}

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
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

// Secrets needed by planned creates must resolve before anything is applied.
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

class ConsoleObserver : public ApplyObserver {
 public:
  // `header` goes out before the first line, once `before` (what must be printed first, e.g. the
  // plan being printed by another thread) is done.
  ConsoleObserver(bool color, size_t total, std::string header = "",
                  std::shared_future<void> before = {})
      : color_(color), total_(total), header_(std::move(header)), before_(std::move(before)) {}
  void finished(const PlannedResource& r, const ResourceOutcome& o) override {
    if (o.outcome == Outcome::kNoop && r.deferred) {
      start();
      std::cout << "  ? " << r.id << ": check passed\n" << std::flush;
      return;
    }
    if (o.outcome == Outcome::kNoop || o.outcome == Outcome::kBlocked) return;
    ++n_;
    std::string verb;
    switch (o.outcome) {
      case Outcome::kApplied:
        verb = r.action == Action::kCreate   ? "created"
               : r.action == Action::kDelete ? "deleted"
                                             : "updated";
        break;
      case Outcome::kFailed:
        verb = r.deferred ? "CHECK FAILED" : "FAILED";
        break;
      case Outcome::kSkipped:
        verb = "skipped";
        break;
      default:
        break;
    }
    std::string line = "  [" + std::to_string(n_) + "/" + std::to_string(total_) + "] " +
                       action_symbol(r.action) + " " + r.id + ": " + verb;
    if (o.outcome == Outcome::kFailed && o.error)
      line += ": " + o.error->message + (o.error->hint.empty() ? "" : " (" + o.error->hint + ")");
    if (o.outcome == Outcome::kSkipped) line += " (" + o.because + " did not apply)";
    if (color_ && o.outcome == Outcome::kFailed) line = "\033[31m" + line + "\033[0m";
    start();
    std::cout << line << "\n";
  }
  // Lines go out a batch of results at a time (one write, not one per change).
  void batch_end() override {
    if (started_) std::cout << std::flush;
  }
  // Prints what comes before the first line (also when there is none).
  void start() {
    if (started_) return;
    started_ = true;
    if (before_.valid()) before_.wait();
    std::cout << header_;
  }

 private:
  bool color_;
  size_t total_;
  size_t n_ = 0;
  std::string header_;
  std::shared_future<void> before_;
  bool started_ = false;
};

// Writes each change's intent before the provider is called and its outcome after.
class JournalObserver : public ApplyObserver {
 public:
  JournalObserver(Journal* j, int64_t run, ApplyObserver& next) : j_(j), run_(run), next_(next) {}
  void started(const PlannedResource& r) override {
    if (j_) report(j_->intent(run_, r));
    next_.started(r);
  }
  void finished(const PlannedResource& r, const ResourceOutcome& o) override {
    if (j_ && o.outcome != Outcome::kNoop && o.outcome != Outcome::kBlocked)
      report(j_->outcome(run_, r, o));
    next_.finished(r, o);
  }
  void batch_begin() override {
    if (j_) report(j_->begin_batch());
    next_.batch_begin();
  }
  void batch_end() override {
    if (j_) report(j_->commit_batch());
    next_.batch_end();
  }

 private:
  void report(const Status& s) {
    if (!s.ok()) spdlog::error("{}", s.error().str());
  }
  Journal* j_;
  int64_t run_;
  ApplyObserver& next_;
};

// `printing`: the plan still being printed by another thread; the apply's lines follow it.
ApplySummary run_plan(const Plan& plan, ProviderMap& providers, const Common& c,
                      const std::string& base_dir, Journal* journal = nullptr, int64_t run = 0,
                      std::shared_future<void> printing = {}) {
  size_t changes = 0;
  for (const auto& r : plan.resources)
    if (r.action == Action::kCreate || r.action == Action::kUpdate || r.action == Action::kDelete)
      ++changes;
  ConsoleObserver console(
      c.color, changes,
      changes ? "\nApplying " + std::to_string(changes) + " change(s):\n" : std::string(),
      std::move(printing));
  JournalObserver obs(journal, run, console);
  ExecOptions opt;
  opt.parallelism = c.parallelism;
  opt.secret_base_dir = base_dir;
  ApplySummary sum = execute(plan, providers, obs, opt);
  console.start();
  return sum;
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

struct Planned {
  Loaded loaded;
  ProviderMap providers;
  Plan plan;
  // The plan is known from its memo (noop_memo.h): it lists no resources, and the manifest
  // holds its header only.
  bool from_memo = false;
};

// What a run that changes the target holds: the lock, then the journal.
struct Session {
  std::optional<RunLock> lock;
  std::unique_ptr<Journal> journal;
};

std::string journal_path(const Common& c) {
  return c.journal_path.empty() ? default_journal_path(c.lab_path) : c.journal_path;
}

// Opens the journal (and takes the lock when `exclusive`), reporting runs a crash interrupted.
int open_session(const Common& c, bool exclusive, const std::string& what, Session& s) {
  std::string jp = journal_path(c);
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
  s.journal->checkpoint_in_background();
  if (exclusive) {
    auto gone = s.journal->recover_interrupted();
    if (gone.ok())
      for (const auto& r : *gone)
        std::cout << "note: run " << r.id << " (" << r.kind << ", started " << r.started
                  << ") was interrupted; converging from the state it left.\n";
  }
  return 0;
}

std::string summary_text(const ApplySummary& s) {
  return std::to_string(s.applied) + " applied, " + std::to_string(s.failed) + " failed, " +
         std::to_string(s.skipped) + " skipped, " + std::to_string(s.blocked) + " blocked, " +
         std::to_string(s.noop) + " unchanged";
}

// Starts a journal run for `plan`; returns its id (0 when the journal failed: the run goes on).
int64_t begin(Session& s, const std::string& kind, const Plan& plan, int64_t undoes = 0) {
  auto id = s.journal->begin_run(kind, plan, undoes);
  if (!id.ok()) {
    spdlog::error("{}", id.error().str());
    return 0;
  }
  return *id;
}

void end(Session& s, int64_t run, const Plan& plan, const ApplySummary& sum) {
  bool ok = sum.failed == 0 && sum.skipped == 0;
  Status st = s.journal->end_run(run, ok ? "succeeded" : "failed", summary_text(sum));
  if (!st.ok()) spdlog::error("{}", st.error().str());
  if (ok) {
    Status d = s.journal->remember_desired(plan);
    if (!d.ok()) spdlog::error("{}", d.error().str());
  }
}

// Loads and validates the manifest; then (when `session` is given) takes the lock and opens the
// journal — so an invalid manifest touches nothing — then observes and plans.
// `use_memo`: the caller needs only what a plan known from its memo has (noop_memo.h).
int make(const Common& c, const std::string& manifest, Planned& out, Session* session = nullptr,
         const std::string& what = "", bool exclusive = true, bool use_memo = false) {
  std::string lab_path = c.lab_path.empty() ? ".converge/lab.sqlite" : c.lab_path;
  lab::prefetch(lab_path);  // overlaps with parsing
  std::string cache_dir;    // the state directory, beside the journal
  if (!c.no_cache) {
    cache_dir = std::filesystem::path(journal_path(c)).parent_path().string();
    if (cache_dir.empty()) cache_dir = ".";
  }
  // Observing only reads — except that opening a missing lab creates it — and a run that changes
  // the target must hold the lock before observing, which an invalid graph must not take.
  bool read_only = !(session && exclusive);
  auto missing_lab = [&](const Manifest& m) {
    std::error_code ec;
    for (const auto& d : m.providers)
      if (d.type == "lab" && !std::filesystem::exists(lab_path, ec)) return true;
    return false;
  };
  PlanOptions po;
  po.allow_destroy = c.allow_destroy;
  // A read-only plan of an unchanged manifest whose last plan had nothing to do asks the
  // providers for fingerprints of their data before the resources are decoded (noop_memo.h).
  std::optional<NoopMemo> memo;
  if (read_only && use_memo && !cache_dir.empty()) memo = read_noop_memo(cache_dir, manifest);
  bool memo_hit = false;
  // The journal (and, for a run that changes the target, the lock) opens on another core as soon
  // as the manifest is known to be valid — its compiled form is in the cache — while the rest
  // loads: opening a journal reads what the last run left in its write-ahead log.
  std::future<int> session_opening;
  auto session_open = [&]() -> int {
    if (!session) return 0;
    PhaseTimer t("open the journal");
    if (session_opening.valid()) return session_opening.get();
    return open_session(c, exclusive, what, *session);
  };
  // A read-only run whose manifest comes from the cache opens its providers as soon as the
  // entry's header is read, and lets them start fetching (a zone transfer) while the rest decodes.
  std::optional<Result<ProviderMap>> early;
  EarlyHint hint = [&](const Manifest& h, const std::vector<Resource>& firsts) {
    if (session)
      session_opening = std::async(std::launch::async,
                                   [&] { return open_session(c, exclusive, what, *session); });
    if (!read_only) return false;
    if (missing_lab(h)) return false;
    early = open_providers(h.providers, h.dir, c);
    if (!early->ok()) return false;
    for (const auto& r : firsts)
      if (auto it = (*early)->find(r.provider); it != (*early)->end()) {
        ObserveRequest req;
        req.type = r.type;
        req.resources.push_back(r.view());
        it->second->prefetch(req);
      }
    if (!memo || memo->manifest_hash != h.hash || memo->options != plan_options_key(po))
      return false;
    PhaseTimer t("check the no-op memo");
    memo_hit = noop_memo_holds(*memo, **early);
    return memo_hit;
  };
  if (int rc = load_only(manifest, out.loaded, cache_dir, hint)) return rc;
  if (memo_hit) {
    spdlog::debug("plan of {}: the same no-op as the last one (every fingerprint unchanged)",
                  manifest);
    const Manifest& h = out.loaded.m();
    out.plan.manifest_path = h.path;
    out.plan.manifest_hash = h.hash;
    out.plan.created_at = now_iso();
    out.plan.allow_destroy = po.allow_destroy;
    out.plan.providers = h.providers;
    out.plan.elided_noops = static_cast<int>(memo->unchanged);
    out.providers = std::move(**early);
    out.from_memo = true;
    return session_open();
  }
  // The graph is built on another core while providers observe when observing cannot do what
  // an invalid graph must not: a read-only run, or a manifest from the cache (stored only once a
  // run of it got as far as a plan, so its graph is sound). Otherwise the graph (and its errors)
  // come first, before the lock is taken and anything observed.
  bool overlap = (read_only || out.loaded.from_cache) && !missing_lab(out.loaded.m());
  std::future<int> graph;
  if (overlap)
    graph = std::async(std::launch::async, [&] { return build_graph(out.loaded); });
  else if (int rc = build_graph(out.loaded))
    return rc;
  auto join_graph = [&]() { return overlap ? graph.get() : 0; };
  if (exclusive)
    if (int rc = session_open()) return rc;
  auto providers =
      early ? std::move(*early) : open_providers(out.loaded.m().providers, out.loaded.m().dir, c);
  if (!providers.ok()) {
    join_graph();
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  out.providers = std::move(*providers);
  Observed observed;
  {
    PhaseTimer t("observe");
    observed = observe_manifest(out.loaded.m(), out.providers);
  }
  if (int rc = join_graph()) return rc;
  if (!exclusive)
    if (int rc = session_open()) return rc;
  {
    PhaseTimer t("plan");
    out.plan = make_plan(out.loaded.m(), *out.loaded.graph, std::move(observed), out.providers, po);
  }
  auto secret_errors = check_secrets(out.plan, out.loaded.m().dir);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  if (session && session->journal) {
    PhaseTimer t("classify the changes");
    classify_changes(*session->journal, out.plan);
  }
  if (out.loaded.store_cache) out.loaded.store_cache();
  // A plan with nothing to do is remembered (a run that applies nothing leaves the data as it
  // was fingerprinted); any other plan drops the memo.
  if (!cache_dir.empty()) {
    if (auto m = make_noop_memo(out.loaded.m(), out.plan, out.providers, po))
      write_noop_memo(cache_dir, *m);
    else
      drop_noop_memo(cache_dir, manifest);
  }
  return 0;
}

bool observe_failed(const Plan& p) {
  for (const auto& r : p.resources)
    if (r.observe_error) return true;
  return false;
}

}  // namespace

int cmd_run(const Common& c, const std::string& manifest) {
  Planned p;
  Session session;
  if (int rc = make(c, manifest, p, &session, "converge " + manifest)) return rc;
  RenderOptions ro;
  ro.color = c.color;
  if (observe_failed(p.plan)) {
    std::cout << render_plan(p.plan, ro);
    std::cerr << "error: some resources could not be observed; nothing was changed.\n";
    return kFailed;
  }
  // The plan is printed by another core while the first changes are journaled and sent; what
  // the apply prints comes after it.
  std::shared_future<void> printed = std::async(std::launch::async, [&] {
                                       PhaseTimer t("print plan");
                                       std::cout << render_plan(p.plan, ro);
                                     }).share();
  int64_t run = 0;
  {
    PhaseTimer t("journal the plan");
    run = begin(session, "run", p.plan);
  }
  ApplySummary s;
  {
    PhaseTimer t("apply");
    s = run_plan(p.plan, p.providers, c, p.loaded.m().dir, session.journal.get(), run, printed);
  }
  {
    PhaseTimer t("journal the end");
    end(session, run, p.plan, s);
  }
  std::cout << "\n" << render_apply_summary(s) << "\n";
  if (run) std::cout << "Recorded as run " << run << " in " << session.journal->path() << ".\n";
  session.journal.reset();
  return finish(s.failed || s.skipped || s.blocked ? kFailed : kOk, &p.providers);
}

int cmd_plan(const Common& c, const PlanArgs& a) {
  Planned p;
  Session session;
  // The plan file and --json list every resource: only the printed plan can come from a memo.
  bool use_memo = !a.json && a.out.empty();
  if (int rc = make(c, a.manifest, p, &session, "", /*exclusive=*/false, use_memo)) return rc;
  if (int64_t run = begin(session, "plan", p.plan)) {
    PlanSummary ps = p.plan.summary();
    Status st = session.journal->end_run(
        run, "succeeded",
        std::to_string(ps.create) + " to create, " + std::to_string(ps.update) + " to update, " +
            std::to_string(ps.del) + " to delete, " + std::to_string(ps.blocked) + " blocked");
    if (!st.ok()) spdlog::error("{}", st.error().str());
  }
  session.journal.reset();
  if (a.json) {
    std::cout << p.plan.to_json();
  } else {
    RenderOptions ro;
    ro.color = c.color;
    std::cout << render_plan(p.plan, ro);
  }
  if (!a.out.empty()) {
    if (!write_file(a.out, p.plan.to_json())) {
      std::cerr << "error: cannot write plan to " << a.out << "\n";
      return kFailed;
    }
    if (!a.json)
      std::cout << "\nSaved the plan to " << a.out << ". Apply exactly it with: converge apply "
                << a.out << "\n";
  }
  if (observe_failed(p.plan)) return finish(kFailed, &p.providers);
  if (a.detailed_exitcode && p.plan.summary().changes() > 0)
    return finish(kChangesPending, &p.providers);
  return finish(kOk, &p.providers);
}

int cmd_apply(const Common& c0, const std::string& plan_file) {
  Common c = c0;
  std::ifstream in(plan_file, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read plan file " << plan_file << "\n";
    return kUsage;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto plan = Plan::from_json(ss.str(), plan_file);
  if (!plan.ok()) {
    print_errors({plan.error()});
    return kInvalid;
  }
  std::string base = dirname_of(plan->manifest_path);
  Session session;
  if (int rc = open_session(c, true, "converge apply " + plan_file, session)) return rc;
  auto providers = open_providers(plan->providers, base, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  // Refuse a stale plan: re-observe the resources it would change.
  std::vector<ObserveItem> items;
  std::vector<const PlannedResource*> which;
  for (const auto& r : plan->resources) {
    if (r.observe_error) continue;
    items.push_back({r.view(), r.provider});
    which.push_back(&r);
  }
  auto now = observe_all(items, *providers, nullptr);
  std::vector<std::string> stale;
  for (size_t i = 0; i < items.size(); ++i) {
    const PlannedResource& r = *which[i];
    const Observation& o = now[i];
    if (o.error) {
      stale.push_back(r.id + ": cannot observe: " + o.error->str());
      continue;
    }
    if (o.exists != r.exists) {
      stale.push_back(
          r.id + ": " +
          (r.exists ? "existed when planned, now gone" : "did not exist when planned, now exists"));
      continue;
    }
    std::set<std::string> keys;
    for (const auto& [k, _] : r.before) keys.insert(k);
    for (const auto& [k, _] : o.attrs) keys.insert(k);
    for (const auto& k : keys) {
      const AttrSpec* a = r.type->attr(k);
      Compare cmp = a ? a->compare : Compare::kExact;
      if (cmp == Compare::kVersionAtLeast || cmp == Compare::kAtLeast || cmp == Compare::kAtMost ||
          cmp == Compare::kSubset)
        cmp = Compare::kExact;
      auto b = r.before.find(k);
      auto n = o.attrs.find(k);
      Value bv = b == r.before.end() ? Value() : b->second,
            nv = n == o.attrs.end() ? Value() : n->second;
      if (normalize(bv, cmp) != normalize(nv, cmp)) {
        stale.push_back(r.id + ": " + k + " was " + bv.repr() + " when planned, now " + nv.repr());
        break;
      }
    }
  }
  if (!stale.empty()) {
    std::cerr << "error: the plan is stale: these resources changed since it was made ("
              << plan->created_at << "):\n";
    for (const auto& s : stale) std::cerr << "  " << s << "\n";
    std::cerr << "Nothing was changed. Make a new plan: converge plan " << plan->manifest_path
              << " --out " << plan_file << "\n";
    return kFailed;
  }
  auto secret_errors = check_secrets(*plan, base);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  c.allow_destroy = plan->allow_destroy;
  int64_t run = begin(session, "apply", *plan);
  ApplySummary s = run_plan(*plan, *providers, c, base, session.journal.get(), run);
  end(session, run, *plan, s);
  std::cout << "\n" << render_apply_summary(s) << "\n";
  if (run) std::cout << "Recorded as run " << run << " in " << session.journal->path() << ".\n";
  return s.failed || s.skipped ? kFailed : kOk;
}

namespace {
int g_signal_pipe[2] = {-1, -1};
void on_signal(int) {
  char b = 1;
  ssize_t n = write(g_signal_pipe[1], &b, 1);
  (void)n;
}

Result<std::chrono::milliseconds> parse_duration(const std::string& s) {
  if (s.empty()) return Error::Invalid("empty duration");
  size_t used = 0;
  long n = 0;
  try {
    n = std::stol(s, &used);
  } catch (const std::exception&) {
    return Error::Invalid("'" + s + "' is not a duration", "write 30s, 15m, 1h or 1d");
  }
  std::string unit = s.substr(used);
  long ms = unit == "ms"  ? 1
            : unit == "s" ? 1000
            : unit == "m" ? 60000
            : unit == "h" ? 3600000
            : unit == "d" ? 86400000
                          : -1;
  if (ms < 0 || n <= 0)
    return Error::Invalid("'" + s + "' is not a duration", "write 30s, 15m, 1h or 1d");
  return std::chrono::milliseconds(n * ms);
}

int64_t epoch_of(const std::string& iso) {
  std::tm tm{};
  if (!strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string prom_label(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

// One drift check; returns 0 (no drift), 2 (drift) or 1 (the run itself failed).
int drift_once(const Common& c, const DriftArgs& a, bool only_run = false) {
  auto t0 = std::chrono::steady_clock::now();
  Planned p;
  Session session;
  // Correcting changes the target: take the lock. A check alone only reads.
  bool may_correct = a.correct;
  if (int rc =
          make(c, a.manifest, p, &session, "converge drift --correct " + a.manifest, may_correct))
    return rc == kInvalid ? kInvalid : kFailed;
  if (observe_failed(p.plan)) {
    for (const auto& r : p.plan.resources)
      if (r.observe_error) std::cerr << "error: " << r.id << ": " << r.reason << "\n";
    return kFailed;
  }
  nlohmann::json report_resources = nlohmann::json::array();
  int drifted = 0, to_correct = 0;
  std::vector<bool> correcting(p.plan.resources.size(), false);
  std::cout << "Drift check of " << a.manifest << ":\n";
  for (size_t k = 0; k < p.plan.resources.size(); ++k) {
    auto& r = p.plan.resources[k];
    if (r.action == Action::kNoop) continue;
    ++drifted;
    bool correct = r.action != Action::kBlocked && (r.drift == DriftMode::kCorrect ||
                                                    (r.drift == DriftMode::kDefault && a.correct));
    const char* mode = r.drift == DriftMode::kMonitor   ? "monitor"
                       : r.drift == DriftMode::kCorrect ? "correct"
                                                        : "default";
    std::cout << "  " << action_symbol(r.action) << " " << r.id
              << (r.drift == DriftMode::kMonitor ? " (monitor only)" : "")
              << (r.cause.empty() ? "" : " (" + r.cause + ")") << "\n";
    nlohmann::json attrs = nlohmann::json::array();
    auto add = [&](const std::string& attr, const std::string& expected,
                   const std::string& observed) {
      attrs.push_back({{"attribute", attr}, {"expected", expected}, {"observed", observed}});
      std::cout << "      " << attr << ": expected " << expected << ", observed " << observed
                << "\n";
    };
    if (r.action == Action::kCreate) add("ensure", "present", "absent");
    if (r.action == Action::kDelete) add("ensure", "absent", "present");
    if (r.action == Action::kUpdate)
      for (const auto& ch : r.changes)
        add(ch.attr, ch.sensitive ? "(sensitive)" : ch.after.repr(), ch.before.repr());
    if (r.action == Action::kBlocked) std::cout << "      " << r.reason << "\n";
    if (correct) {
      correcting[k] = true;
      ++to_correct;
    } else if (r.action != Action::kBlocked) {
      r.action = Action::kNoop;  // reported, not changed
    }
    report_resources.push_back(
        {{"id", r.id},
         {"type", r.type->name},
         {"action", action_name(r.action == Action::kNoop ? Action::kUpdate : r.action)},
         {"drift", mode},
         {"cause", r.cause},
         {"attributes", attrs},
         {"reason", r.reason},
         {"corrected", false}});
  }
  ApplySummary sum;
  int64_t run = begin(session, "drift", p.plan);
  if (drifted == 0)
    std::cout << "  no drift (" << p.plan.resources.size() << " resources checked)\n";
  else
    std::cout << drifted << " resource(s) drifted.\n";
  std::vector<ResourceOutcome> outcomes;
  if (to_correct > 0) {
    size_t changes = 0;
    for (const auto& r : p.plan.resources)
      if (r.action == Action::kCreate || r.action == Action::kUpdate || r.action == Action::kDelete)
        ++changes;
    ConsoleObserver console(c.color, changes);
    JournalObserver obs(session.journal.get(), run, console);
    ExecOptions opt;
    opt.parallelism = c.parallelism;
    opt.secret_base_dir = p.loaded.m().dir;
    std::cout << "\nCorrecting " << changes << " resource(s):\n";
    sum = execute(p.plan, p.providers, obs, opt, &outcomes);
    std::cout << render_apply_summary(sum) << "\n";
  }
  // Which drifted resources were corrected.
  int corrected = 0, failed = sum.failed + sum.skipped;
  for (auto& rr : report_resources) {
    for (size_t k = 0; k < p.plan.resources.size(); ++k) {
      if (p.plan.resources[k].id != rr["id"].get<std::string>()) continue;
      bool ok = correcting[k] && k < outcomes.size() && outcomes[k].outcome == Outcome::kApplied;
      rr["corrected"] = ok;
      corrected += ok ? 1 : 0;
      break;
    }
  }
  bool clean = drifted == corrected;
  std::string status = failed ? "failed" : clean ? "succeeded" : "drifted";
  if (run) {
    Status st = session.journal->end_run(run, status,
                                         std::to_string(p.plan.resources.size()) + " checked, " +
                                             std::to_string(drifted) + " drifted, " +
                                             std::to_string(corrected) + " corrected, " +
                                             std::to_string(failed) + " failed");
    if (!st.ok()) spdlog::error("{}", st.error().str());
    if (clean && !failed) (void)session.journal->remember_desired(p.plan);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int rc = failed ? kFailed : drifted ? kChangesPending : kOk;
  if (!a.report.empty()) {
    nlohmann::json rep = {{"format_version", "1"},
                          {"run_id", run},
                          {"time", now_iso()},
                          {"manifest", a.manifest},
                          {"manifest_hash", p.plan.manifest_hash},
                          {"checked", p.plan.resources.size()},
                          {"drifted", drifted},
                          {"corrected", corrected},
                          {"failed", failed},
                          {"duration_seconds", seconds},
                          {"resources", report_resources}};
    if (!write_file(a.report, rep.dump(2) + "\n")) {
      std::cerr << "error: cannot write report " << a.report << "\n";
      rc = kFailed;
    }
  }
  if (!a.metrics.empty()) {
    int64_t last_ok = rc != kFailed ? epoch_of(now_iso()) : 0;
    if (!last_ok && session.journal) {
      auto runs = session.journal->runs(1000);
      if (runs.ok())
        for (const auto& r : *runs)
          if (r.kind == "drift" && r.status != "failed" && r.status != "running" && r.id != run) {
            last_ok = epoch_of(r.finished);
            break;
          }
    }
    std::string m = prom_label(a.manifest);
    std::string text;
    auto metric = [&](const char* name, const char* help, const char* type,
                      const std::string& value) {
      text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
              name + "{manifest=\"" + m + "\"} " + value + "\n";
    };
    metric("converge_resources_checked", "Resources checked by the last drift run.", "gauge",
           std::to_string(p.plan.resources.size()));
    metric("converge_resources_drifted", "Resources found drifted by the last drift run.", "gauge",
           std::to_string(drifted));
    metric("converge_resources_corrected", "Drifted resources corrected by the last drift run.",
           "gauge", std::to_string(corrected));
    metric("converge_resources_failed",
           "Corrections that failed or were skipped in the last drift run.", "gauge",
           std::to_string(failed));
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.3f", seconds);
    metric("converge_run_duration_seconds", "Wall time of the last drift run.", "gauge", dur);
    metric("converge_last_success_timestamp_seconds",
           "Unix time of the last drift run that did not fail.", "gauge", std::to_string(last_ok));
    if (!write_file(a.metrics, text)) {
      std::cerr << "error: cannot write metrics " << a.metrics << "\n";
      rc = kFailed;
    }
  }
  if (only_run) {
    session.journal.reset();
    return finish(rc, &p.providers);
  }
  return rc;
}
}  // namespace

int cmd_drift(const Common& c, const DriftArgs& a) {
  if (a.every.empty()) return drift_once(c, a, /*only_run=*/true);
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
    last = drift_once(c, a);
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
    int r = poll(&pfd, 1, static_cast<int>(std::min<long>(wait, 0x7fffffff)));
    if (r > 0) {
      spdlog::info("drift: stopping on signal after run {}", run);
      break;
    }
  }
  return last == kFailed ? kFailed : kOk;
}

int cmd_graph(const std::string& manifest, const std::string& format) {
  Loaded l;
  if (int rc = load(manifest, l, /*allow_cycle=*/true)) return rc;
  std::cout << (format == "json" ? l.graph->to_json(l.m()) : l.graph->to_dot(l.m()));
  if (auto cycle = l.graph->find_cycle()) {
    std::cerr << "error: dependency cycle: " << describe_cycle(l.m(), *cycle) << "\n";
    return kInvalid;
  }
  return kOk;
}

int cmd_validate(const std::string& manifest) {
  Loaded l;
  if (int rc = load(manifest, l)) return rc;
  std::cout << manifest << ": valid (" << l.m().resources.size() << " resources, "
            << l.graph->edges().size() << " dependencies)\n";
  return finish(kOk);
}

int cmd_schema(const std::string& format) {
  std::vector<std::string> kinds;
  for (const auto& k : provider_kinds()) kinds.push_back(k.type);
  std::cout << (format == "markdown" ? types_markdown() : manifest_json_schema(kinds));
  return kOk;
}

int cmd_lab_init(const Common& c, const std::string& world) {
  std::string path = c.lab_path.empty() ? ".converge/lab.sqlite" : c.lab_path;
  Status st = lab::init_lab(path, world);
  if (!st.ok()) {
    print_errors({st.error()});
    return exit_for(st.error());
  }
  std::cout << "lab " << path << " recreated from " << world << "\n";
  return kOk;
}

int cmd_history(const Common& c, int limit) {
  Session session;
  if (int rc = open_session(c, false, "", session)) return rc;
  auto runs = session.journal->runs(limit);
  if (!runs.ok()) {
    print_errors({runs.error()});
    return kFailed;
  }
  if (runs->empty()) {
    std::cout << "No runs recorded in " << session.journal->path() << ".\n";
    return kOk;
  }
  std::printf("%-6s %-7s %-12s %-21s %s\n", "RUN", "KIND", "STATUS", "STARTED",
              "MANIFEST / SUMMARY");
  for (const auto& r : *runs) {
    std::string what = r.manifest + (r.summary.empty() ? "" : "  (" + r.summary + ")");
    if (r.kind == "undo")
      what = "undo of run " + std::to_string(r.undoes) +
             (r.summary.empty() ? "" : "  (" + r.summary + ")");
    std::printf("%-6lld %-7s %-12s %-21s %s\n", static_cast<long long>(r.id), r.kind.c_str(),
                r.status.c_str(), r.started.c_str(), what.c_str());
  }
  return kOk;
}

int cmd_show(const Common& c, int64_t id) {
  Session session;
  if (int rc = open_session(c, false, "", session)) return rc;
  auto r = session.journal->run(id);
  if (!r.ok()) {
    print_errors({r.error()});
    return kUsage;
  }
  std::cout << "run " << r->id << ": " << r->kind << ", " << r->status << "\n"
            << "  manifest: " << r->manifest << " (" << r->manifest_hash << ")\n"
            << "  started:  " << r->started << " on " << r->host << " (pid " << r->pid << ")\n"
            << "  finished: " << (r->finished.empty() ? "-" : r->finished) << "\n";
  if (!r->summary.empty()) std::cout << "  summary:  " << r->summary << "\n";
  if (r->undoes) std::cout << "  undoes:   run " << r->undoes << "\n";
  auto changes = session.journal->changes(id);
  if (!changes.ok()) {
    print_errors({changes.error()});
    return kFailed;
  }
  if (changes->empty()) std::cout << "  no changes\n";
  for (const auto& ch : *changes) {
    std::cout << "  " << ch.seq << ". " << ch.action << " " << ch.resource << ": " << ch.status
              << (ch.error.empty() ? "" : " (" + ch.error + ")") << "\n";
    auto j = nlohmann::json::parse(ch.changes_json, nullptr, false);
    if (j.is_array())
      for (const auto& a : j)
        std::cout << "       " << a.value("attribute", "") << ": " << a["before"].dump() << " -> "
                  << a["after"].dump() << "\n";
  }
  return kOk;
}

int cmd_undo(const Common& c, int64_t id) {
  Session session;
  if (int rc = open_session(c, true, "converge undo " + std::to_string(id), session)) return rc;
  Journal& j = *session.journal;
  auto run = j.run(id);
  if (!run.ok()) {
    print_errors({run.error()});
    return kUsage;
  }
  auto stored = j.plan_of(id);
  auto changes = j.changes(id);
  if (!stored.ok() || !changes.ok()) {
    print_errors({stored.ok() ? changes.error() : stored.error()});
    return kFailed;
  }
  // What the run really did, in the order it did it.
  std::map<std::string, const PlannedResource*> by_id;
  for (const auto& r : stored->resources) by_id[r.id] = &r;
  std::vector<const PlannedResource*> applied;
  std::set<std::string> ids;
  for (const auto& ch : *changes)
    if (ch.status == "applied" && by_id.count(ch.resource)) {
      applied.push_back(by_id[ch.resource]);
      ids.insert(ch.resource);
    }
  if (applied.empty()) {
    std::cout << "Run " << id << " applied no change: nothing to undo.\n";
    return kOk;
  }
  auto later = j.changed_after(id, ids);
  if (!later.ok()) {
    print_errors({later.error()});
    return kFailed;
  }
  if (!later->empty()) {
    std::cerr << "error: cannot undo run " << id << ": later runs changed these resources again:\n";
    for (const auto& r : *later) std::cerr << "  " << r << "\n";
    std::cerr << "Undo the later runs first (see `converge history`). Nothing was changed.\n";
    return kFailed;
  }
  std::string base = dirname_of(stored->manifest_path);
  auto providers = open_providers(stored->providers, base, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  // The inverse plan: deletes for creates, old values for updates, re-creates for deletes.
  Plan inverse = *stored;
  inverse.resources.clear();
  inverse.notes.clear();
  inverse.allow_destroy = c.allow_destroy;
  std::map<std::string, Action> undo_action;
  for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
    const PlannedResource& r = **it;
    PlannedResource u;
    u.id = r.id;
    u.type = r.type;
    u.provider = r.provider;
    u.drift = r.drift;
    if (r.action == Action::kCreate) {
      u.action = Action::kDelete;
      u.desired = r.desired;
      u.exists = true;
      if (r.type->holds_data && !c.allow_destroy) {
        u.action = Action::kBlocked;
        u.reason = "undo would delete a " + r.type->name + " that holds data; pass --allow-destroy";
      }
    } else if (r.action == Action::kUpdate) {
      u.action = Action::kUpdate;
      u.desired = r.desired;
      u.exists = true;
      for (const auto& ch : r.changes) {
        u.desired[ch.attr] = ch.before;
        u.changes.push_back({ch.attr, ch.after, ch.before, ch.sensitive});
      }
    } else if (r.action == Action::kDelete) {
      u.action = Action::kCreate;
      u.desired = r.before;
      for (const auto& [k, v] : r.before) u.changes.push_back({k, Value(), v, false});
    } else {
      continue;
    }
    undo_action[u.id] = u.action;
    inverse.resources.push_back(std::move(u));
  }
  // Order: what the run created in dependency order is deleted in reverse; the rest keeps it.
  for (auto& u : inverse.resources) {
    const PlannedResource& orig = *by_id[u.id];
    for (const auto& d : orig.depends_on) {
      if (!undo_action.count(d)) continue;
      if (undo_action[d] == Action::kDelete) {
        // d was created before u: now u goes before d.
        for (auto& v : inverse.resources)
          if (v.id == d) v.depends_on.push_back(u.id);
      } else {
        u.depends_on.push_back(d);
      }
    }
  }
  // Refuse when the target no longer looks as the run left it.
  std::vector<ObserveItem> items;
  for (const auto& u : inverse.resources) items.push_back({u.view(), u.provider});
  auto now = observe_all(items, *providers, nullptr);
  std::vector<std::string> moved;
  for (size_t k = 0; k < inverse.resources.size(); ++k) {
    PlannedResource& u = inverse.resources[k];
    const Observation& o = now[k];
    if (o.error) {
      moved.push_back(u.id + ": cannot observe: " + o.error->str());
      continue;
    }
    const PlannedResource& orig = *by_id[u.id];
    bool ok = true;
    if (orig.action == Action::kCreate || orig.action == Action::kUpdate) ok = o.exists;
    if (orig.action == Action::kDelete) ok = !o.exists;
    if (ok && orig.action == Action::kUpdate)
      for (const auto& ch : orig.changes) {
        const AttrSpec* a = orig.type->attr(ch.attr);
        auto have = o.attrs.find(ch.attr);
        if (!a || have == o.attrs.end() || !satisfies(ch.after, have->second, a->compare))
          ok = false;
      }
    if (!ok) moved.push_back(u.id);
    u.before = o.attrs;
  }
  if (!moved.empty()) {
    std::cerr << "error: cannot undo run " << id << ": these resources changed since it ran:\n";
    for (const auto& m : moved) std::cerr << "  " << m << "\n";
    std::cerr << "Nothing was changed.\n";
    return kFailed;
  }
  RenderOptions ro;
  ro.color = c.color;
  std::cout << "Undo of run " << id << " (" << run->kind << ", " << run->started << "):\n"
            << render_plan(inverse, ro);
  if (inverse.summary().blocked > 0) {  // an undo is whole or not at all
    std::cerr << "error: part of this undo is blocked (see '!' above); nothing was changed.\n";
    return kFailed;
  }
  if (!c.yes) {
    if (!isatty(STDIN_FILENO)) {
      std::cerr << "error: undo needs confirmation: pass --yes to apply it without asking. Nothing "
                   "was changed.\n";
      return kUsage;
    }
    std::cout << "\nApply this undo? Only 'yes' is accepted: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "yes") {
      std::cout << "Undo cancelled. Nothing was changed.\n";
      return kOk;
    }
  }
  Common cc = c;
  int64_t urun = begin(session, "undo", inverse, id);
  ApplySummary s = run_plan(inverse, *providers, cc, base, session.journal.get(), urun);
  end(session, urun, inverse, s);
  std::cout << "\n" << render_apply_summary(s) << "\n";
  if (urun) std::cout << "Recorded as run " << urun << ".\n";
  return s.failed || s.skipped || s.blocked ? kFailed : kOk;
}

}  // namespace converge::cli
