#include "engine/manifest.h"

#include <doctest/doctest.h>

#include "tests/support/kinds.h"

using namespace converge;

namespace {
LoadResult load(const std::string& text) {
  return load_manifest_string(text, "m.toml", test::kinds());
}
std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.str() + "\n";
  return s;
}
}  // namespace

TEST_CASE("a resource: defaults, derived attributes, implicit lab provider") {
  auto r = load(R"(
[ou.sync]
name = "Migrated Users"
path = "DC=target,DC=local"

[account.ex]
name = "QMM_Trg_Ex"
path = "${ou.sync.dn}"
password = { env = "PW" }
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  const Resource* a = r.manifest.find("account.ex");
  REQUIRE(a);
  CHECK(a->attrs.at("path").as_string() == "OU=Migrated Users,DC=target,DC=local");
  CHECK(a->attrs.at("dn").as_string() == "CN=QMM_Trg_Ex,OU=Migrated Users,DC=target,DC=local");
  CHECK(a->attrs.at("enabled").as_bool());
  CHECK(a->attrs.at("password").as_string() == "env:PW");
  CHECK(a->provider == "lab");
  CHECK(r.manifest.provider("lab"));
  bool has_ref = false;
  for (const auto& d : a->deps)
    has_ref = has_ref || (d.target == "ou.sync" && d.kind == "reference");
  CHECK(has_ref);
}

TEST_CASE("for_each expands instances with ${each.value}; whole-string vars keep their type") {
  auto r = load(R"(
[vars]
hosts = ["EXCH1", "EXCH2"]
sessions = 100

[registry_value.nspi]
for_each = "${var.hosts}"
host = "${each.value}"
key = "HKLM\\X"
value_name = "NSPI max sessions per user"
data = "${var.sessions}"
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  REQUIRE(r.manifest.resources.size() == 2);
  const Resource* e2 = r.manifest.find("registry_value.nspi[EXCH2]");
  REQUIRE(e2);
  CHECK(e2->attrs.at("host").as_string() == "EXCH2");
  CHECK(e2->attrs.at("data").is_int());
  CHECK(e2->attrs.at("data").as_int() == 100);
}

TEST_CASE("every error is reported, with line, column, resource and hint") {
  auto r = load(R"(
[account.a]
nmae = "x"
path = "DC=t"

[acount.b]
name = "y"

[ace.c]
object = "DC=t"
principal = "x"
rights = ["GenericAll"]
applies_to = "everything"
)");
  REQUIRE(r.errors.size() >= 4);
  std::string all = errors(r);
  CHECK(all.find("m.toml:3:1: account.a: unknown attribute 'nmae' for type account (did you mean "
                 "'name'?)") != std::string::npos);
  CHECK(all.find("m.toml:6:2: unknown resource type 'acount' (did you mean 'account'?)") !=
        std::string::npos);
  CHECK(all.find("account.a: missing required attribute 'name'") != std::string::npos);
  CHECK(all.find("m.toml:13:1: ace.c: 'applies_to' = \"everything\" is not allowed") !=
        std::string::npos);
}

TEST_CASE("a literal secret is refused") {
  auto r = load("[account.a]\nname = \"a\"\npath = \"DC=t\"\npassword = \"hunter2\"\n");
  REQUIRE_FALSE(r.ok());
  CHECK(errors(r).find("m.toml:4:1: account.a: 'password' is a secret and must not be written in "
                       "the manifest") != std::string::npos);
  CHECK(errors(r).find("hunter2") == std::string::npos);
}

TEST_CASE("two resources managing one object are refused") {
  auto r = load(R"(
[group_member.a]
group = "Domain Admins"
member = "QMM_Trg_DSA"
[group_member.b]
group = "domain admins"
member = "qmm_trg_dsa"
)");
  REQUIRE_FALSE(r.ok());
  CHECK(errors(r).find("group_member.b: manages the same group_member as group_member.a") !=
        std::string::npos);
}

TEST_CASE("dangling references and depends_on get the closest id as a hint") {
  auto r = load(R"(
[ou.sync]
name = "S"
path = "DC=t"
[container.c]
name = "c"
path = "${ou.synk.dn}"
depends_on = ["ou.snyc"]
)");
  REQUIRE_FALSE(r.ok());
  std::string all = errors(r);
  CHECK(all.find("reference to unknown resource 'ou.synk' (did you mean 'ou.sync'?)") !=
        std::string::npos);
  CHECK(all.find("depends_on names unknown resource 'ou.snyc' (did you mean 'ou.sync'?)") !=
        std::string::npos);
}

TEST_CASE("TOML syntax errors carry the position") {
  auto r = load("[account.a]\nname = \"unterminated\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].loc.line == 2);
  CHECK(r.errors[0].message.find("TOML syntax error") == 0);
}

namespace {
// `count` OUs, four lines each.
std::string many_ous(int count) {
  std::string text;
  for (int i = 0; i < count; ++i)
    text += "[ou.r" + std::to_string(i) + "]\nname = \"Unit " + std::to_string(i) +
            "\"\npath = \"DC=target,DC=local\"\n\n";
  return text;
}
}  // namespace

TEST_CASE("a large manifest is one TOML document: a table's sub-table may come anywhere after it") {
  // Regression: manifests of 256 KiB or more were cut in two at a [x.y] line near the middle and
  // each half parsed alone, so [account.big] before the cut and [account.big.password] after it
  // were refused as "cannot redefine existing table".
  std::string text = "[account.big]\nname = \"big\"\npath = \"DC=target,DC=local\"\n\n" +
                     many_ous(6000) + "[account.big.password]\nenv = \"BIG_PW\"\n";
  REQUIRE(text.size() > 256 * 1024);
  auto r = load(text);
  REQUIRE_MESSAGE(r.ok(), errors(r));
  CHECK(r.manifest.resources.size() == 6001);
  REQUIRE(r.manifest.find("account.big"));
  CHECK(r.manifest.find("account.big")->attrs.at("password").as_string() == "env:BIG_PW");
}

TEST_CASE("a large manifest's errors carry their true lines; a table defined twice is refused") {
  std::string text = many_ous(6000);
  int lines = 6000 * 4;
  REQUIRE(text.size() > 256 * 1024);
  auto ok = load(text);
  REQUIRE_MESSAGE(ok.ok(), errors(ok));
  CHECK(ok.manifest.resources.size() == 6000);

  auto r = load(text + "[ou.last]\nnmae = \"x\"\npath = \"DC=t\"\n");
  CHECK(errors(r).find("m.toml:" + std::to_string(lines + 2) +
                       ":1: ou.last: unknown attribute 'nmae'") != std::string::npos);

  auto d = load(text + "[ou.r1]\nname = \"again\"\npath = \"DC=t\"\n");
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].message.find("cannot redefine existing table 'ou.r1'") != std::string::npos);
  CHECK(d.errors[0].loc.line == lines + 1);
}

TEST_CASE("for_each instances are grouped under TYPE.NAME; a single resource is only indexed") {
  auto r = load(R"(
[registry_value.nspi]
for_each = ["EXCH1", "EXCH2"]
host = "${each.value}"
key = "K"
value_name = "v"
data = 1
[registry_value.one]
host = "EXCH1"
key = "K"
value_name = "w"
data = 1
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  REQUIRE(r.manifest.groups.count("registry_value.nspi"));
  CHECK(r.manifest.groups.at("registry_value.nspi") == std::vector<size_t>{0, 1});
  CHECK_FALSE(r.manifest.groups.count("registry_value.one"));
  REQUIRE(r.manifest.find("registry_value.one"));
  CHECK(r.manifest.find("registry_value.one")->attr_locs.size() == 4);
  CHECK(r.manifest.find("registry_value.one")->loc_of("data").line == 12);
}
