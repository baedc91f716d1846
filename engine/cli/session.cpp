#include "engine/cli/session.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

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
  for (const auto& e : errors) std::cerr << "error: " << redact_secrets(e.str()) << "\n";
  if (errors.size() > 1)
    std::cerr << errors.size() << " errors; nothing was changed.\n";
  else if (!errors.empty())
    std::cerr << "nothing was changed.\n";
}

int exit_for(const Error& e) { return e.kind == ErrorKind::kInvalid ? kInvalid : kFailed; }

int load(const std::string& path, Loaded& out, bool allow_cycle) {
  set_activity("loading the manifest " + path);
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
    set_activity("opening provider " + d.name + " (" + d.type + ")");
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
  secure_state_dir(dirname_of(jp));
  if (exclusive) {
    set_activity("waiting for the lock " + jp + ".lock");
    auto lock = RunLock::acquire(jp + ".lock", c.wait, what);
    if (!lock.ok()) {
      print_errors({lock.error()});
      return kFailed;
    }
    s.lock.emplace(std::move(*lock));
  }
  set_activity("opening the journal " + jp);
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
  set_activity("observing the target to plan " + manifest);
  out.plan = make_plan(m, *out.loaded.graph, out.providers, po);
  set_activity("resolving the secrets the plan needs");
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
  set_activity("applying " + std::to_string(changes) + " change(s)");
  ApplySummary sum = execute(plan, providers, obs, opt, outcomes);
  set_activity("recording the run");
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
      if (!s.ok())
        errors.push_back(Error(s.error()).on(r.id));
      else
        wipe(*s);  // only whether it resolves matters here
    }
  }
  return errors;
}

bool observe_failed(const Plan& p) {
  for (const auto& r : p.resources)
    if (r.observe_error) return true;
  return false;
}

bool write_file(const std::string& path, const std::string& text, unsigned mode) {
  std::string dir = dirname_of(path);
  std::string base =
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  std::string tmp = dir + "/." + base + ".XXXXXX";
  auto fail = [&](const char* step, int err) {
    spdlog::error("cannot write {}: {}: {}", path, step, std::strerror(err));
    return false;
  };
  int fd = mkostemp(tmp.data(), O_CLOEXEC);  // O_EXCL, mode 0600: a new file, no link followed
  if (fd < 0) return fail("cannot create a temporary file beside it", errno);
  if (mode != 0600 && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail("chmod", err);
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail("write", err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail("fsync", err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail("rename", err);
  }
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);  // the rename itself durable
    ::close(dfd);
  }
  return true;
}

void secure_state_dir(const std::string& dir) {
  if (dir.empty() || dir == ".") return;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      spdlog::warn("cannot create state directory {}: {}", dir, std::strerror(errno));
    return;
  }
  std::string name =
      dir.substr(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/') + 1);
  if (name == ".converge" && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
      (st.st_mode & 077) != 0 && ::chmod(dir.c_str(), st.st_mode & 0700) != 0)
    spdlog::warn("cannot restrict state directory {} to its owner: {}", dir, std::strerror(errno));
}

Result<std::chrono::milliseconds> parse_duration(const std::string& s) {
  Error bad = Error::Invalid("'" + s + "' is not a duration", "write 30s, 15m, 1h or 1d");
  if (s.empty()) return Error::Invalid("empty duration", "write 30s, 15m, 1h or 1d");
  size_t used = 0;
  long n = 0;
  try {
    n = std::stol(s, &used);
  } catch (const std::exception&) {
    return bad;
  }
  std::string unit = s.substr(used);
  long ms = unit == "ms"  ? 1
            : unit == "s" ? 1000
            : unit == "m" ? 60000
            : unit == "h" ? 3600000
            : unit == "d" ? 86400000
                          : -1;
  if (ms < 0 || n <= 0 || n > 365L * 86400000 / ms) return bad;
  return std::chrono::milliseconds(n * ms);
}

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string default_lab_path(const Common& c) {
  return c.lab_path.empty() ? ".converge/lab.sqlite" : c.lab_path;
}

namespace {

// The deadline's state; the watchdog thread and the run share it under `mu`.
struct Deadline {
  std::mutex mu;
  std::condition_variable cv;
  std::chrono::milliseconds limit{0};
  std::string spelled;
  bool armed = false;
  std::chrono::steady_clock::time_point due;
  std::string activity = "starting";
  std::map<std::string, std::chrono::steady_clock::time_point> in_flight;
  bool thread_started = false;
};

Deadline& deadline() {
  static auto* d = new Deadline();  // never destroyed: the watchdog may outlive main's return
  return *d;
}

std::string seconds_text(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(d).count());
  return buf;
}

// Called with d.mu held once the deadline has passed; never returns.
[[noreturn]] void expire(Deadline& d) {
  auto now = std::chrono::steady_clock::now();
  std::string msg =
      "error: the run's deadline (--timeout " + d.spelled + ") passed while " + d.activity;
  if (!d.in_flight.empty()) {
    msg += "; waiting for the provider on:";
    size_t shown = 0;
    for (const auto& [id, since] : d.in_flight) {
      if (++shown > 10) {
        msg += " and " + std::to_string(d.in_flight.size() - 10) + " more";
        break;
      }
      msg += " " + id + " (for " + seconds_text(now - since) + ")";
    }
  }
  msg +=
      ".\nStopped. Changes in flight may or may not have reached the target; the next run marks "
      "this one interrupted in the journal and converges from the state it left.\n";
  // Out through stdio only if no other thread holds it: a blocked writer must not block this.
  if (ftrylockfile(stdout) == 0) {
    fflush_unlocked(stdout);
    funlockfile(stdout);
  }
  ssize_t n = ::write(STDERR_FILENO, msg.data(), msg.size());
  (void)n;
  _exit(kTimedOut);
}

void watchdog(Deadline* d) {
  std::unique_lock<std::mutex> lk(d->mu);
  for (;;) {
    if (!d->armed) {
      d->cv.wait(lk);
    } else if (d->cv.wait_until(lk, d->due) == std::cv_status::timeout && d->armed &&
               std::chrono::steady_clock::now() >= d->due) {
      expire(*d);
    }
  }
}

}  // namespace

void configure_deadline(std::chrono::milliseconds limit, const std::string& spelled) {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  d.limit = limit;
  d.spelled = spelled;
}

void arm_deadline() {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  if (d.limit.count() <= 0) return;
  d.armed = true;
  d.due = std::chrono::steady_clock::now() + d.limit;
  d.in_flight.clear();
  if (!d.thread_started) {
    d.thread_started = true;
    std::thread(watchdog, &d).detach();
  }
  d.cv.notify_all();
}

void disarm_deadline() {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  d.armed = false;
  d.cv.notify_all();
}

void set_activity(std::string what) {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  d.activity = std::move(what);
}

void change_started(const std::string& id) {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  d.in_flight.emplace(id, std::chrono::steady_clock::now());
}

void change_finished(const std::string& id) {
  Deadline& d = deadline();
  std::lock_guard<std::mutex> g(d.mu);
  d.in_flight.erase(id);
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
  set_activity("closing the providers");
  if (providers) providers->clear();
  forget_secrets();
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
