// Unit tests of the mapping between directory entries / DACLs and converge resources.
#include "providers/ldap/ldap_model.h"

#include <doctest/doctest.h>

#include "engine/api/ad_rights.h"
#include "providers/ldap/ldap_conn.h"

namespace converge::ldap {
namespace {

const TypeSpec& T(const char* name) {
  const TypeSpec* t = find_type(name);
  REQUIRE(t != nullptr);
  return *t;
}

AttrMap A(std::initializer_list<std::pair<const std::string, Value>> l) { return AttrMap(l); }
Value S(const char* s) { return Value::Str(s); }

TEST_CASE("ldap model: object DNs from name, cn and path") {
  CHECK(
      object_dn(T("ou"), A({{"name", S("Service Accounts")}, {"path", S("DC=target,DC=local")}})) ==
      "OU=Service Accounts,DC=target,DC=local");
  CHECK(object_dn(T("container"), A({{"name", S("Quest, Inc")}, {"path", S("CN=System,DC=t")}})) ==
        "CN=Quest\\, Inc,CN=System,DC=t");
  CHECK(object_dn(T("account"),
                  A({{"name", S("QMM_Trg_Ex")}, {"cn", S("QMM Exchange")}, {"path", S("OU=x")}})) ==
        "CN=QMM Exchange,OU=x");
  CHECK(object_dn(T("group"), A({{"name", S("G1")}, {"path", S("OU=x")}})) == "CN=G1,OU=x");
}

TEST_CASE("ldap model: observed accounts keep the manifest's spelling of equal values") {
  Entry e;
  e.dn = "CN=qmm_trg_ex,OU=Service Accounts,DC=target,DC=local";
  e.attrs["samaccountname"] = {"qmm_trg_ex"};
  e.attrs["displayname"] = {"QMM Target Exchange"};
  e.attrs["userprincipalname"] = {"qmm_trg_ex@TARGET.LOCAL"};
  e.attrs["useraccountcontrol"] = {"66048"};  // 0x10200
  AttrMap want = A({{"name", S("QMM_Trg_Ex")},
                    {"path", S("ou=service accounts,dc=target,dc=local")},
                    {"dn", S("CN=QMM_Trg_Ex,ou=service accounts,dc=target,dc=local")},
                    {"upn", S("QMM_Trg_Ex@target.local")},
                    {"enabled", Value::Bool(true)},
                    {"password_never_expires", Value::Bool(true)}});
  AttrMap o = observe_object(T("account"), e, want);
  CHECK(o["name"] == S("QMM_Trg_Ex"));
  CHECK(o["path"] == S("ou=service accounts,dc=target,dc=local"));
  CHECK(o["dn"] == want["dn"]);
  CHECK(o["upn"] == S("QMM_Trg_Ex@target.local"));
  CHECK(o["display_name"] == S("QMM Target Exchange"));
  CHECK(o["enabled"] == Value::Bool(true));
  CHECK(o["password_never_expires"] == Value::Bool(true));
  CHECK(o["description"].is_null());
  CHECK(o.count("password") == 0);

  e.attrs["useraccountcontrol"] = {"514"};
  e.dn = "CN=QMM_Trg_Ex,CN=Users,DC=target,DC=local";
  o = observe_object(T("account"), e, want);
  CHECK(o["enabled"] == Value::Bool(false));
  CHECK(o["password_never_expires"] == Value::Bool(false));
  CHECK(o["path"] == S("CN=Users,DC=target,DC=local"));  // moved: the directory's value
}

TEST_CASE("ldap model: groups, OUs and ldap objects") {
  Entry g;
  g.dn = "CN=Exchange View-Only Administrators,OU=Microsoft Exchange Security Groups,DC=t,DC=l";
  g.attrs["samaccountname"] = {"Exchange View-Only Administrators"};
  g.attrs["grouptype"] = {"-2147483640"};
  AttrMap o = observe_object(
      T("group"), g,
      A({{"name", S("exchange view-only administrators")}, {"scope", S("Universal")}}));
  CHECK(o["scope"] == S("Universal"));
  CHECK(o["category"] == S("security"));
  CHECK(o["name"] == S("exchange view-only administrators"));

  Entry scp;
  scp.dn = "CN=svc,CN=Exchange Migration Project,CN=System,DC=t";
  scp.attrs["objectclass"] = {"top", "leaf", "connectionPoint", "serviceConnectionPoint"};
  scp.attrs["description"] = {"hello"};
  o = observe_object(T("ldap_object"), scp,
                     A({{"name", S("svc")}, {"class", S("serviceconnectionpoint")}}));
  CHECK(o["class"] == S("serviceconnectionpoint"));
  CHECK(o["description"] == S("hello"));
  o = observe_object(T("ldap_object"), scp, A({{"name", S("svc")}, {"class", S("container")}}));
  CHECK(o["class"] == S("serviceConnectionPoint"));

  Entry ou;
  ou.dn = "OU=Migrated Users,DC=t";
  o = observe_object(T("ou"), ou, A({{"name", S("Migrated Users")}, {"description", S("")}}));
  CHECK(o["description"] == S(""));  // absent means "" when the manifest asks for ""
  CHECK(o["name"] == S("Migrated Users"));
}

TEST_CASE("ldap model: create and update requests") {
  AttrMap acc = A({{"name", S("QMM_Trg_AD")},
                   {"path", S("OU=x,DC=t")},
                   {"upn", S("QMM_Trg_AD@target.local")},
                   {"display_name", S("QMM Target AD")},
                   {"enabled", Value::Bool(true)},
                   {"password_never_expires", Value::Bool(true)},
                   {"password", S("env:QMM_SERVICE_PASSWORD")}});
  auto mods = create_mods(T("account"), acc);
  REQUIRE(mods.ok());
  std::vector<Mod> want = {{Mod::kAdd, "objectClass", {"user"}},
                           {Mod::kAdd, "sAMAccountName", {"QMM_Trg_AD"}},
                           {Mod::kAdd, "userPrincipalName", {"QMM_Trg_AD@target.local"}},
                           {Mod::kAdd, "displayName", {"QMM Target AD"}},
                           {Mod::kAdd, "userAccountControl", {"66048"}}};
  CHECK(*mods == want);
  for (const auto& m : *mods)
    for (const auto& v : m.values)
      CHECK(v.find("env:") == std::string::npos);  // never the secret reference

  auto grp = create_mods(T("group"), A({{"name", S("G")},
                                        {"scope", S("universal")},
                                        {"category", S("security")},
                                        {"description", S("d")}}));
  REQUIRE(grp.ok());
  CHECK((*grp)[2] == Mod{Mod::kAdd, "groupType", {"-2147483640"}});
  CHECK(grp->back() == Mod{Mod::kAdd, "description", {"d"}});
  auto scp =
      create_mods(T("ldap_object"), A({{"name", S("x")}, {"class", S("serviceConnectionPoint")}}));
  CHECK(scp->front() == Mod{Mod::kAdd, "objectClass", {"serviceConnectionPoint"}});
  CHECK(create_mods(T("ou"), A({{"name", S("x")}}))->front() ==
        Mod{Mod::kAdd, "objectClass", {"organizationalUnit"}});

  acc["enabled"] = Value::Bool(false);
  auto up = update_mods(T("account"), acc, {"enabled", "display_name"}, 0x10200);
  REQUIRE(up.ok());
  CHECK(*up == std::vector<Mod>{{Mod::kReplace, "displayName", {"QMM Target AD"}},
                                {Mod::kReplace, "userAccountControl", {std::to_string(0x10202)}}});
  auto clear = update_mods(T("ou"), A({{"description", S("")}}), {"description"}, 0);
  CHECK(*clear == std::vector<Mod>{{Mod::kReplace, "description", {}}});
  CHECK_FALSE(update_mods(T("ldap_object"), A({{"class", S("container")}}), {"class"}, 0).ok());
  CHECK(needs_move(T("account"), {"path"}));
  CHECK(needs_move(T("account"), {"cn"}));
  CHECK_FALSE(needs_move(T("account"), {"display_name"}));
  CHECK(needs_move(T("group"), {"path"}));
}

TEST_CASE("ldap model: ldap_attribute shows current values and the copy source") {
  Entry e;
  e.dn = "CN=DB01,CN=Databases,CN=x";
  e.attrs["displayname"] = {"old"};
  e.attrs["admindisplayname"] = {"DB01"};
  AttrMap want = A({{"object", S("cn=db01,cn=databases,cn=x")},
                    {"attribute", S("displayName")},
                    {"copy_from", S("adminDisplayName")}});
  AttrMap o = observe_attribute(e, want);
  CHECK(o["value"] == Value::StrList({"old"}));
  CHECK(o["source_value"] == Value::StrList({"DB01"}));
  CHECK(o["object"] == S("cn=db01,cn=databases,cn=x"));
  e.attrs.erase("admindisplayname");
  e.attrs.erase("displayname");
  o = observe_attribute(e, want);
  CHECK(o["value"] == Value::List({}));
  CHECK(o.count("source_value") == 0);
}

sd::Sid Sid(const char* s) { return *sd::Sid::parse(s); }

TEST_CASE("ldap model: ace resources map to ACEs") {
  const sd::Guid send_as = *sd::Guid::parse("ab721a54-1e2f-11d0-9819-00aa0040529b");
  const sd::Guid scp = *sd::Guid::parse("28630ec1-41d5-11d1-a9c1-0000f80367c1");
  AceTarget t{Sid("S-1-5-21-1-2-3-1104"), std::nullopt, std::nullopt};

  auto full = desired_ace(
      A({{"rights", Value::StrList({"GenericAll"})}, {"applies_to", S("this_and_descendants")}}),
      t);
  REQUIRE(full.ok());
  CHECK(full->type == sd::kAccessAllowed);
  CHECK(full->mask == 0xF01FF);
  CHECK(full->flags == sd::kContainerInherit);

  auto deny = desired_ace(A({{"rights", Value::StrList({"0x10"})}, {"access", S("deny")}}), t);
  CHECK(deny->type == sd::kAccessDenied);
  CHECK(deny->flags == 0);

  AceTarget ts = t;
  ts.object_type = send_as;
  auto sa = desired_ace(
      A({{"rights", Value::StrList({"ExtendedRight"})}, {"applies_to", S("this_and_descendants")}}),
      ts);
  CHECK(sa->type == sd::kAccessAllowedObject);
  CHECK(sa->object_type == send_as);

  AceTarget ti = t;
  ti.inherited_object_type = scp;
  auto rw = desired_ace(A({{"rights", Value::StrList({"GenericRead", "WriteProperty"})},
                           {"applies_to", S("descendants_only")}}),
                        ti);
  CHECK(rw->mask == (0x20094u | 0x20u));
  CHECK(rw->flags == (sd::kContainerInherit | sd::kInheritOnly));
  auto children = desired_ace(
      A({{"rights", Value::StrList({"ReadProperty"})}, {"applies_to", S("children_only")}}), t);
  CHECK(children->flags == (sd::kContainerInherit | sd::kNoPropagateInherit));

  CHECK_FALSE(desired_ace(A({{"rights", Value::StrList({"Jump"})}}), t).ok());
  CHECK_FALSE(desired_ace(A({{"rights", Value::StrList({})}}), t).ok());
  CHECK_FALSE(
      desired_ace(A({{"rights", Value::StrList({"GenericAll"})}, {"applies_to", S("everywhere")}}),
                  t)
          .ok());
}

TEST_CASE("ldap model: matching explicit ACEs, replace not merge, canonical names") {
  sd::Sid me = Sid("S-1-5-21-1-2-3-1104"), other = Sid("S-1-5-21-1-2-3-1105");
  sd::Acl acl;
  acl.aces.push_back(sd::Ace::make(true, other, 0x10));
  acl.aces.push_back(
      sd::Ace::make(false, me, 0xF01FF, sd::kContainerInherit));  // explicit GenericAll
  sd::Ace inherited = sd::Ace::make(false, me, 0x20094, sd::kContainerInherit | sd::kInherited);
  acl.aces.push_back(inherited);

  // GenericAll written as a mask, with its expansion, or by name: one ACE, equal.
  AceTarget t{me, std::nullopt, std::nullopt};
  auto want = desired_ace(
      A({{"rights", Value::StrList({"GenericAll"})}, {"applies_to", S("this_and_descendants")}}),
      t);
  AceMatch m = find_explicit(acl, *want);
  CHECK(m.count == 1);
  CHECK(m.mask == 0xF01FF);
  AttrMap desired = A({{"object", S("OU=x")},
                       {"principal", S("QMM_Trg_Ex")},
                       {"access", S("allow")},
                       {"rights", Value::StrList({"0x10000000"})},
                       {"applies_to", S("this_and_descendants")}});
  AttrMap o = observe_ace(desired, m);
  CHECK(o["rights"] == Value::StrList({"GenericAll"}));
  CHECK(o["principal"] == S("QMM_Trg_Ex"));  // the manifest's name, not the SID
  CHECK(satisfies(desired["rights"], o["rights"], Compare::kRights));
  CHECK(satisfies(Value::StrList({"FullControl"}), o["rights"], Compare::kRights));

  // Inherited ACEs never match: a "this_object" read ACE is absent although one is inherited.
  auto read = desired_ace(
      A({{"rights", Value::StrList({"GenericRead"})}, {"applies_to", S("this_and_descendants")}}),
      t);
  CHECK(find_explicit(acl, *read).count == 1);  // same identity as the explicit GenericAll ACE
  sd::Acl only_inherited;
  only_inherited.aces.push_back(inherited);
  CHECK(find_explicit(only_inherited, *read).count == 0);

  // Fewer rights than present: the observed rights differ (update), and upsert replaces.
  o = observe_ace(A({{"rights", Value::StrList({"GenericRead"})}}), find_explicit(acl, *read));
  CHECK_FALSE(satisfies(Value::StrList({"GenericRead"}), o["rights"], Compare::kRights));
  sd::Acl edited = acl;
  CHECK(sd::upsert_explicit(edited, *read));
  CHECK(find_explicit(edited, *read).mask == 0x20094);
  CHECK(edited.aces.back() == inherited);  // inherited ACE untouched

  // Two explicit ACEs of one identity: reported so that the plan collapses them.
  sd::Acl twice = acl;
  twice.aces.insert(twice.aces.begin() + 2, sd::Ace::make(false, me, 0x100, sd::kContainerInherit));
  AceMatch two = find_explicit(twice, *want);
  CHECK(two.count == 2);
  o = observe_ace(desired, two);
  CHECK(o["rights"].strings().back() == "(2 ACEs)");
  CHECK_FALSE(satisfies(desired["rights"], o["rights"], Compare::kRights));
}

TEST_CASE("ldap conn: SD flags control value and result codes") {
  CHECK(sd_flags_value(4) == std::string("\x30\x03\x02\x01\x04", 5));
  CHECK(sd_flags_value(0xF) == std::string("\x30\x03\x02\x01\x0f", 5));
  CHECK(sd_flags_value(0x80) == std::string("\x30\x04\x02\x02\x00\x80", 6));
  CHECK(is_transient(51));   // busy
  CHECK(is_transient(52));   // unavailable
  CHECK(is_transient(-1));   // server down
  CHECK(is_transient(-5));   // timeout
  CHECK(is_transient(-11));  // connect error
  CHECK_FALSE(is_transient(49));
  CHECK(kind_for(49) == ErrorKind::kInvalid);
  CHECK(kind_for(32) == ErrorKind::kNotFound);
  CHECK(kind_for(68) == ErrorKind::kConflict);
  CHECK(kind_for(50) == ErrorKind::kConflict);
  CHECK(kind_for(-1) == ErrorKind::kTransient);
}

}  // namespace
}  // namespace converge::ldap
