#include "engine/saved_plan.h"

#include <doctest/doctest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "tests/support/kinds.h"
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

namespace {

// A manifest, its graph, a MapProvider "lab" and the plan made of them, saved and loaded again:
// what `converge apply` compares.
struct Saved {
  LoadResult lr;
  std::unique_ptr<Graph> g;
  ProviderMap providers;
  test::MapProvider* map = nullptr;
  Plan made;
  explicit Saved(const std::string& text, bool destroy = false) {
    lr = load_manifest_string(text, "m.toml", test::kinds());
    REQUIRE(lr.ok());
    g = Graph::build(lr.manifest, nullptr);
    auto p = std::make_unique<test::MapProvider>();
    map = p.get();
    providers["lab"] = std::move(p);
    map->world["ou.kept"] = {{"name", Value::Str("Kept")}, {"path", Value::Str("DC=t")}};
    map->world["account.gone"] = {{"name", Value::Str("gone")}, {"path", Value::Str("DC=t")}};
    PlanOptions o;
    o.allow_destroy = destroy;
    made = make_plan(lr.manifest, *g, providers, o);
  }
  // The plan file after `edit` changed its JSON, compared with the manifest's re-made plan.
  std::vector<std::string> differences(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = nlohmann::json::parse(made.to_json());
    edit(j);
    auto file = load_plan(j.dump(2), "plan.json");
    REQUIRE(file.ok());
    return plan_differences(*file, replan(*file, lr.manifest, *g, providers));
  }
  nlohmann::json& resource(nlohmann::json& j, const std::string& id) {
    for (auto& r : j["resources"])
      if (r["id"] == id) return r;
    FAIL("no " << id);
    return j;
  }
};

const char* kManifest = R"(
[ou.kept]
name = "Kept"
path = "DC=t"
[ou.new]
name = "New"
path = "DC=t"
description = "made by converge"
[account.gone]
name = "gone"
path = "DC=t"
ensure = "absent"
)";

}  // namespace

TEST_CASE("saved plan: an honest plan is what the manifest plans against its observations") {
  Saved s(kManifest);
  CHECK(s.differences([](nlohmann::json&) {}).empty());
  int calls = s.map->calls;
  auto file = load_plan(s.made.to_json(), "plan.json");
  REQUIRE(file.ok());
  Plan again = replan(*file, s.lr.manifest, *s.g, s.providers);
  CHECK(s.map->calls == calls);  // re-planning observes nothing
  CHECK(again.to_json() == s.made.to_json().replace(s.made.to_json().find(s.made.created_at),
                                                    s.made.created_at.size(), again.created_at));
}

TEST_CASE("saved plan: an added provider block or a changed setting is refused") {
  Saved s(kManifest);
  auto d = s.differences([](nlohmann::json& j) {
    j["providers"].push_back(
        {{"name", "evil"}, {"type", "ldap"}, {"settings", {{"url", "ldap://127.0.0.1:9"}}}});
  });
  CHECK(d == std::vector<std::string>{
                 "provider.evil: added to the plan (the manifest does not declare it)"});
  d = s.differences([](nlohmann::json& j) { j["providers"][0]["settings"]["path"] = "/x"; });
  CHECK(d == std::vector<std::string>{"provider.lab: different settings: path"});
}

TEST_CASE("saved plan: an appended resource, a duplicate id or a removed one is named") {
  Saved s(kManifest);
  auto d = s.differences([&](nlohmann::json& j) {
    nlohmann::json ace = s.resource(j, "ou.new");
    ace["id"] = "ace.extra";
    ace["type"] = "ace";
    j["resources"].push_back(ace);
  });
  CHECK(d == std::vector<std::string>{
                 "ace.extra: added to the plan (the manifest does not declare it)"});
  d = s.differences([&](nlohmann::json& j) {
    nlohmann::json dup = s.resource(j, "ou.kept");
    dup["action"] = "update";
    j["resources"].push_back(dup);
  });
  CHECK(d == std::vector<std::string>{"ou.kept: listed twice in the plan"});
  d = s.differences([](nlohmann::json& j) { j["resources"].erase(0); });
  REQUIRE(d.size() == 1);
  CHECK(d[0].find(": removed from the plan (the manifest declares it)") != std::string::npos);
}

TEST_CASE("saved plan: another action, attribute value or desired value is named") {
  Saved s(kManifest);
  auto d = s.differences([&](nlohmann::json& j) { s.resource(j, "ou.kept")["action"] = "delete"; });
  CHECK(d == std::vector<std::string>{
                 "ou.kept: different action (the plan says delete, the manifest gives noop)"});
  d = s.differences([&](nlohmann::json& j) {
    for (auto& c : s.resource(j, "ou.new")["changes"])
      if (c["attribute"] == "description") c["after"] = "made by someone else";
  });
  CHECK(d == std::vector<std::string>{
                 "ou.new: different attributes: description (the plan says (none) -> \"made by "
                 "someone else\", the manifest gives (none) -> \"made by converge\")"});
  d = s.differences(
      [&](nlohmann::json& j) { s.resource(j, "ou.new")["desired"]["description"] = "other"; });
  CHECK(d == std::vector<std::string>{"ou.new: different desired attributes: description"});
  d = s.differences([&](nlohmann::json& j) {
    s.resource(j, "ou.new")["changes"].push_back(
        {{"attribute", "managed_by"}, {"before", nullptr}, {"after", "x"}, {"sensitive", false}});
  });
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("ou.new: different attributes: managed_by (only in the plan") == 0);
  d = s.differences(
      [&](nlohmann::json& j) { s.resource(j, "ou.new")["depends_on"] = {"ou.kept"}; });
  CHECK(d ==
        std::vector<std::string>{
            "ou.new: different dependencies (the plan says [ou.kept], the manifest gives [])"});
}

TEST_CASE("saved plan: deletions are planned only when the plan was made with --allow-destroy") {
  Saved without(kManifest);
  auto d = without.differences(
      [&](nlohmann::json& j) { without.resource(j, "account.gone")["action"] = "delete"; });
  CHECK(d == std::vector<std::string>{
                 "account.gone: different action (the plan says delete, the manifest gives "
                 "blocked)"});
  Saved with(kManifest, /*destroy=*/true);
  CHECK(with.differences([](nlohmann::json&) {}).empty());
  auto file = load_plan(with.made.to_json(), "plan.json");
  REQUIRE(file.ok());
  Plan again = replan(*file, with.lr.manifest, *with.g, with.providers);
  CHECK(again.summary().del == 1);
}

TEST_CASE("saved plan: nesting beyond the limit is a clean error, also very deep input") {
  std::string deep = "{\"format_version\": \"1\", \"x\": " + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  auto r = load_plan(deep, "deep.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nested deeper than 32 levels") != std::string::npos);
  CHECK_FALSE(load_plan("{\"format_version\": ", "bad.json").ok());
}

TEST_CASE("saved plan: a number too large for a double is a clean error, not a crash") {
  auto r = load_plan("{\"format_version\": \"1\", \"notes\": [4E444]}", "big.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("not a plan file") != std::string::npos);
  CHECK(r.error().message.find("number overflow") != std::string::npos);
}

TEST_CASE("saved plan: SHA-256 of known inputs") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(manifest_digest("abc") ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
