#include "engine/manifest.h"

#include <doctest/doctest.h>

#include <chrono>

#include "engine/api/names.h"
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

TEST_CASE("escape_rdn_value: RFC 4514 specials, edge spaces, a leading #, NUL") {
  CHECK(escape_rdn_value("Sales") == "Sales");
  CHECK(escape_rdn_value("Sales,OU=Domain Controllers") == "Sales\\,OU\\=Domain Controllers");
  CHECK(escape_rdn_value("a+b\"c\\d<e>f;g") == "a\\+b\\\"c\\\\d\\<e\\>f\\;g");
  CHECK(escape_rdn_value("#1 team") == "\\#1 team");
  CHECK(escape_rdn_value("a#b") == "a#b");
  CHECK(escape_rdn_value(" padded ") == "\\ padded\\ ");
  CHECK(escape_rdn_value("in ner") == "in ner");
  CHECK(escape_rdn_value(std::string("a\0b", 3)) == "a\\00b");
  CHECK(escape_rdn_value("a\nb") == "a\\0ab");
}

TEST_CASE("the derived dn escapes the name: a comma in a name cannot name another object") {
  auto r = load(R"(
[ou.sales]
name = "Sales,OU=Domain Controllers"
path = "DC=target,DC=local"

[group.g]
name = "G"
path = "${ou.sales.dn}"
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  const std::string ou_dn = "OU=Sales\\,OU\\=Domain Controllers,DC=target,DC=local";
  CHECK(r.manifest.find("ou.sales")->attrs.at("dn").as_string() == ou_dn);
  // The group lives in the OU created, not in OU=Domain Controllers.
  CHECK(r.manifest.find("group.g")->attrs.at("dn").as_string() == "CN=G," + ou_dn);
  CHECK(canonical_dn(ou_dn) != canonical_dn("OU=Sales,OU=Domain Controllers,DC=target,DC=local"));
}

TEST_CASE("expansion is capped: references that double at each step fail fast, named") {
  // group.g0.description = "${group.g1.description}${group.g1.description}", ... 40 levels:
  // 2^40 bytes uncapped.
  std::string text;
  for (int i = 0; i < 40; ++i) {
    std::string next = "${group.g" + std::to_string(i + 1) + ".description}";
    text += "[group.g" + std::to_string(i) + "]\nname = \"G" + std::to_string(i) +
            "\"\npath = \"DC=t,DC=local\"\ndescription = \"" + next + next + "\"\n\n";
  }
  text += "[group.g40]\nname = \"G40\"\npath = \"DC=t,DC=local\"\ndescription = \"" +
          std::string(100, 'x') + "\"\n";
  auto t0 = std::chrono::steady_clock::now();
  auto r = load(text);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  REQUIRE_FALSE(r.ok());
  std::string e = errors(r);
  CHECK(e.find("'description' expands to more than 65536 bytes") != std::string::npos);
  CHECK(e.find("group.g30: 'description' expands") != std::string::npos);  // 100 * 2^10 > 64K
  CHECK(r.errors.size() == 1);  // what refers to the failed value is not blamed again
  CHECK(e.find("m.toml:") != std::string::npos);
}

TEST_CASE("provider settings: { file } only for secret settings; { env } anywhere") {
  auto r = load(R"([provider.dc]
type = "ldap"
url = { file = "secrets.env" }
base_dn = "DC=target,DC=local"
bind_dn = { env = "BIND_DN" }
password = { file = "pw" }
)");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() ==
        "m.toml:3:1: provider.dc.url: { file } references are only for secret settings "
        "(password) (write the value itself, or { env = \"VAR\" })");
  auto ok = load(R"([provider.dc]
type = "ldap"
url = { env = "URL" }
base_dn = "DC=target,DC=local"
bind_dn = "admin@target.local"
password = { file = "pw" }
)");
  CHECK_MESSAGE(ok.ok(), errors(ok));
}

TEST_CASE("dns_record names are DNS names") {
  auto rec = [](const std::string& name) {
    return load("[dns_record.r]\nzone = \"target.local.\"\nname = \"" + name +
                "\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n");
  };
  for (const char* good : {"exch1", "@", "*", "*.mail", "_ldap._tcp", "exch1.target.local.",
                           "a-b.c_d", "x1234567890123456789012345678901234567890123456789012"})
    CHECK_MESSAGE(rec(good).ok(), good, ": ", errors(rec(good)));
  struct Bad {
    std::string name, why;
  };
  for (const Bad& b : std::vector<Bad>{
           {"exch1 IN A 10.0.0.1", "holds whitespace or a control character"},
           {"a\\tb", "holds whitespace or a control character"},
           {"a..b", "has an empty label"},
           {".a", "has an empty label"},
           {std::string(64, 'a'), "has a label longer than 63 octets"},
           {"a*", "holds '*'"},
           {"mail.*", "holds '*'"},
           {"a;b", "holds ';'"},
           {"@.x", "holds '@'"},
       }) {
    auto r = rec(b.name);
    REQUIRE_FALSE_MESSAGE(r.ok(), b.name);
    CHECK_MESSAGE(errors(r).find("m.toml:3:1: dns_record.r: 'name' is not a DNS name: it " +
                                 b.why) != std::string::npos,
                  errors(r));
  }
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  CHECK(errors(rec(long_name)).find("longer than 253 octets") != std::string::npos);
  auto zone = load("[dns_zone.z]\nname = \"target local.\"\n");
  CHECK(errors(zone).find("'name' is not a DNS name: it holds whitespace") != std::string::npos);
}
