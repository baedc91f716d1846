#include "engine/executor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

using namespace converge;

namespace {
// An in-memory provider that records the order of applies and fails on demand.
class FakeProvider : public Provider {
 public:
  std::string kind() const override { return "fake"; }
  bool serves(const std::string&) const override { return true; }
  int max_parallel() const override { return cap; }
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse r;
    r.results.resize(req.resources.size());
    return r;
  }
  ApplyResponse apply(const ApplyRequest& req) override {
    int now = ++running;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      order.push_back(*req.resource.id);
    }
    --running;
    if (fail.count(*req.resource.id)) return {Error::Conflict("refused")};
    if (transient.count(*req.resource.id) && transient_left-- > 0)
      return {Error::Transient("busy")};
    return {};
  }
  int cap = 4;
  std::set<std::string> fail, transient;
  std::atomic<int> transient_left{1};
  std::atomic<int> running{0}, peak{0};
  std::mutex mu;
  std::vector<std::string> order;
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
  FakeRun(const Plan& p, int cap, int parallelism) {
    auto f = std::make_unique<FakeProvider>();
    fake = f.get();
    fake->cap = cap;
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

TEST_CASE("parallelism is capped per provider") {
  Plan p;
  for (int i = 0; i < 40; ++i) p.resources.push_back(res("r" + std::to_string(i), {}));
  FakeRun run(p, /*cap=*/2, /*parallelism=*/8);
  CHECK(run.sum.applied == 40);
  CHECK(run.fake->peak.load() <= 2);
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
    for (auto& o : r.results) o.exists = true;
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& v : req.resources) observed.push_back(*v.id);
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
  std::vector<std::vector<std::string>> calls;  // guarded by mu
  std::vector<std::string> observed;            // guarded by mu
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
  f->batch_cap = 30;
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
  // 50 ready changes over 2 slots would be two calls of 25: the first call is an eighth of that
  // (3, so the target starts early), the next takes what the cap allows (30); never more.
  REQUIRE(f->calls.size() >= 2);
  auto call_with = [&](const std::string& id) {
    for (const auto& c : f->calls)
      if (std::find(c.begin(), c.end(), id) != c.end()) return c.size();
    return size_t{0};
  };
  CHECK(call_with("a0") == 3);
  CHECK(call_with("a4") == 30);
  size_t biggest = 0;
  for (const auto& c : f->calls) biggest = std::max(biggest, c.size());
  CHECK(biggest <= 30);
  CHECK(f->calls.size() < 20);
  // Every m-change ran after its a-change.
  auto pos = [&](const std::string& id) {
    return std::find(f->order.begin(), f->order.end(), id) - f->order.begin();
  };
  for (int i = 0; i < 50; ++i)
    if (i != 7) CHECK(pos("a" + std::to_string(i)) < pos("m" + std::to_string(i)));
  CHECK(f->peak.load() <= 2);
  CHECK(f->observed == std::vector<std::string>{"late"});
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
