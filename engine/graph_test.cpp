#include "engine/graph.h"

#include <doctest/doctest.h>

#include "tests/support/kinds.h"

using namespace converge;

namespace {
struct Built {
  LoadResult lr;
  std::unique_ptr<Graph> g;
  std::vector<Error> errors;
  size_t at(const std::string& id) const { return lr.manifest.index.at(id); }
  bool before(const std::string& a, const std::string& b) const {
    auto order = g->topo_order();
    auto pa = std::find(order.begin(), order.end(), at(a)),
         pb = std::find(order.begin(), order.end(), at(b));
    return pa < pb;
  }
};
Built build(const std::string& text) {
  Built b;
  b.lr = load_manifest_string(text, "g.toml", test::kinds());
  REQUIRE(b.lr.ok());
  b.g = Graph::build(b.lr.manifest, &b.errors);
  return b;
}
}  // namespace

TEST_CASE("type rules order resources without being told") {
  auto b = build(R"(
[ace.read]
object = "OU=Sync,DC=t"
principal = "QMM_Trg_Ex"
rights = ["GenericRead"]
[group_member.da]
group = "Sync Admins"
member = "QMM_Trg_Ex"
[account.ex]
name = "QMM_Trg_Ex"
path = "OU=Sync,DC=t"
enabled = false
[group.admins]
name = "Sync Admins"
path = "OU=Sync,DC=t"
[ou.sync]
name = "Sync"
path = "DC=t"
[dns_record.mx]
zone = "local"
name = "target"
type = "MX"
values = ["10 exch1.target.local."]
[dns_record.a]
zone = "local"
name = "exch1.target"
type = "A"
values = ["192.0.2.1"]
[dns_zone.local]
name = "local"
)");
  CHECK(b.errors.empty());
  CHECK_FALSE(b.g->find_cycle());
  CHECK(b.before("ou.sync", "account.ex"));
  CHECK(b.before("account.ex", "ace.read"));
  CHECK(b.before("ou.sync", "ace.read"));
  CHECK(b.before("account.ex", "group_member.da"));
  CHECK(b.before("group.admins", "group_member.da"));
  CHECK(b.before("dns_zone.local", "dns_record.a"));
  CHECK(b.before("dns_record.a", "dns_record.mx"));
  const EdgeInfo* e = b.g->edge(b.at("dns_record.a"), b.at("dns_record.mx"));
  REQUIRE(e);
  CHECK(e->kind == "inferred");
}

TEST_CASE("a cycle is reported as an ordered path with locations and edge kinds") {
  auto b = build(R"(
[container.a]
name = "a"
path = "DC=t"
depends_on = ["container.b"]
[container.b]
name = "b"
path = "CN=a,DC=t"
)");
  auto cycle = b.g->find_cycle();
  REQUIRE(cycle);
  std::string d = describe_cycle(b.lr.manifest, *cycle);
  CHECK(d.find("explicit depends_on") != std::string::npos);
  CHECK(d.find("inferred: path: object lives in this container") != std::string::npos);
  CHECK(d.find("g.toml:5:1") != std::string::npos);
  // Still exportable.
  CHECK(b.g->to_dot(b.lr.manifest).find("\"container.a\" -> \"container.b\"") != std::string::npos);
}

TEST_CASE("between two absent resources the edge is reversed: dependents are deleted first") {
  auto b = build(R"(
[ou.old]
name = "Old"
path = "DC=t"
ensure = "absent"
[account.old]
name = "old"
path = "OU=Old,DC=t"
ensure = "absent"
)");
  CHECK(b.before("account.old", "ou.old"));
}

TEST_CASE("a present resource that needs an absent one is an error") {
  auto b = build(R"(
[ou.old]
name = "Old"
path = "DC=t"
ensure = "absent"
[account.new]
name = "new"
path = "OU=Old,DC=t"
enabled = false
)");
  REQUIRE(b.errors.size() == 1);
  CHECK(b.errors[0].str().find("account.new: needs ou.old, which is ensure = \"absent\"") !=
        std::string::npos);
}

TEST_CASE("before/after list each vertex's neighbours in the order the edges were found") {
  auto b = build(R"(
[ou.sync]
name = "Sync"
path = "DC=t"
[account.a]
name = "a"
path = "OU=Sync,DC=t"
[account.b]
name = "b"
path = "ou=sync, dc=t"
[group_member.m]
group = "G"
member = "A"
depends_on = ["account.b"]
)");
  CHECK(b.errors.empty());
  size_t ou = b.at("ou.sync"), a = b.at("account.a"), c = b.at("account.b"),
         m = b.at("group_member.m");
  auto after = b.g->after(ou);
  REQUIRE(after.size() == 2);
  CHECK(after[0] == a);
  CHECK(after[1] == c);
  auto before = b.g->before(m);  // depends_on first, then the inferred member
  REQUIRE(before.size() == 2);
  CHECK(before[0] == c);
  CHECK(before[1] == a);
  CHECK(b.g->before(ou).empty());
  CHECK(b.g->edges().size() == 4);
  REQUIRE(b.g->edge(c, m));
  CHECK(b.g->edge(c, m)->kind == "depends_on");
  CHECK_FALSE(b.g->edge(m, c));
}
