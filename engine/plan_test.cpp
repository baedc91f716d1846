#include "engine/plan.h"

#include <doctest/doctest.h>

#include "tests/support/kinds.h"
#include "tests/support/map_provider.h"

using namespace converge;

namespace {
using test::MapProvider;

struct Fixture {
  LoadResult lr;
  std::unique_ptr<Graph> g;
  ProviderMap providers;
  MapProvider* map = nullptr;
  explicit Fixture(const std::string& text) {
    lr = load_manifest_string(text, "p.toml", test::kinds());
    REQUIRE(lr.ok());
    g = Graph::build(lr.manifest, nullptr);
    auto p = std::make_unique<MapProvider>();
    map = p.get();
    providers["lab"] = std::move(p);
  }
  Plan plan(bool destroy = false) {
    PlanOptions o;
    o.allow_destroy = destroy;
    return make_plan(lr.manifest, *g, providers, o);
  }
  const PlannedResource& at(const Plan& p, const std::string& id) {
    for (const auto& r : p.resources)
      if (r.id == id) return r;
    FAIL("no " << id);
    return p.resources.front();
  }
};
}  // namespace

TEST_CASE("create, update with before/after, noop, sensitive secrets; one observe call per type") {
  Fixture f(R"(
[account.a]
name = "A"
path = "DC=t"
password = { env = "PW" }
display_name = "New"
[account.b]
name = "B"
path = "DC=t"
enabled = false
[account.c]
name = "C"
path = "DC=t"
enabled = false
)");
  f.map->world["account.b"] = {
      {"name", Value::Str("b")}, {"path", Value::Str("dc=T")}, {"enabled", Value::Bool(true)}};
  f.map->world["account.c"] = {{"name", Value::Str("C")},
                               {"path", Value::Str("DC=t")},
                               {"enabled", Value::Bool(false)},
                               {"password_never_expires", Value::Bool(false)}};
  Plan p = f.plan();
  CHECK(f.map->calls == 1);
  auto& a = f.at(p, "account.a");
  CHECK(a.action == Action::kCreate);
  bool sensitive = false;
  for (const auto& c : a.changes) sensitive = sensitive || (c.attr == "password" && c.sensitive);
  CHECK(sensitive);
  auto& b = f.at(p, "account.b");
  CHECK(b.action == Action::kUpdate);
  REQUIRE(b.changes.size() == 2);  // enabled, password_never_expires (path differs only in case)
  CHECK(b.changes[0].attr == "enabled");
  CHECK(b.changes[0].before == Value::Bool(true));
  CHECK(b.changes[0].after == Value::Bool(false));
  CHECK(f.at(p, "account.c").action == Action::kNoop);
  CHECK(p.to_json().find("(sensitive)") != std::string::npos);
  CHECK(p.to_json().find("env:PW") != std::string::npos);
}

TEST_CASE(
    "absent needs --allow-destroy; a failed check blocks its dependents with the root cause") {
  Fixture f(R"(
[account.old]
name = "old"
path = "DC=t"
ensure = "absent"
[software.mapi]
host = "EXCH1"
product = "MAPI CDO"
min_version = "6.5.8353.0"
[local_group_member.ah]
host = "EXCH1"
member = "QMM_Trg_AH"
depends_on = ["software.mapi"]
)");
  f.map->world["account.old"] = {{"name", Value::Str("old")}};
  f.map->world["software.mapi"] = {{"min_version", Value::Str("6.5.8211.0")}};
  Plan p = f.plan();
  CHECK(f.at(p, "account.old").action == Action::kBlocked);
  CHECK(f.at(p, "account.old").reason == "deletion needs --allow-destroy");
  auto& sw = f.at(p, "software.mapi");
  CHECK(sw.action == Action::kBlocked);
  CHECK(sw.restart_required);
  CHECK(sw.reason.find("have \"6.5.8211.0\", need >= \"6.5.8353.0\"") != std::string::npos);
  auto& ah = f.at(p, "local_group_member.ah");
  CHECK(ah.action == Action::kBlocked);
  CHECK(ah.blocked_by == std::vector<std::string>{"software.mapi"});
  CHECK(f.plan(true).resources.front().action == Action::kDelete);
}

TEST_CASE("plan JSON round-trips") {
  Fixture f("[ou.x]\nname = \"X\"\npath = \"DC=t\"\n");
  Plan p = f.plan();
  auto back = Plan::from_json(p.to_json(), "plan.json");
  REQUIRE(back.ok());
  CHECK(back->to_json() == p.to_json());
  CHECK_FALSE(Plan::from_json("{\"format_version\": \"9\"}", "x").ok());
  CHECK_FALSE(Plan::from_json("not json", "x").ok());
}

TEST_CASE("a failing check whose dependencies change now is deferred until they are applied") {
  Fixture f(R"(
[accepted_domain.t]
name = "target.local"
domain = "*.target.local"
[smtp_probe.p]
from = "a@source.local"
to = "b@target.local"
depends_on = ["accepted_domain.t"]
[software.mapi]
host = "EXCH1"
product = "MAPI CDO"
min_version = "6.5.8353.0"
)");
  f.map->world["smtp_probe.p"] = {{"expect", Value::Str("refused")}};
  f.map->world["software.mapi"] = {{"min_version", Value::Str("6.5.8211.0")}};
  Plan p = f.plan();
  auto& probe = f.at(p, "smtp_probe.p");
  CHECK(probe.action == Action::kNoop);
  CHECK(probe.deferred);
  CHECK(probe.reason.find("checked after its dependencies are applied") == 0);
  // A failing check with nothing pending before it stays blocked.
  CHECK(f.at(p, "software.mapi").action == Action::kBlocked);
  CHECK_FALSE(f.at(p, "software.mapi").deferred);
  // Once nothing is pending, the probe is judged at plan time.
  f.map->world["accepted_domain.t"] = {{"name", Value::Str("target.local")},
                                       {"domain", Value::Str("*.target.local")},
                                       {"domain_type", Value::Str("Authoritative")}};
  Plan again = f.plan();
  CHECK(f.at(again, "smtp_probe.p").action == Action::kBlocked);
}

TEST_CASE("the plan file reads back as the plan written, pretty and compact") {
  Fixture f(
      "[account.svc]\nname = \"svc\"\npath = \"OU=Svc,DC=t\"\npassword = { env = \"PW\" }\n"
      "[ou.x]\nname = \"X \\\"quoted\\\" \\\\ tab\\t nl\\n \\u0001 é 日本 🙂\"\npath = "
      "\"DC=t\"\n"
      "[group.g]\nname = \"G\"\npath = \"DC=t\"\n"
      "[group_member.m]\ngroup = \"G\"\nmember = \"svc\"\n");
  f.map->world["ou.x"] = {{"name", Value::Str("old\x7f")}, {"path", Value::Str("DC=t")}};
  Plan p = f.plan();
  p.notes = {"a note", "\x1f"};
  p.resources.front().blocked_by = {"x", "y"};
  p.resources.front().deferred = true;
  p.resources.front().drift = DriftMode::kMonitor;
  for (int indent : {2, -1}) {
    CAPTURE(indent);
    std::string text = p.to_json(indent);
    auto back = Plan::from_json(text, "p.json");
    REQUIRE(back.ok());
    CHECK(back->to_json(indent) == text);
    CHECK(back->resources.front().deferred);
    CHECK(back->resources.front().drift == DriftMode::kMonitor);
  }
  CHECK(p.to_json(-1).find('\n') == std::string::npos);
  CHECK(p.to_json(-1, true).find("\"noop\":0") != std::string::npos);
}

TEST_CASE("plan JSON: bytes that are not UTF-8 become U+FFFD instead of failing the write") {
  Plan p;
  p.notes = {
      "a\xff"
      "b"};
  CHECK(p.to_json(-1).find("a\xEF\xBF\xBD"
                           "b") != std::string::npos);
}

TEST_CASE("declared rules: a value copied from what is observed; a switch for restarts") {
  Fixture f(R"(
[ldap_attribute.copy]
object = "CN=A,DC=t"
attribute = "displayName"
copy_from = "adminDisplayName"
[ldap_attribute.empty]
object = "CN=B,DC=t"
attribute = "displayName"
copy_from = "adminDisplayName"
[registry_value.quiet]
host = "GC1"
key = "HKLM\\Soft"
value_name = "n"
data = 5
restart_required = false
[registry_value.loud]
host = "GC1"
key = "HKLM\\Soft"
value_name = "m"
data = 5
)");
  f.map->world["ldap_attribute.copy"] = {{"value", Value::StrList({"old"})},
                                         {"source_value", Value::StrList({"Admin A"})}};
  f.map->world["ldap_attribute.empty"] = {{"value", Value::StrList({"old"})}};
  f.map->world["registry_value.quiet"] = {{"data", Value::Int(50)}};
  f.map->world["registry_value.loud"] = {{"data", Value::Int(50)}};
  Plan p = f.plan();
  auto& copy = f.at(p, "ldap_attribute.copy");
  CHECK(copy.action == Action::kUpdate);
  CHECK(copy.desired.at("value") == Value::StrList({"Admin A"}));
  auto& empty = f.at(p, "ldap_attribute.empty");
  CHECK(empty.action == Action::kBlocked);
  CHECK(empty.reason == "attribute 'adminDisplayName' to copy from is empty");
  CHECK(f.at(p, "registry_value.quiet").action == Action::kUpdate);
  CHECK_FALSE(f.at(p, "registry_value.quiet").restart_required);
  CHECK(f.at(p, "registry_value.loud").restart_required);
}
