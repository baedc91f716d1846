#include "engine/executor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>

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
  ProviderMap providers;
  auto fake = std::make_unique<FakeProvider>();
  FakeProvider* f = fake.get();
  f->cap = 2;
  providers["fake"] = std::move(fake);
  ApplyObserver quiet;
  ExecOptions opt;
  opt.parallelism = 8;
  ApplySummary s = execute(p, providers, quiet, opt);
  CHECK(s.applied == 40);
  CHECK(f->peak.load() <= 2);
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
