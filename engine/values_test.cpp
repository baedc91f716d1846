#include "engine/values.h"

#include <doctest/doctest.h>

#include <set>

#include "engine/api/ad_rights.h"
#include "engine/api/schema.h"

using namespace converge;

TEST_CASE("DNs compare case- and space-insensitively") {
  CHECK(canonical_dn("OU=Migrated Users, DC=Target,DC=local") ==
        "ou=migrated users,dc=target,dc=local");
  CHECK(canonical_dn("CN=a\\,b , DC=x") == "cn=a\\,b,dc=x");
  CHECK(satisfies(Value::Str("CN=X,DC=t"), Value::Str("cn=x, dc=T"), Compare::kDn));
  CHECK_FALSE(satisfies(Value::Str("CN=X,DC=t"), Value::Str("cn=y,dc=t"), Compare::kDn));
}

TEST_CASE("DNS names are absolute and case-insensitive") {
  CHECK(canonical_dns_name("Target.Local") == "target.local.");
  CHECK(absolute_dns_name("target", "local") == "target.local.");
  CHECK(absolute_dns_name("@", "local.") == "local.");
  CHECK(absolute_dns_name("exch1.target.local.", "local") == "exch1.target.local.");
}

TEST_CASE("rights: GenericAll equals its expansion, names are case-insensitive") {
  auto all = ad_rights_mask({"GenericAll"});
  REQUIRE(all.ok());
  CHECK(*all == 0xF01FFu);
  CHECK(*ad_rights_mask({"fullcontrol"}) == 0xF01FFu);
  CHECK(*ad_rights_mask({"0x10000000"}) == 0xF01FFu);
  CHECK(ad_rights_names(0xF01FF) == std::vector<std::string>{"GenericAll"});
  CHECK(ad_rights_names(0x30) == std::vector<std::string>{"ReadProperty", "WriteProperty"});
  CHECK(satisfies(Value::StrList({"GenericAll"}), Value::StrList({"0xf01ff"}), Compare::kRights));
  CHECK_FALSE(
      satisfies(Value::StrList({"GenericRead"}), Value::StrList({"GenericAll"}), Compare::kRights));
  auto bad = ad_rights_mask({"GenricAll"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().hint.find("GenericAll") != std::string::npos);
}

TEST_CASE("versions compare numerically") {
  CHECK(compare_versions("6.5.8353.0", "6.5.8211.0") == 1);
  CHECK(compare_versions("6.5.10000.0", "6.5.8353.0") == 1);
  CHECK(compare_versions("6.5", "6.5.0.0") == 0);
  CHECK(satisfies(Value::Str("6.5.8353.0"), Value::Str("6.5.8353.1"), Compare::kVersionAtLeast));
  CHECK_FALSE(
      satisfies(Value::Str("6.5.8353.0"), Value::Str("6.5.8211.0"), Compare::kVersionAtLeast));
  CHECK_FALSE(satisfies(Value::Str("6.5.8353.0"), Value(), Compare::kVersionAtLeast));
}

TEST_CASE("sets ignore order; subsets need every desired element") {
  CHECK(satisfies(Value::StrList({"a", "B"}), Value::StrList({"b", "A"}),
                  Compare::kSetCaseInsensitive));
  CHECK(satisfies(Value::StrList({"AnonymousUsers"}),
                  Value::StrList({"ExchangeUsers", "anonymoususers"}), Compare::kSubset));
  CHECK_FALSE(satisfies(Value::StrList({"AnonymousUsers"}), Value::StrList({"ExchangeUsers"}),
                        Compare::kSubset));
}

TEST_CASE("DNS RDATA: names fold case, quoted text keeps it") {
  CHECK(satisfies(Value::StrList({"10  EXCH1.target.local."}),
                  Value::StrList({"10 exch1.target.local."}), Compare::kDnsValues));
  CHECK_FALSE(
      satisfies(Value::StrList({"\"Hello\""}), Value::StrList({"\"hello\""}), Compare::kDnsValues));
}

TEST_CASE("closest name hints") {
  CHECK(closest("acount", {"account", "group", "ace"}) == "account");
  CHECK(closest("zzzzzz", {"account", "group"}).empty());
}

TEST_CASE("derived attributes: dn from name and path; MX targets made absolute") {
  AttrMap ou{{"name", Value::Str("Migrated Users")}, {"path", Value::Str("DC=target,DC=local")}};
  derive_computed(*find_type("ou"), ou);
  CHECK(ou["dn"].as_string() == "OU=Migrated Users,DC=target,DC=local");
  AttrMap mx{{"zone", Value::Str("local")},
             {"name", Value::Str("target")},
             {"type", Value::Str("MX")},
             {"values", Value::StrList({"10 exch1.target"})}};
  derive_computed(*find_type("dns_record"), mx);
  CHECK(mx["name"].as_string() == "target.local.");
  CHECK(mx["values"].strings() == std::vector<std::string>{"10 exch1.target.local."});
  CHECK(mx["targets"].strings() == std::vector<std::string>{"exch1.target.local."});
}

TEST_CASE("every type declares its attributes once, with a doc string") {
  for (const auto& t : all_types()) {
    std::set<std::string> seen;
    CHECK_MESSAGE(!t.doc.empty(), t.name);
    for (const auto& a : t.attrs) {
      CHECK_MESSAGE(seen.insert(a.name).second,
                    std::string(t.name + "." + a.name + " declared twice"));
      for (const auto& r : a.refs)
        for (const auto& rt : r.types) {
          REQUIRE_MESSAGE(find_type(rt),
                          std::string(t.name + "." + a.name + " refers to unknown type " + rt));
          CHECK_MESSAGE(find_type(rt)->attr(r.match),
                        std::string(rt + " has no attribute " + r.match));
        }
    }
  }
}

TEST_CASE("the append_ forms add to what is there and equal the plain forms") {
  std::string out = "key|";
  append_lower(out, "MiXeD Case 123 \xC3\x84");  // bytes >= 0x80 are left alone
  CHECK(out == "key|mixed case 123 \xC3\x84");
  CHECK(lower("ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{") == "abcdefghijklmnopqrstuvwxyz@[`{");
  for (std::string dn : {"OU=Migrated Users,DC=Target,DC=local", " CN=a , DC=x ", "CN=a\\ ,DC=x",
                         "CN=a\\,b , DC=x", "cn = x,dc= t", "", " ", "CN=x\\"}) {
    std::string a = "|";
    append_canonical_dn(a, dn);
    CHECK(a == "|" + canonical_dn(dn));
  }
  CHECK(canonical_dn("CN=a\\ ,DC=x") == "cn=a\\ ,dc=x");
  CHECK(canonical_dn(" cn = x,dc= T ") == "cn=x,dc=t");
  std::string n = "z|";
  append_absolute_dns_name(n, "Host", "Target.Local");
  CHECK(n == "z|host.target.local.");
  CHECK(absolute_dns_name("host", "") == "host.");
  CHECK(absolute_dns_name(" @ ", "Local..") == "local.");
  CHECK(canonical_dns_name("a..") == "a.");
  std::string k;
  CHECK(append_normalized(k, "DC=T", Compare::kDn));
  CHECK(append_normalized(k, "|Ab", Compare::kCaseInsensitive));
  CHECK(k == "dc=t|ab");
  CHECK_FALSE(append_normalized(k, "x", Compare::kSet));
  CHECK(k == "dc=t|ab");
}

TEST_CASE("identity keys join the normalised identity attributes in declaration order") {
  AttrMap ace{{"object", Value::Str("OU=Sync , DC=T")},
              {"principal", Value::Str("QMM_Trg_Ex")},
              {"access", Value::Str("allow")},
              {"rights", Value::StrList({"GenericAll"})},
              {"applies_to", Value::Str("this_object")}};
  CHECK(identity_key(*find_type("ace"), ace) == "ou=sync,dc=t|qmm_trg_ex|allow|||this_object");
  AttrMap rec{
      {"zone", Value::Str("Local")}, {"name", Value::Str("X.local.")}, {"type", Value::Str("A")}};
  CHECK(identity_key(*find_type("dns_record"), rec) == "local.|x.local.|a");
}
