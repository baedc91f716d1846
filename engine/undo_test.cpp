#include "engine/undo.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "tests/support/map_provider.h"

using namespace converge;

namespace {

PlannedResource change(const std::string& id, const std::string& type, Action a) {
  PlannedResource r;
  r.id = id;
  r.type = find_type(type);
  r.provider = "p";
  r.action = a;
  return r;
}

ChangeRecord record(const std::string& id, const std::string& status) {
  ChangeRecord c;
  c.resource = id;
  c.status = status;
  return c;
}

// A run that created ou.parent, then group_member.m inside it, updated account.a's description
// from "old" to "new", and deleted group_member.gone.
Plan stored_run() {
  Plan p;
  p.manifest_path = "m.toml";
  auto parent = change("ou.parent", "ou", Action::kCreate);
  parent.desired = {{"name", Value::Str("Parent")}};
  auto member = change("group_member.m", "group_member", Action::kCreate);
  member.depends_on = {"ou.parent"};
  auto acct = change("account.a", "account", Action::kUpdate);
  acct.desired = {{"name", Value::Str("a")}, {"description", Value::Str("new")}};
  acct.changes = {{"description", Value::Str("old"), Value::Str("new"), false}};
  auto gone = change("group_member.gone", "group_member", Action::kDelete);
  gone.before = {{"group", Value::Str("g")}, {"member", Value::Str("x")}};
  p.resources = {parent, member, acct, gone};
  return p;
}

std::vector<ChangeRecord> all_applied() {
  return {record("ou.parent", "applied"), record("group_member.m", "applied"),
          record("account.a", "applied"), record("group_member.gone", "applied")};
}

const PlannedResource* find(const Plan& p, const std::string& id) {
  for (const auto& r : p.resources)
    if (r.id == id) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("undo: only what the run applied is undone, in the order it was applied") {
  Plan stored = stored_run();
  auto applied = applied_changes(
      stored, {record("account.a", "applied"), record("ou.parent", "failed"),
               record("group_member.m", "applied"), record("not.in_plan", "applied")});
  REQUIRE(applied.size() == 2);
  CHECK(applied[0]->id == "account.a");
  CHECK(applied[1]->id == "group_member.m");
}

TEST_CASE("undo: the inverse deletes creates, restores updates, re-creates deletes") {
  Plan stored = stored_run();
  Plan inv = inverse_plan(stored, applied_changes(stored, all_applied()), /*allow_destroy=*/true);
  REQUIRE(inv.resources.size() == 4);
  CHECK(inv.allow_destroy);
  CHECK(find(inv, "ou.parent")->action == Action::kDelete);
  CHECK(find(inv, "group_member.m")->action == Action::kDelete);
  const PlannedResource* a = find(inv, "account.a");
  CHECK(a->action == Action::kUpdate);
  CHECK(a->desired.at("description") == Value::Str("old"));
  REQUIRE(a->changes.size() == 1);
  CHECK(a->changes[0].before == Value::Str("new"));
  CHECK(a->changes[0].after == Value::Str("old"));
  const PlannedResource* g = find(inv, "group_member.gone");
  CHECK(g->action == Action::kCreate);
  CHECK(g->desired.at("member") == Value::Str("x"));
  // What was created in dependency order is deleted in reverse: the member before its OU.
  const auto& deps = find(inv, "ou.parent")->depends_on;
  CHECK(std::find(deps.begin(), deps.end(), "group_member.m") != deps.end());
  CHECK(find(inv, "group_member.m")->depends_on.empty());
}

TEST_CASE("undo: deleting what holds data is blocked without --allow-destroy") {
  Plan stored = stored_run();
  auto applied = applied_changes(stored, all_applied());
  Plan inv = inverse_plan(stored, applied, /*allow_destroy=*/false);
  CHECK(find(inv, "ou.parent")->action == Action::kBlocked);
  CHECK(find(inv, "ou.parent")->reason ==
        "undo would delete a ou that holds data; pass --allow-destroy");
  CHECK(find(inv, "group_member.m")->action == Action::kDelete);  // holds no data
  CHECK(inv.summary().blocked == 1);
}

TEST_CASE("undo: refused where the target is no longer as the run left it") {
  Plan stored = stored_run();
  auto applied = applied_changes(stored, all_applied());
  ProviderMap providers;
  auto map = std::make_unique<test::MapProvider>();
  auto* world = &map->world;
  providers["p"] = std::move(map);
  (*world)["ou.parent"] = {{"name", Value::Str("Parent")}};
  (*world)["group_member.m"] = {};
  (*world)["account.a"] = {{"name", Value::Str("a")}, {"description", Value::Str("new")}};

  Plan inv = inverse_plan(stored, applied, true);
  CHECK(moved_since(applied, inv, providers).empty());
  CHECK(find(inv, "account.a")->before.at("description") == Value::Str("new"));

  (*world)["account.a"]["description"] = Value::Str("changed by hand");
  (*world).erase("ou.parent");
  (*world)["group_member.gone"] = {};  // re-created by someone else
  Plan again = inverse_plan(stored, applied, true);
  auto moved = moved_since(applied, again, providers);
  std::sort(moved.begin(), moved.end());
  CHECK(moved == std::vector<std::string>{"account.a", "group_member.gone", "ou.parent"});
}
