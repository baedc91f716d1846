#include "engine/executor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace converge;

namespace {
// An in-memory provider that records the order of applies and fails on demand. With `gate` > 0,
// every call waits inside apply() until `gate` calls have been inside at once (or a deadline
// passes, which `gate_timed_out` tells): a run without that much parallelism cannot pass.
class FakeProvider : public Provider {
 public:
  int max_parallel() const override { return cap; }
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse r;
    r.results.resize(req.resources.size());
    return r;
  }
  ApplyResponse apply(const ApplyRequest& req) override {
    {
      std::unique_lock<std::mutex> lk(mu);
      int now = ++running;
      peak = std::max(peak.load(), now);
      order.push_back(*req.resource.id);
      gate_cv.notify_all();
      // Once timed out, the gate stays open: a failing run fails in one deadline, not in one
      // per call.
      if (gate > 0 && !gate_cv.wait_for(lk, std::chrono::seconds(10),
                                        [&] { return peak.load() >= gate || gate_timed_out; })) {
        gate_timed_out = true;
        gate_cv.notify_all();
      }
      --running;
    }
    if (fail.count(*req.resource.id)) return {Error::Conflict("refused")};
    if (transient.count(*req.resource.id) && transient_left-- > 0)
      return {Error::Transient("busy")};
    return {};
  }
  int cap = 4;
  int gate = 0;
  std::set<std::string> fail, transient;
  std::atomic<int> transient_left{1};
  std::atomic<int> running{0}, peak{0};
  std::mutex mu;
  std::condition_variable gate_cv;
  bool gate_timed_out = false;     // guarded by mu
  std::vector<std::string> order;  // guarded by mu
};

PlannedResource res(const std::string& id, std::vector<std::string> deps,
                    Action a = Action::kCreate) {
  PlannedResource r;
  r.id = id;
  r.type = find_type("container");
  r.provider = "fake";
  r.action = a;
  r.depends_on = std::move(deps);
  return r;
}

// Executes `p` quietly with one FakeProvider "fake" taking `cap` changes at once.
struct FakeRun {
  ProviderMap providers;
  FakeProvider* fake = nullptr;
  ApplySummary sum;
  FakeRun(const Plan& p, int cap, int parallelism, int gate = 0) {
    auto f = std::make_unique<FakeProvider>();
    fake = f.get();
    fake->cap = cap;
    fake->gate = gate;
    providers["fake"] = std::move(f);
    ApplyObserver quiet;
    ExecOptions opt;
    opt.parallelism = parallelism;
    sum = execute(p, providers, quiet, opt);
  }
};
}  // namespace

TEST_CASE("applies in dependency order; a failure skips its dependents only") {
  Plan p;
  p.resources = {res("a", {}),   res("b", {"a"}), res("c", {"b"}),
                 res("x", {}),   res("y", {"x"}), res("n", {}, Action::kNoop),
                 res("z", {"n"})};
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  f->fail = {"b"};
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, quiet, ExecOptions{}, &out);
  CHECK(s.applied == 4);  // a, x, y, z
  CHECK(s.failed == 1);   // b
  CHECK(s.skipped == 1);  // c
  CHECK(s.noop == 1);
  CHECK(out[2].outcome == Outcome::kSkipped);
  CHECK(out[2].because == "b");
  auto pos = [&](const std::string& id) {
    return std::find(f->order.begin(), f->order.end(), id) - f->order.begin();
  };
  CHECK(pos("a") < pos("b"));
  CHECK(pos("x") < pos("y"));
  CHECK(std::find(f->order.begin(), f->order.end(), "c") == f->order.end());
}

TEST_CASE("independent changes run in parallel, up to the provider's cap and never beyond") {
  Plan p;
  for (int i = 0; i < 40; ++i) p.resources.push_back(res("r" + std::to_string(i), {}));
  for (int cap : {2, 3}) {
    CAPTURE(cap);
    FakeRun run(p, cap, /*parallelism=*/8, /*gate=*/cap);
    CHECK(run.sum.applied == 40);
    CHECK_FALSE(run.fake->gate_timed_out);  // `cap` calls were inside at once
    CHECK(run.fake->peak.load() == cap);
  }
  // The run's own parallelism caps what a provider would take.
  FakeRun narrow(p, /*cap=*/4, /*parallelism=*/2, /*gate=*/2);
  CHECK_FALSE(narrow.fake->gate_timed_out);
  CHECK(narrow.fake->peak.load() == 2);
}

TEST_CASE("transient errors are retried; others are not") {
  Plan p;
  p.resources = {res("t", {}), res("f", {})};
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  f->transient = {"t"};
  f->fail = {"f"};
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  ExecOptions opt;
  opt.backoff = std::chrono::milliseconds(1);
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, quiet, opt, &out);
  CHECK(s.applied == 1);
  CHECK(out[0].attempts == 2);
  CHECK(out[1].attempts == 1);
  CHECK(out[1].error->message == "refused");
}

namespace {
// Takes batches: records each call's ids; the per-change answers come from FakeProvider::apply.
class BatchingProvider : public FakeProvider {
 public:
  size_t max_batch() const override { return batch_cap; }
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse r;
    r.results.resize(req.resources.size());
    // What failed transiently did not happen: it is retried.
    for (size_t k = 0; k < r.results.size(); ++k)
      r.results[k].exists = !transient.count(*req.resources[k].id);
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& v : req.resources) observed.push_back(*v.id);
    observe_threads.push_back(std::this_thread::get_id());
    return r;
  }
  std::vector<ApplyResponse> apply_batch(const std::vector<ApplyRequest>& reqs) override {
    std::vector<std::string> ids;
    for (const auto& r : reqs) ids.push_back(*r.resource.id);
    {
      std::lock_guard<std::mutex> lk(mu);
      calls.push_back(ids);
    }
    return Provider::apply_batch(reqs);
  }
  size_t batch_cap = 100;
  std::vector<std::vector<std::string>> calls;   // guarded by mu
  std::vector<std::string> observed;             // guarded by mu
  std::vector<std::thread::id> observe_threads;  // guarded by mu
};
}  // namespace

TEST_CASE("a provider that takes batches gets the ready changes in few calls, after their deps") {
  Plan p;
  for (int i = 0; i < 50; ++i) p.resources.push_back(res("a" + std::to_string(i), {}));
  for (int i = 0; i < 50; ++i)
    p.resources.push_back(res("m" + std::to_string(i), {"a" + std::to_string(i)}));
  p.resources.push_back(res("late", {"m0"}, Action::kNoop));
  p.resources.back().deferred = true;  // a deferred check: observed, alone, never batched
  ProviderMap providers;
  auto fake = std::make_unique<BatchingProvider>();
  BatchingProvider* f = fake.get();
  f->cap = 2;
  f->batch_cap = 20;
  f->fail = {"a7"};
  f->transient = {"a3"};
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  ExecOptions opt;
  opt.parallelism = 8;
  opt.backoff = std::chrono::milliseconds(1);
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, quiet, opt, &out);
  CHECK(s.failed == 1);   // a7
  CHECK(s.skipped == 1);  // m7
  CHECK(s.applied == 98);
  CHECK(out[3].attempts == 2);  // retried on its own...
  CHECK(out[4].attempts == 1);  // ...its batch-mates were not
  CHECK(out[7].error->message == "refused");
  CHECK(out[57].because == "a7");
  // 50 ready changes over 2 slots would be two calls of 25; the provider takes 20 at most.
  REQUIRE(f->calls.size() >= 2);
  auto call_with = [&](const std::string& id) {
    for (const auto& c : f->calls)
      if (std::find(c.begin(), c.end(), id) != c.end()) return c;
    return std::vector<std::string>{};
  };
  CHECK(call_with("a0").size() == 20);
  CHECK(call_with("a0").front() == "a0");
  CHECK(call_with("a20").size() == 20);
  CHECK(call_with("a20").front() == "a20");
  size_t biggest = 0;
  for (const auto& c : f->calls) biggest = std::max(biggest, c.size());
  CHECK(biggest <= 20);
  CHECK(f->calls.size() < 20);
  // Every m-change ran after its a-change.
  auto pos = [&](const std::string& id) {
    return std::find(f->order.begin(), f->order.end(), id) - f->order.begin();
  };
  for (int i = 0; i < 50; ++i)
    if (i != 7) CHECK(pos("a" + std::to_string(i)) < pos("m" + std::to_string(i)));
  CHECK(f->peak.load() <= 2);
  CHECK(f->observed == std::vector<std::string>{"a3", "late"});  // a3 before its retry
  // Observed by the scheduler (the caller's thread), never by a worker.
  REQUIRE(f->observe_threads.size() == 2);
  for (const auto& t : f->observe_threads) CHECK(t == std::this_thread::get_id());
  CHECK(out[100].outcome == Outcome::kNoop);
}

TEST_CASE("what other changes wait for is applied first, so that they can follow sooner") {
  Plan p;
  for (int i = 0; i < 5; ++i) p.resources.push_back(res("x" + std::to_string(i), {}));
  p.resources.push_back(res("t", {}));  // last in plan order, but three changes wait for it
  for (int i = 0; i < 3; ++i) p.resources.push_back(res("d" + std::to_string(i), {"t"}));
  FakeRun run(p, /*cap=*/1, /*parallelism=*/1);  // one at a time: the order is the executor's
  FakeProvider* f = run.fake;
  CHECK(run.sum.applied == 9);
  REQUIRE(f->order.size() == 9);
  CHECK(f->order[0] == "t");
  // Among equals, plan order.
  auto pos = [&](const std::string& id) {
    return std::find(f->order.begin(), f->order.end(), id) - f->order.begin();
  };
  for (int i = 1; i < 5; ++i)
    CHECK(pos("x" + std::to_string(i - 1)) < pos("x" + std::to_string(i)));
}

TEST_CASE("deferred checks are observed on the scheduler thread and judged there") {
  Plan p;
  p.resources = {res("a", {}), res("b", {})};
  for (const char* id : {"ca", "cb1", "cb2"}) {
    PlannedResource c = res(id, {std::string(id).substr(1, 1)}, Action::kNoop);
    c.deferred = true;
    p.resources.push_back(c);
  }
  p.resources[2].type = find_type("software");  // a check type: exists with no facts fails
  p.resources[2].desired = {{"min_version", Value::Str("2.0")}};
  ProviderMap providers;
  auto fake = std::make_unique<BatchingProvider>();
  BatchingProvider* f = fake.get();
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, quiet, ExecOptions{}, &out);
  CHECK(s.applied == 2);
  CHECK(s.failed == 1);
  CHECK(s.noop == 2);
  REQUIRE(out[2].error);
  CHECK(out[2].error->message.find("check failed: min_version") == 0);
  CHECK(out[2].error->resource == "ca");
  CHECK(out[3].outcome == Outcome::kNoop);
  std::vector<std::string> seen = f->observed;
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"ca", "cb1", "cb2"});
  for (const auto& t : f->observe_threads) CHECK(t == std::this_thread::get_id());
}

namespace {
// Records what it is told; batch_end() fails from the `fail_from`-th call on (1-based; 0: never).
class RecordingObserver : public ApplyObserver {
 public:
  void started(const PlannedResource& r) override { started_ids.push_back(r.id); }
  void finished(const PlannedResource& r, const ResourceOutcome& o) override {
    finished_ids.push_back(r.id);
    if (o.outcome == Outcome::kFailed && o.error) errors[r.id] = o.error->message;
  }
  Status batch_end() override {
    ++ends;
    if (fail_from > 0 && ends >= fail_from) return Error::Io("journal j.sqlite: commit: disk full");
    return {};
  }
  int fail_from = 0;
  int ends = 0;
  std::vector<std::string> started_ids, finished_ids;
  std::map<std::string, std::string> errors;
};
}  // namespace

TEST_CASE("a batch the observer cannot record stops the run before its provider is called") {
  Plan p;
  p.resources = {res("a", {}), res("b", {"a"}), res("n", {}, Action::kNoop)};
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  providers["fake"] = std::move(fake);
  RecordingObserver obs;
  obs.fail_from = 2;  // the first batch settles the no-op; the second holds a's intent
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, obs, ExecOptions{}, &out);
  CHECK(f->order.empty());  // no provider call
  CHECK(s.failed == 2);
  CHECK(s.noop == 1);
  CHECK(obs.started_ids == std::vector<std::string>{"a"});
  CHECK(obs.errors["a"] == "not applied, the run stopped: journal j.sqlite: commit: disk full");
  CHECK(obs.errors["b"] == obs.errors["a"]);
  REQUIRE(out[1].error);
  CHECK(out[1].error->kind == ErrorKind::kIo);
  CHECK(out[1].error->resource == "b");
  CHECK(obs.finished_ids.size() == 3);  // everything is reported once
}

TEST_CASE("when recording fails mid-run, running calls finish and nothing more starts") {
  Plan p;
  for (int i = 0; i < 6; ++i) p.resources.push_back(res("r" + std::to_string(i), {}));
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  f->cap = 2;
  providers["fake"] = std::move(fake);
  RecordingObserver obs;
  obs.fail_from = 3;  // settle, r0's intent, then r1's intent fails
  ExecOptions opt;
  opt.parallelism = 2;
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, obs, opt, &out);
  REQUIRE(f->order.size() == 1);
  CHECK(f->order[0] == "r0");
  CHECK(out[0].outcome == Outcome::kApplied);  // it was running: it finished and was reported
  CHECK(s.applied == 1);
  CHECK(s.failed == 5);
  for (int i = 1; i < 6; ++i)
    CHECK(out[i].error->message.find("not applied, the run stopped") == 0);
  CHECK(obs.finished_ids.size() == 6);
}

namespace {
// Makes its changes in `world`; the first apply of each id in `lose` is made and then answered
// with a transient error (a timeout after the write). A create of what exists is refused.
class LostReplyProvider : public Provider {
 public:
  ObserveResponse observe(const ObserveRequest& req) override {
    std::lock_guard<std::mutex> lk(mu);
    ObserveResponse r;
    for (const auto& v : req.resources) {
      Observation o;
      if (auto it = world.find(*v.id); it != world.end()) {
        o.exists = true;
        o.attrs = it->second;
      }
      observed.push_back(*v.id);
      r.results.push_back(std::move(o));
    }
    return r;
  }
  ApplyResponse apply(const ApplyRequest& req) override {
    std::lock_guard<std::mutex> lk(mu);
    const std::string& id = *req.resource.id;
    ++calls[id];
    if (req.action == Action::kCreate && world.count(id))
      return {Error::Conflict("already exists")};
    if (req.action == Action::kDelete)
      world.erase(id);
    else
      world[id] = *req.resource.attrs;
    if (lose.count(id) && calls[id] == 1) return {Error::Transient("timed out")};
    return {};
  }
  std::mutex mu;
  std::set<std::string> lose;
  std::map<std::string, AttrMap> world;  // guarded by mu while it runs
  std::map<std::string, int> calls;      // guarded by mu while it runs
  std::vector<std::string> observed;     // guarded by mu while it runs
};
}  // namespace

TEST_CASE("a retried change that its failed call made is observed as done, not re-sent") {
  Plan p;
  p.resources = {res("a", {}), res("b", {"a"}), res("gone", {}, Action::kDelete)};
  for (auto& r : p.resources)
    r.desired = {{"name", Value::Str(r.id)}, {"path", Value::Str("DC=t")}};
  ProviderMap providers;
  auto fake = std::make_unique<LostReplyProvider>();
  LostReplyProvider* f = fake.get();
  f->lose = {"a", "gone"};
  f->world["gone"] = {{"name", Value::Str("gone")}};
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  ExecOptions opt;
  opt.backoff = std::chrono::milliseconds(1);
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, quiet, opt, &out);
  CHECK(s.applied == 3);
  CHECK(s.failed == 0);
  CHECK(s.skipped == 0);
  CHECK(out[0].outcome == Outcome::kApplied);
  CHECK_FALSE(out[0].error);
  CHECK(f->calls["a"] == 1);  // observed as created: not sent again
  CHECK(f->calls["gone"] == 1);
  CHECK(f->calls["b"] == 1);  // its dependent went ahead
  std::sort(f->observed.begin(), f->observed.end());
  CHECK(f->observed == std::vector<std::string>{"a", "gone"});
}

TEST_CASE("a retried change observed otherwise is sent again, with one intent") {
  Plan p;
  p.resources = {res("a", {})};
  p.resources[0].desired = {{"name", Value::Str("a")}, {"path", Value::Str("DC=t")}};
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();  // observes nothing; "a" fails transiently once
  FakeProvider* f = fake.get();
  f->transient = {"a"};
  providers["fake"] = std::move(fake);
  RecordingObserver obs;
  ExecOptions opt;
  opt.backoff = std::chrono::milliseconds(1);
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, obs, opt, &out);
  CHECK(s.applied == 1);
  CHECK(out[0].attempts == 2);
  CHECK(f->order == std::vector<std::string>{"a", "a"});
  CHECK(obs.started_ids == std::vector<std::string>{"a"});
  CHECK(obs.finished_ids == std::vector<std::string>{"a"});
}

TEST_CASE("changes on a dependency cycle fail and are reported; none is silently dropped") {
  Plan p;
  p.resources = {res("free", {}), res("x", {"y"}), res("y", {"x"}), res("after", {"x"}),
                 res("n", {"y"}, Action::kNoop)};
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  providers["fake"] = std::move(fake);
  RecordingObserver obs;
  std::vector<ResourceOutcome> out;
  ApplySummary s = execute(p, providers, obs, ExecOptions{}, &out);
  CHECK(f->order == std::vector<std::string>{"free"});
  CHECK(s.applied == 1);
  CHECK(s.failed == 3);  // x, y and what waits on them
  CHECK(s.noop == 1);
  CHECK(obs.finished_ids.size() == 5);
  REQUIRE(out[1].error);
  CHECK(out[1].error->message ==
        "not applied, the run stopped: the plan's dependencies form a cycle (x, y, after, n "
        "wait on it)");
  CHECK(out[3].outcome == Outcome::kFailed);
}
