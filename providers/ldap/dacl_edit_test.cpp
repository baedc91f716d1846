// Tests of the DACL edits and the rights and "applies to" mappings they rest on.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/api/ad_rights.h"
#include "providers/ldap/security_descriptor.h"
#include "providers/ldap/security_descriptor_test_vectors.h"

namespace converge::sd {
using namespace test;

TEST_CASE("sd: generic rights expansion agrees with engine/api/ad_rights.h") {
  CHECK(expand_generic(kGenericAll) == 0xF01FF);
  CHECK(expand_generic(kGenericRead) == 0x20094);
  CHECK(expand_generic(kGenericWrite) == 0x20028);
  CHECK(expand_generic(kGenericExecute) == 0x20004);
  CHECK(expand_generic(kGenericRead | kGenericWrite | kDelete) == (0x200BC | kDelete));
  CHECK(expand_generic(0x30) == 0x30);

  // The names an ace resource uses are ad_rights.h's; the masks they give are what this module
  // writes and compares, so the two expansions must agree bit for bit.
  auto m = [](std::vector<std::string> names) {
    auto r = ad_rights_mask(names);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().str()));
    return *r;
  };
  CHECK(m({"GenericAll"}) == kAdAll);
  CHECK(m({"FullControl"}) == kAdAll);
  CHECK(m({"GenericRead"}) == kAdRead);
  CHECK(m({"GenericWrite"}) == kAdWrite);
  CHECK(m({"GenericExecute"}) == kAdExecute);
  CHECK(m({"ReadProperty", "WriteProperty"}) == (kReadProperty | kWriteProperty));
  CHECK(m({"CreateChild", "DeleteChild", "ListChildren", "Self", "DeleteTree", "ListObject",
           "ExtendedRight"}) == (kCreateChild | kDeleteChild | kListChildren | kSelf | kDeleteTree |
                                 kListObject | kExtendedRight));
  CHECK(m({"Delete", "ReadControl", "WriteDacl", "WriteOwner"}) ==
        (kDelete | kReadControl | kWriteDacl | kWriteOwner));
  for (uint32_t mask : {0u, 1u, 0x30u, 0x100u, 0xF01FFu, 0x20094u, 0x04000201u, 0xFFFFFFFFu,
                        0x80000010u, 0x0F0F0F0Fu, kGenericAll, kGenericRead | kWriteDacl}) {
    CAPTURE(mask);
    CHECK(m(ad_rights_names(mask)) == expand_generic(mask));
  }
  using V = std::vector<std::string>;
  CHECK(ad_rights_names(kGenericAll) == V{"GenericAll"});
  CHECK(ad_rights_names(0xF01FF) == V{"GenericAll"});
  CHECK(ad_rights_names(kGenericRead) == V{"GenericRead"});

  // GenericAll and its expansion are the same ACE for upsert purposes.
  Sid s = *Sid::parse("S-1-5-21-1-2-3-1104");
  CHECK(equivalent(Ace::make(false, s, kGenericAll), Ace::make(false, s, m({"GenericAll"}))));
  CHECK_FALSE(equivalent(Ace::make(false, s, kGenericAll), Ace::make(false, s, kAdRead)));
}

TEST_CASE("sd: applies_to and inheritance flags") {
  auto f = [](std::string_view s) {
    auto r = inheritance_from_applies_to(s);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().str()));
    return *r;
  };
  CHECK(f("this_object") == 0);
  CHECK(f("this_and_descendants") == kContainerInherit);
  CHECK(f("descendants_only") == (kContainerInherit | kInheritOnly));
  CHECK(f("children_only") == (kContainerInherit | kNoPropagateInherit));
  CHECK(f("0x03") == (kObjectInherit | kContainerInherit));
  auto bad = inheritance_from_applies_to("descendents_only");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().hint.find("\"descendants_only\"") != std::string::npos);
  CHECK_FALSE(inheritance_from_applies_to("0x10").ok());  // INHERITED is not a choice

  CHECK(applies_to_from_flags(0) == "this_object");
  CHECK(applies_to_from_flags(kContainerInherit | kInherited) == "this_and_descendants");
  CHECK(applies_to_from_flags(kContainerInherit | kInheritOnly | kSuccessfulAccess) ==
        "descendants_only");
  CHECK(applies_to_from_flags(kContainerInherit | kNoPropagateInherit | kFailedAccess) ==
        "children_only");
  CHECK(applies_to_from_flags(kObjectInherit | kContainerInherit | kInheritOnly) == "0x0b");
  CHECK(f(applies_to_from_flags(0x0b)) == 0x0b);
}

TEST_CASE("sd: ACE identity and equivalence") {
  Ace all = Ace::make(false, S("S-1-5-18"), kGenericAll);
  Ace expanded = Ace::make(false, S("S-1-5-18"), 0xF01FF);
  CHECK(same_identity(all, expanded));
  CHECK(equivalent(all, expanded));
  CHECK_FALSE(all == expanded);

  Ace read = Ace::make(false, S("S-1-5-18"), kReadProperty);
  CHECK(same_identity(all, read));
  CHECK_FALSE(equivalent(all, read));

  CHECK_FALSE(same_identity(all, Ace::make(true, S("S-1-5-18"), kGenericAll)));
  CHECK_FALSE(same_identity(all, Ace::make(false, S("S-1-5-19"), kGenericAll)));
  CHECK_FALSE(same_identity(all, Ace::make(false, S("S-1-5-18"), kGenericAll, kContainerInherit)));
  CHECK_FALSE(same_identity(all, Ace::make(false, S("S-1-5-18"), kGenericAll, kObjectInherit)));
  CHECK_FALSE(same_identity(all, Ace::make(false, S("S-1-5-18"), kGenericAll, 0, kSendAs)));
  CHECK_FALSE(same_identity(Ace::make(false, S("S-1-5-18"), 1, 0, kSendAs),
                            Ace::make(false, S("S-1-5-18"), 1, 0, kSendAs, kSendAs)));
  CHECK_FALSE(same_identity(
      Ace::make(false, S("S-1-5-18"), 1, 0, kSendAs),
      Ace::make(false, S("S-1-5-18"), 1, 0, G("bf967aba-0de6-11d0-a285-00aa003049e2"))));
  // kInherited is not identity; an object-typed ACE without GUIDs is the plain ACE.
  Ace inh = all;
  inh.flags |= kInherited;
  CHECK(same_identity(all, inh));
  Ace object_form = all;
  object_form.type = kAccessAllowedObject;
  CHECK(equivalent(all, object_form));

  Ace audit = Ace::make(false, S("S-1-1-0"), kWriteProperty, kSuccessfulAccess);
  audit.type = kSystemAudit;
  Ace audit_fail = audit;
  audit_fail.flags = kFailedAccess;
  CHECK_FALSE(same_identity(audit, all));
  CHECK_FALSE(same_identity(audit, audit_fail));
}

TEST_CASE("sd: upsert_explicit replaces, keeps canonical order and inherited ACEs") {
  const auto bytes = FromHex(kHandBuilt);
  const Acl original = *MustParse(bytes).dacl;
  const auto inherited_bytes = AceBytes(original.aces[2]);

  SUBCASE("same identity, fewer rights: replaced, not merged") {
    Acl acl = original;
    CHECK(upsert_explicit(acl, Ace::make(false, S("S-1-5-18"), kReadProperty)));
    REQUIRE(acl.aces.size() == 3);
    CHECK(acl.aces[0].mask == kReadProperty);  // the other 0xF01FF rights are gone
    CHECK(acl.aces[0].sid == S("S-1-5-18"));
    CHECK(acl.aces[1] == original.aces[1]);
    CHECK(acl.aces[2] == original.aces[2]);
    CHECK(AceBytes(acl.aces[2]) == inherited_bytes);
    CHECK(is_canonical(acl));
  }
  SUBCASE("equivalent ACE already present: no change") {
    Acl acl = original;
    CHECK_FALSE(upsert_explicit(acl, Ace::make(false, S("S-1-5-18"), kGenericAll)));
    CHECK(acl == original);
    CHECK_FALSE(upsert_explicit(acl, original.aces[1]));
    CHECK(acl == original);
  }
  SUBCASE("deny goes first, object deny after plain deny, allows before inherited") {
    Acl acl = original;
    Ace deny = Ace::make(true, S("S-1-5-7"), kWriteDacl);
    Ace odeny = Ace::make(true, S("S-1-5-7"), kExtendedRight, 0, kSendAs);
    Ace allow = Ace::make(false, S("S-1-5-9"), kListChildren);
    Ace oallow = Ace::make(false, S("S-1-5-9"), kWriteProperty, kContainerInherit, kSendAs);
    CHECK(upsert_explicit(acl, odeny));
    CHECK(upsert_explicit(acl, deny));
    CHECK(upsert_explicit(acl, allow));
    CHECK(upsert_explicit(acl, oallow));
    REQUIRE(acl.aces.size() == 7);
    CHECK(acl.aces[0] == deny);
    CHECK(acl.aces[1] == odeny);
    CHECK(acl.aces[2] == original.aces[0]);
    CHECK(acl.aces[3] == allow);
    CHECK(acl.aces[4] == original.aces[1]);
    CHECK(acl.aces[5] == oallow);
    CHECK(acl.aces[6] == original.aces[2]);
    CHECK(is_canonical(acl));
    // The inherited ACE serialises to the same bytes, at the end, after the edits.
    SecurityDescriptor sd = MustParse(bytes);
    sd.dacl = acl;
    auto out = serialize(sd);
    REQUIRE(out.size() >= inherited_bytes.size());
    CHECK(std::vector<uint8_t>(out.end() - static_cast<ptrdiff_t>(inherited_bytes.size()),
                               out.end()) == inherited_bytes);
    CHECK(MustParse(out).dacl == acl);
  }
  SUBCASE("duplicates of the identity collapse into one") {
    Acl acl = original;
    acl.aces.insert(acl.aces.begin() + 1, Ace::make(false, S("S-1-5-18"), kDelete));
    CHECK(upsert_explicit(acl, Ace::make(false, S("S-1-5-18"), kGenericAll)));
    REQUIRE(acl.aces.size() == 3);
    CHECK(acl.aces[0].mask == kGenericAll);
    CHECK(acl.aces[2] == original.aces[2]);
  }
  SUBCASE("an inherited ACE of the same identity is left alone; the upsert is explicit") {
    Acl acl = original;
    Ace like_inherited = original.aces[2];
    like_inherited.mask = kGenericAll;  // flags still carry kInherited
    CHECK(upsert_explicit(acl, like_inherited));
    REQUIRE(acl.aces.size() == 4);
    CHECK(acl.aces[1].sid == S("S-1-5-32-545"));  // end of the explicit allow group
    CHECK_FALSE(acl.aces[1].inherited());
    CHECK(acl.aces[2] == original.aces[1]);
    CHECK(acl.aces[3] == original.aces[2]);
  }
  SUBCASE("revision 2 ACL becomes revision 4 when an object ACE is added") {
    Acl acl{2, {Ace::make(false, S("S-1-5-18"), kGenericAll)}};
    CHECK(upsert_explicit(acl, Ace::make(false, S("S-1-5-10"), kExtendedRight, 0, kSendAs)));
    CHECK(acl.revision == 4);
  }
  SUBCASE("non-canonical Samba DACL: inherited ACEs and other explicit ACEs keep their order") {
    Acl acl = *MustParse(FromHex(kSambaUsersDacl)).dacl;
    const Acl before = acl;
    Ace ace = Ace::make(false, S("S-1-5-21-578364897-3010498134-2639578953-1105"), kReadProperty,
                        kContainerInherit, kSendAs);
    CHECK(upsert_explicit(acl, ace));
    CHECK(acl.aces.size() == before.aces.size() + 1);
    CHECK(Inherited(acl) == Inherited(before));
    std::vector<Ace> without;
    for (const Ace& a : acl.aces) {
      if (!(a == ace)) without.push_back(a);
    }
    CHECK(without == before.aces);
    CHECK(remove_explicit(acl, ace) == 1);
    CHECK(acl == before);
  }
}

TEST_CASE("sd: remove_explicit removes only the matching explicit ACEs") {
  Acl acl = *MustParse(FromHex(kHandBuilt)).dacl;
  const Acl original = acl;
  CHECK(remove_explicit(acl, Ace::make(false, S("S-1-5-10"), kExtendedRight)) == 0);  // no GUID
  CHECK(remove_explicit(acl, Ace::make(false, S("S-1-5-10"), 0, 0, kSendAs)) == 0);   // no CI
  CHECK(remove_explicit(acl, Ace::make(true, S("S-1-5-18"), kGenericAll)) == 0);      // deny
  Ace explicit_twin = original.aces[2];
  explicit_twin.flags &= static_cast<uint8_t>(~kInherited);
  CHECK(remove_explicit(acl, explicit_twin) == 0);  // the inherited one is never removed
  CHECK(acl == original);
  CHECK(remove_explicit(acl, Ace::make(false, S("S-1-5-10"), 0, kContainerInherit, kSendAs)) == 1);
  REQUIRE(acl.aces.size() == 2);
  CHECK(acl.aces[0] == original.aces[0]);
  CHECK(acl.aces[1] == original.aces[2]);
}

TEST_CASE("sd: is_canonical") {
  Ace deny = Ace::make(true, S("S-1-5-7"), 1);
  Ace odeny = Ace::make(true, S("S-1-5-7"), 1, 0, kSendAs);
  Ace allow = Ace::make(false, S("S-1-5-7"), 1);
  Ace oallow = Ace::make(false, S("S-1-5-7"), 1, 0, kSendAs);
  Ace inh_deny = deny;
  inh_deny.flags = kInherited;
  CHECK(is_canonical(Acl{4, {}}));
  CHECK(is_canonical(Acl{4, {deny, odeny, allow, allow, oallow, inh_deny}}));
  CHECK(is_canonical(Acl{4, {inh_deny, inh_deny}}));
  CHECK_FALSE(is_canonical(Acl{4, {allow, deny}}));
  CHECK_FALSE(is_canonical(Acl{4, {odeny, deny}}));
  CHECK_FALSE(is_canonical(Acl{4, {oallow, allow}}));
  CHECK_FALSE(is_canonical(Acl{4, {inh_deny, allow}}));
}

}  // namespace converge::sd
