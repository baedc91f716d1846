#include "engine/cli/commands.h"

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <spdlog/spdlog.h>
#include <sstream>

#include "engine/executor.h"
#include "engine/graph.h"
#include "engine/manifest.h"
#include "engine/plan.h"
#include "engine/render.h"
#include "engine/schema_export.h"
#include "engine/secrets.h"
#include "engine/values.h"
#include "providers/lab/lab_provider.h"
#include "providers/registry.h"

namespace converge::cli {
namespace {

void print_errors(const std::vector<Error>& errors) {
  for (const auto& e : errors) std::cerr << "error: " << e.str() << "\n";
  if (errors.size() > 1) std::cerr << errors.size() << " errors; nothing was changed.\n";
  else if (!errors.empty()) std::cerr << "nothing was changed.\n";
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
int finish(int rc, ProviderMap* providers = nullptr) {
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

// Logs how long a phase took (-vv), so slow runs can be explained without a profiler.
struct PhaseTimer {
  const char* what;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit PhaseTimer(const char* w) : what(w) {}
  ~PhaseTimer() {
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    spdlog::debug("{}: {:.1f} ms", what, ms);
  }
};

struct Loaded {
  LoadResult lr;
  std::unique_ptr<Graph> graph;
  const Manifest& m() const { return lr.manifest; }
};

// Loads, validates and builds the graph; prints every problem. Returns 0 or an exit code.
int load(const std::string& path, Loaded& out, bool allow_cycle = false) {
  {
    PhaseTimer t("load manifest");
    out.lr = load_manifest_file(path, provider_kinds());
  }
  if (!out.lr.ok()) {
    print_errors(out.lr.errors);
    return out.lr.errors.front().kind == ErrorKind::kIo ? kUsage : kInvalid;
  }
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

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<ProviderMap> open_providers(const std::vector<ProviderDecl>& decls, const std::string& manifest_dir,
                                   const Common& c) {
  ProviderMap out;
  for (const auto& d : decls) {
    ProviderConfig cfg;
    cfg.name = d.name;
    cfg.type = d.type;
    cfg.settings = d.settings;
    cfg.loc = d.loc;
    cfg.manifest_dir = manifest_dir;
    cfg.lab_path = c.lab_path;
    cfg.resolve_secret = [manifest_dir](const std::string& ref) { return resolve_secret(ref, manifest_dir); };
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
  explicit ConsoleObserver(bool color, size_t total) : color_(color), total_(total) {}
  void finished(const PlannedResource& r, const ResourceOutcome& o) override {
    if (o.outcome == Outcome::kNoop || o.outcome == Outcome::kBlocked) return;
    ++n_;
    std::string verb;
    switch (o.outcome) {
      case Outcome::kApplied:
        verb = r.action == Action::kCreate ? "created" : r.action == Action::kDelete ? "deleted" : "updated";
        break;
      case Outcome::kFailed:
        verb = "FAILED";
        break;
      case Outcome::kSkipped:
        verb = "skipped";
        break;
      default:
        break;
    }
    std::string line = "  [" + std::to_string(n_) + "/" + std::to_string(total_) + "] " + action_symbol(r.action) + " " +
                       r.id + ": " + verb;
    if (o.outcome == Outcome::kFailed && o.error) line += ": " + o.error->message + (o.error->hint.empty() ? "" : " (" + o.error->hint + ")");
    if (o.outcome == Outcome::kSkipped) line += " (" + o.because + " did not apply)";
    if (color_ && o.outcome == Outcome::kFailed) line = "\033[31m" + line + "\033[0m";
    std::cout << line << "\n" << std::flush;
  }

 private:
  bool color_;
  size_t total_;
  size_t n_ = 0;
};

ApplySummary run_plan(const Plan& plan, ProviderMap& providers, const Common& c, const std::string& base_dir) {
  size_t changes = 0;
  for (const auto& r : plan.resources)
    if (r.action == Action::kCreate || r.action == Action::kUpdate || r.action == Action::kDelete) ++changes;
  ConsoleObserver obs(c.color, changes);
  ExecOptions opt;
  opt.parallelism = c.parallelism;
  opt.secret_base_dir = base_dir;
  if (changes) std::cout << "\nApplying " << changes << " change(s):\n";
  return execute(plan, providers, obs, opt);
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
};

int make(const Common& c, const std::string& manifest, Planned& out) {
  lab::prefetch(c.lab_path.empty() ? ".converge/lab.sqlite" : c.lab_path);  // overlaps with parsing
  if (int rc = load(manifest, out.loaded)) return rc;
  auto providers = open_providers(out.loaded.m().providers, out.loaded.m().dir, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  out.providers = std::move(*providers);
  PlanOptions po;
  po.allow_destroy = c.allow_destroy;
  {
    PhaseTimer t("observe and plan");
    out.plan = make_plan(out.loaded.m(), *out.loaded.graph, out.providers, po);
  }
  auto secret_errors = check_secrets(out.plan, out.loaded.m().dir);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
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
  if (int rc = make(c, manifest, p)) return rc;
  RenderOptions ro;
  ro.color = c.color;
  std::cout << render_plan(p.plan, ro);
  if (observe_failed(p.plan)) {
    std::cerr << "error: some resources could not be observed; nothing was changed.\n";
    return kFailed;
  }
  ApplySummary s = run_plan(p.plan, p.providers, c, p.loaded.m().dir);
  std::cout << "\n" << render_apply_summary(s) << "\n";
  return finish(s.failed || s.skipped || s.blocked ? kFailed : kOk, &p.providers);
}

int cmd_plan(const Common& c, const PlanArgs& a) {
  Planned p;
  if (int rc = make(c, a.manifest, p)) return rc;
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
    if (!a.json) std::cout << "\nSaved the plan to " << a.out << ". Apply exactly it with: converge apply " << a.out << "\n";
  }
  if (observe_failed(p.plan)) return finish(kFailed, &p.providers);
  if (a.detailed_exitcode && p.plan.summary().changes() > 0) return finish(kChangesPending, &p.providers);
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
      stale.push_back(r.id + ": " + (r.exists ? "existed when planned, now gone" : "did not exist when planned, now exists"));
      continue;
    }
    std::set<std::string> keys;
    for (const auto& [k, _] : r.before) keys.insert(k);
    for (const auto& [k, _] : o.attrs) keys.insert(k);
    for (const auto& k : keys) {
      const AttrSpec* a = r.type->attr(k);
      Compare cmp = a ? a->compare : Compare::kExact;
      if (cmp == Compare::kVersionAtLeast || cmp == Compare::kAtLeast || cmp == Compare::kAtMost || cmp == Compare::kSubset)
        cmp = Compare::kExact;
      auto b = r.before.find(k);
      auto n = o.attrs.find(k);
      Value bv = b == r.before.end() ? Value() : b->second, nv = n == o.attrs.end() ? Value() : n->second;
      if (normalize(bv, cmp) != normalize(nv, cmp)) {
        stale.push_back(r.id + ": " + k + " was " + bv.repr() + " when planned, now " + nv.repr());
        break;
      }
    }
  }
  if (!stale.empty()) {
    std::cerr << "error: the plan is stale: these resources changed since it was made (" << plan->created_at << "):\n";
    for (const auto& s : stale) std::cerr << "  " << s << "\n";
    std::cerr << "Nothing was changed. Make a new plan: converge plan " << plan->manifest_path << " --out " << plan_file << "\n";
    return kFailed;
  }
  auto secret_errors = check_secrets(*plan, base);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  c.allow_destroy = plan->allow_destroy;
  ApplySummary s = run_plan(*plan, *providers, c, base);
  std::cout << "\n" << render_apply_summary(s) << "\n";
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
  long ms = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : unit == "d" ? 86400000 : -1;
  if (ms < 0 || n <= 0) return Error::Invalid("'" + s + "' is not a duration", "write 30s, 15m, 1h or 1d");
  return std::chrono::milliseconds(n * ms);
}

// One drift check; returns 0 (no drift), 2 (drift) or 1 (the run failed).
int drift_once(const Common& c, const DriftArgs& a) {
  Planned p;
  if (int rc = make(c, a.manifest, p)) return rc == kInvalid ? kInvalid : kFailed;
  if (observe_failed(p.plan)) {
    for (const auto& r : p.plan.resources)
      if (r.observe_error) std::cerr << "error: " << r.id << ": " << r.reason << "\n";
    return kFailed;
  }
  int drifted = 0;
  std::cout << "Drift check of " << a.manifest << ":\n";
  for (auto& r : p.plan.resources) {
    if (r.action == Action::kNoop) continue;
    ++drifted;
    bool monitor = r.drift == DriftMode::kMonitor;
    std::cout << "  " << action_symbol(r.action) << " " << r.id << (monitor ? " (monitor only)" : "") << "\n";
    if (r.action == Action::kCreate) std::cout << "      expected present, observed absent\n";
    if (r.action == Action::kDelete) std::cout << "      expected absent, observed present\n";
    if (r.action == Action::kUpdate)
      for (const auto& ch : r.changes)
        std::cout << "      " << ch.attr << ": expected " << ch.after.repr() << ", observed " << ch.before.repr() << "\n";
    if (r.action == Action::kBlocked) std::cout << "      " << r.reason << "\n";
    if (monitor && r.action != Action::kBlocked) r.action = Action::kNoop;  // never auto-corrected
  }
  if (!drifted) {
    std::cout << "  no drift (" << p.plan.resources.size() << " resources checked)\n";
    return kOk;
  }
  std::cout << drifted << " resource(s) drifted.\n";
  if (a.correct) {
    bool correct_all = true;
    (void)correct_all;
    ApplySummary s = run_plan(p.plan, p.providers, c, p.loaded.m().dir);
    std::cout << render_apply_summary(s) << "\n";
    if (s.failed || s.skipped) return kFailed;
  }
  return kChangesPending;
}
}  // namespace

int cmd_drift(const Common& c, const DriftArgs& a) {
  if (a.every.empty()) return drift_once(c, a);
  auto every = parse_duration(a.every);
  if (!every.ok()) {
    std::cerr << "error: --every: " << every.error().str() << "\n";
    return kUsage;
  }
  if (pipe(g_signal_pipe) != 0) return kFailed;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::mt19937 rng(std::random_device{}());
  int last = kOk;
  for (int run = 1;; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    last = drift_once(c, a);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    spdlog::warn("drift run {}: {} in {} ms", run, last == kOk ? "no drift" : last == kChangesPending ? "drift" : "failed", ms);
    // Next run after the interval plus up to 5% jitter; a signal ends the wait (and the loop).
    long jitter = static_cast<long>(every->count() / 20);
    long wait = every->count() + (jitter > 0 ? static_cast<long>(rng() % jitter) : 0);
    pollfd pfd{g_signal_pipe[0], POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(std::min<long>(wait, 0x7fffffff)));
    if (r > 0) {
      spdlog::warn("drift: stopping on signal after run {}", run);
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
  std::cout << manifest << ": valid (" << l.m().resources.size() << " resources, " << l.graph->edges().size()
            << " dependencies)\n";
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

}  // namespace converge::cli
