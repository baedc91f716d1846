#include "engine/saved_plan.h"

#include <doctest/doctest.h>

#include "tests/support/map_provider.h"

using namespace converge;

namespace {

const std::string kProvider = "p";

// A planned update of an account on the provider "p", observed (when `exists`) as `before`.
PlannedResource account(std::string id, bool exists, AttrMap before) {
  PlannedResource r;
  r.id = std::move(id);
  r.type = find_type("account");
  r.provider = kProvider;
  r.action = Action::kUpdate;
  r.exists = exists;
  r.before = std::move(before);
  return r;
}

struct World {
  ProviderMap providers;
  test::MapProvider* map = nullptr;
  World() {
    auto m = std::make_unique<test::MapProvider>();
    map = m.get();
    providers[kProvider] = std::move(m);
  }
};

class BrokenProvider : public test::MapProvider {
 public:
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse r;
    r.results.resize(req.resources.size());
    for (auto& o : r.results) o.error = Error::Transient("server down");
    return r;
  }
};

}  // namespace

TEST_CASE("saved plan: a target as the plan saw it is not stale") {
  World w;
  w.map->world["account.a"] = {{"name", Value::Str("a")}, {"description", Value::Str("x")}};
  Plan p;
  p.resources.push_back(account("account.a", true, w.map->world["account.a"]));
  p.resources.push_back(account("account.b", false, {}));
  CHECK(stale_resources(p, w.providers).empty());
  CHECK(w.map->calls == 1);  // one batched observation
}

TEST_CASE("saved plan: a changed attribute, an object gone or appeared is named") {
  World w;
  w.map->world["account.a"] = {{"name", Value::Str("a")}, {"description", Value::Str("y")}};
  w.map->world["account.new"] = {{"name", Value::Str("new")}};
  Plan p;
  p.resources.push_back(
      account("account.a", true, {{"name", Value::Str("a")}, {"description", Value::Str("x")}}));
  p.resources.push_back(account("account.gone", true, {{"name", Value::Str("gone")}}));
  p.resources.push_back(account("account.new", false, {}));
  auto stale = stale_resources(p, w.providers);
  REQUIRE(stale.size() == 3);
  CHECK(stale[0] == "account.a: description was \"x\" when planned, now \"y\"");
  CHECK(stale[1] == "account.gone: existed when planned, now gone");
  CHECK(stale[2] == "account.new: did not exist when planned, now exists");
}

TEST_CASE("saved plan: values compare as their attribute says") {
  World w;
  w.map->world["account.a"] = {{"name", Value::Str("A")}};  // name is case-insensitive
  Plan p;
  p.resources.push_back(account("account.a", true, {{"name", Value::Str("a")}}));
  CHECK(stale_resources(p, w.providers).empty());
  w.map->world["account.a"]["description"] = Value::Str("new");  // an attribute not there before
  auto stale = stale_resources(p, w.providers);
  REQUIRE(stale.size() == 1);
  CHECK(stale[0] == "account.a: description was (none) when planned, now \"new\"");
}

TEST_CASE("saved plan: what cannot be observed now is stale; what could not be then is skipped") {
  ProviderMap providers;
  providers[kProvider] = std::make_unique<BrokenProvider>();
  Plan p;
  p.resources.push_back(account("account.a", true, {}));
  PlannedResource unknown = account("account.u", false, {});
  unknown.observe_error = Error::Transient("was down");
  p.resources.push_back(unknown);
  auto stale = stale_resources(p, providers);
  REQUIRE(stale.size() == 1);
  CHECK(stale[0] == "account.a: cannot observe: server down");
}
