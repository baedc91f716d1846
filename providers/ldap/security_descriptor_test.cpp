// Tests of the security descriptor codec and its text forms: GUIDs, SIDs, parsing, serialising,
// malformed input. Vectors: security_descriptor_test_vectors.h.
#include "providers/ldap/security_descriptor.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "providers/ldap/security_descriptor_test_vectors.h"

namespace converge::sd {
using namespace test;

TEST_CASE("sd: GUID text and wire layout") {
  auto g = Guid::parse("ab721a54-1e2f-11d0-9819-00aa0040529b");
  REQUIRE(g.ok());
  CHECK(std::vector<uint8_t>(g->b.begin(), g->b.end()) ==
        FromHex("54 1a 72 ab 2f 1e d0 11 98 19 00 aa 00 40 52 9b"));
  CHECK(g->str() == "ab721a54-1e2f-11d0-9819-00aa0040529b");
  auto upper = Guid::parse("{AB721A54-1E2F-11D0-9819-00AA0040529B}");
  REQUIRE(upper.ok());
  CHECK(*upper == *g);
  CHECK(G("00000000-0000-0000-0000-000000000001") < G("00000000-0000-0000-0000-000000000002"));
  for (const char* bad :
       {"", "ab721a54-1e2f-11d0-9819-00aa0040529", "ab721a54-1e2f-11d0-9819-00aa0040529bb",
        "ab721a54x1e2f-11d0-9819-00aa0040529b", "ab721a54-1e2f-11d0-9819-00aa0040529g",
        "{ab721a54-1e2f-11d0-9819-00aa0040529b", "ab721a541e2f11d0981900aa0040529b"}) {
    CHECK_MESSAGE(!Guid::parse(bad).ok(), bad);
  }
}

TEST_CASE("sd: SID text and binary") {
  Sid s = S("S-1-5-21-578364897-3010498134-2639578953-512");
  CHECK(s.authority == 5);
  CHECK(s.sub == std::vector<uint32_t>{21, 578364897u, 3010498134u, 2639578953u, 512});
  CHECK(s.str() == "S-1-5-21-578364897-3010498134-2639578953-512");
  auto bin = s.to_binary();
  CHECK(bin == FromHex("01 05 00 00 00 00 00 05 15 00 00 00 e1 25 79 22 56 8e 70 b3 49 c7 54 9d"
                       "00 02 00 00"));
  auto back = Sid::from_binary(bin);
  REQUIRE(back.ok());
  CHECK(*back == s);

  CHECK(S("s-1-5-32-544") == S("S-1-5-32-544"));
  CHECK(S("S-1-0x000000000005-18") == S("S-1-5-18"));
  CHECK(S("S-1-0x010203040506-1").str() == "S-1-0x010203040506-1");
  CHECK(S("S-1-0x010203040506-1").to_binary()[2] == 0x01);  // authority is big-endian
  CHECK(S("S-1-5-18") < S("S-1-5-32-544"));
  CHECK(S("S-1-5").sub.empty());

  for (const char* bad :
       {"", "S", "S-1", "X-1-5-18", "S-2-5-18", "S-1-5-", "S-1--18", "S-1-5-x", "S-1-5-4294967296",
        "S-1-281474976710656-1", "S-1-5-+1", "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16"}) {
    CHECK_MESSAGE(!Sid::parse(bad).ok(), bad);
  }
  CHECK(Sid::parse("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15").ok());

  auto trailing = bin;
  trailing.push_back(0);
  CHECK_FALSE(Sid::from_binary(trailing).ok());
  bin[1] = 16;  // sub-authority count 16
  auto r = Sid::from_binary(bin);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("16") != std::string::npos);
  for (size_t n = 0; n < s.binary_size(); ++n) {
    auto full = s.to_binary();
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    CHECK_FALSE(Sid::from_binary(cut).ok());
  }
}

TEST_CASE("sd: hand-built descriptor parses field by field and round-trips") {
  auto bytes = FromHex(kHandBuilt);
  REQUIRE(bytes.size() == 140);
  SecurityDescriptor sd = MustParse(bytes);
  CHECK(sd.control == (kSelfRelative | kDaclAutoInherited | kDaclPresent));
  REQUIRE(sd.owner);
  CHECK(sd.owner->str() == "S-1-5-32-544");
  REQUIRE(sd.group);
  CHECK(sd.group->str() == "S-1-5-18");
  CHECK_FALSE(sd.sacl);
  REQUIRE(sd.dacl);
  CHECK(sd.dacl->revision == 4);
  REQUIRE(sd.dacl->aces.size() == 3);

  const Ace& a0 = sd.dacl->aces[0];
  CHECK(a0.type == kAccessAllowed);
  CHECK(a0.flags == 0);
  CHECK(a0.mask == 0xF01FF);
  CHECK(a0.sid == S("S-1-5-18"));
  CHECK_FALSE(a0.is_object());
  CHECK(a0.opaque.empty());

  const Ace& a1 = sd.dacl->aces[1];
  CHECK(a1.type == kAccessAllowedObject);
  CHECK(a1.is_object());
  CHECK(a1.flags == kContainerInherit);
  CHECK(a1.mask == kExtendedRight);
  REQUIRE(a1.object_type);
  CHECK(a1.object_type->str() == "ab721a54-1e2f-11d0-9819-00aa0040529b");
  CHECK_FALSE(a1.inherited_object_type);
  CHECK(a1.sid == S("S-1-5-10"));
  CHECK_FALSE(a1.inherited());

  const Ace& a2 = sd.dacl->aces[2];
  CHECK(a2.inherited());
  CHECK(a2.flags == (kContainerInherit | kInherited));
  CHECK(a2.mask == kAdRead);
  CHECK(a2.sid == S("S-1-5-32-545"));

  CHECK(serialize(sd) == bytes);
  CHECK(is_canonical(*sd.dacl));
  CHECK(to_sddl_ace(a1) == "(OA;CI;CR;ab721a54-1e2f-11d0-9819-00aa0040529b;;S-1-5-10)");
  CHECK(to_sddl(sd) ==
        "O:S-1-5-32-544G:S-1-5-18D:AI(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;S-1-5-18)"
        "(OA;CI;CR;ab721a54-1e2f-11d0-9819-00aa0040529b;;S-1-5-10)"
        "(A;CIID;LCRPLORC;;;S-1-5-32-545)");
}

TEST_CASE("sd: Samba AD vectors round-trip byte-exactly") {
  const Sid domain_admins = S("S-1-5-21-578364897-3010498134-2639578953-512");
  for (const char* hex : {kSambaUsersFull, kSambaUsersDacl, kSambaAdministratorFull}) {
    auto bytes = FromHex(hex);
    SecurityDescriptor sd = MustParse(bytes);
    CHECK(serialize(sd) == bytes);
    REQUIRE(sd.dacl);
    CHECK(sd.dacl->revision == 4);
    CHECK_FALSE(sd.dacl->aces.empty());
  }
  SecurityDescriptor full = MustParse(FromHex(kSambaUsersFull));
  SecurityDescriptor dacl = MustParse(FromHex(kSambaUsersDacl));
  CHECK(full.control == 0x8c17);
  CHECK(full.owner == domain_admins);
  CHECK(full.group == domain_admins);
  REQUIRE(full.sacl);
  CHECK(full.sacl->aces.size() == 2);
  CHECK(full.sacl->aces[0].type == kSystemAuditObject);
  CHECK((full.sacl->aces[0].flags & kFailedAccess) == 0);
  CHECK(dacl.control == 0x8404);
  CHECK_FALSE(dacl.owner);
  CHECK_FALSE(dacl.group);
  CHECK_FALSE(dacl.sacl);
  REQUIRE(dacl.dacl);
  CHECK(dacl.dacl->aces.size() == 27);
  CHECK(full.dacl == dacl.dacl);
  // What Samba returns under SD_FLAGS=DACL is exactly what dacl_only() serialises to.
  CHECK(serialize(dacl_only(full)) == FromHex(kSambaUsersDacl));
  // Samba puts an explicit non-object allow after explicit object allows: not canonical.
  CHECK_FALSE(is_canonical(*dacl.dacl));
}

TEST_CASE("sd: DACL-only descriptors built from scratch") {
  SecurityDescriptor sd;
  sd.control = 0;  // serialize() must add SE_SELF_RELATIVE and SE_DACL_PRESENT
  sd.dacl = Acl{};
  sd.dacl->revision = 2;
  sd.dacl->aces.push_back(Ace::make(false, S("S-1-5-11"), kAdRead));
  auto bytes = serialize(sd);
  CHECK(bytes == FromHex("01 00 04 80 00000000 00000000 00000000 14000000"
                         "02 00 1c 00 01 00 00 00"
                         "00 00 14 00 94 00 02 00 01 01 00 00 00 00 00 05 0b 00 00 00"));
  SecurityDescriptor back = MustParse(bytes);
  CHECK(back.control == (kSelfRelative | kDaclPresent));
  CHECK(back.dacl == sd.dacl);

  // An object ACE raises the ACL revision to ACL_REVISION_DS.
  sd.dacl->aces.push_back(Ace::make(false, S("S-1-5-10"), kExtendedRight, 0, kSendAs));
  back = MustParse(serialize(sd));
  CHECK(back.dacl->revision == 4);
  CHECK(back.dacl->aces[1].type == kAccessAllowedObject);

  // An empty DACL (deny everyone) is not a NULL DACL.
  sd.dacl->aces.clear();
  back = MustParse(serialize(sd));
  REQUIRE(back.dacl);
  CHECK(back.dacl->aces.empty());

  // A NULL DACL (present bit, no ACL) survives, and so does a descriptor with nothing at all.
  sd.dacl.reset();
  sd.control = kDaclPresent;
  back = MustParse(serialize(sd));
  CHECK_FALSE(back.dacl);
  CHECK((back.control & kDaclPresent) != 0);
  CHECK(serialize(SecurityDescriptor{}).size() == 20);

  // Values serialize() cannot encode give an empty vector, and validate() says why.
  SecurityDescriptor bad;
  bad.owner = Sid{1, 5, std::vector<uint32_t>(16, 1)};
  CHECK(serialize(bad).empty());
  CHECK_FALSE(validate(bad).ok());
  bad.owner.reset();
  bad.dacl = Acl{};
  Ace guid_on_plain = Ace::make(false, S("S-1-5-10"), 1);
  guid_on_plain.object_type = kSendAs;
  bad.dacl->aces.push_back(guid_on_plain);
  CHECK(serialize(bad).empty());
  bad.dacl->aces.assign(1200, Ace::make(false, S("S-1-5-10"), 1, 0, kSendAs, kSendAs));
  CHECK_FALSE(validate(bad).ok());  // 1200 * 56 bytes > 65535
  CHECK(serialize(bad).empty());
}

TEST_CASE("sd: opaque ACE types are kept verbatim") {
  // SACL with a SYSTEM_MANDATORY_LABEL ACE (type 0x11, not interpreted) and a trailing-data
  // ACCESS_ALLOWED_CALLBACK ACE (type 9).
  auto bytes = FromHex(
      "01 00 10 80 00000000 00000000 14000000 00000000"
      "02 00 38 00 02 00 00 00"
      "11 00 14 00 01 00 00 00 01 01 00 00 00 00 00 10 00 30 00 00"
      "09 00 1c 00 10 00 00 00 01 01 00 00 00 00 00 05 12 00 00 00 61 72 74 78 01 00 00 00");
  SecurityDescriptor sd = MustParse(bytes);
  REQUIRE(sd.sacl);
  REQUIRE(sd.sacl->aces.size() == 2);
  CHECK(sd.sacl->aces[0].type == 0x11);
  CHECK(sd.sacl->aces[0].opaque.size() == 16);
  CHECK_FALSE(sd.sacl->aces[0].interpreted());
  CHECK(sd.sacl->aces[1].opaque.size() == 24);
  CHECK(serialize(sd) == bytes);
  CHECK_FALSE(same_identity(sd.sacl->aces[0], sd.sacl->aces[1]));
  CHECK(same_identity(sd.sacl->aces[0], sd.sacl->aces[0]));

  // Bytes after the SID of an interpreted ACE (padding / application data) round-trip too.
  auto padded = FromHex(kHandBuilt);
  padded[kHandDaclOffset + 2] += 4;  // AclSize 96
  padded[kHandAce0 + 2] += 4;        // AceSize 24
  padded.insert(padded.begin() + kHandAce1, {0xde, 0xad, 0xbe, 0xef});
  SecurityDescriptor p = MustParse(padded);
  CHECK(p.dacl->aces[0].opaque == std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef});
  CHECK(p.dacl->aces[0].sid == S("S-1-5-18"));
  CHECK(serialize(p) == padded);
}

TEST_CASE("sd: slack and trailing bytes are accepted and dropped") {
  auto bytes = FromHex(kHandBuilt);
  auto slack = bytes;
  slack[kHandDaclOffset + 2] += 8;  // AclSize 100: 8 bytes of slack after the last ACE
  slack.insert(slack.end(), 8, 0xcc);
  slack.insert(slack.end(), 5, 0xee);  // junk after the descriptor
  SecurityDescriptor sd = MustParse(slack);
  CHECK(serialize(sd) == bytes);
}

TEST_CASE("sd: malformed input is rejected with the offset, never read out of bounds") {
  for (const char* hex : {kHandBuilt, kSambaUsersFull, kSambaUsersDacl, kSambaAdministratorFull}) {
    auto bytes = FromHex(hex);
    for (size_t n = 0; n < bytes.size(); ++n) {
      // A copy of exactly n bytes, so ASan sees any read past it.
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
      auto r = parse(cut);
      CHECK_MESSAGE(!r.ok(), "prefix of " << n << " bytes parsed");
    }
  }

  const auto good = FromHex(kHandBuilt);
  auto mutate = [&](size_t off, std::initializer_list<uint8_t> v) {
    auto b = good;
    std::copy(v.begin(), v.end(), b.begin() + static_cast<ptrdiff_t>(off));
    return b;
  };
  ExpectError(mutate(0, {2}), 0, "revision 2");
  ExpectError(mutate(2, {0x04, 0x04}), 2, "SE_SELF_RELATIVE");
  ExpectError(mutate(4, {140, 0, 0, 0}), 4, "owner offset 140");
  ExpectError(mutate(4, {10, 0, 0, 0}), 4, "owner offset 10");
  ExpectError(mutate(16, {0xff, 0xff, 0xff, 0xff}), 16, "DACL offset 4294967295");
  ExpectError(mutate(8, {136, 0, 0, 0}), 136, "group SID");  // SID header runs off the end
  ExpectError(mutate(12, {0x30, 0, 0, 0}), 12, "lacks its PRESENT bit");
  ExpectError(mutate(21, {16}), 21, "sub-authority count 16");                        // owner
  ExpectError(mutate(kHandAce0 + 9, {16}), kHandAce0 + 9, "sub-authority count 16");  // ACE SID
  ExpectError(mutate(kHandAce0 + 9, {3}), kHandAce0 + 8, "3 sub-authorities");  // SID > AceSize
  ExpectError(mutate(kHandDaclOffset, {1}), kHandDaclOffset, "revision 1");
  ExpectError(mutate(kHandDaclOffset, {2}), kHandAce1, "cannot hold object ACEs");
  ExpectError(mutate(kHandDaclOffset + 1, {1}), kHandDaclOffset + 1, "Sbz1");
  ExpectError(mutate(kHandDaclOffset + 6, {1}), kHandDaclOffset + 6, "Sbz2");
  // ACL size lying: larger than what is left, smaller than its header, smaller than its ACEs.
  ExpectError(mutate(kHandDaclOffset + 2, {0x60}), kHandDaclOffset + 2, "AclSize 96");
  ExpectError(mutate(kHandDaclOffset + 2, {4}), kHandDaclOffset + 2, "AclSize 4");
  ExpectError(mutate(kHandDaclOffset + 2, {0x58}), kHandAce1 + 40 + 2, "past the end of the ACL");
  ExpectError(mutate(kHandDaclOffset + 4, {0xff, 0xff}), kHandDaclOffset + 4, "AceCount 65535");
  ExpectError(mutate(kHandDaclOffset + 4, {4}), kHandAce1 + 64, "ACE header");
  // ACE size: below the header, not a multiple of 4, too small for its body.
  ExpectError(mutate(kHandAce0 + 2, {2, 0}), kHandAce0 + 2, "AceSize 2");
  ExpectError(mutate(kHandAce0 + 2, {0, 0}), kHandAce0 + 2, "AceSize 0");
  ExpectError(mutate(kHandAce0 + 2, {21, 0}), kHandAce0 + 2, "AceSize 21");
  ExpectError(mutate(kHandAce0 + 2, {4, 0}), kHandAce0 + 4, "access mask");
  ExpectError(mutate(kHandAce0 + 2, {12, 0}), kHandAce0 + 8, "SID");
  ExpectError(mutate(kHandAce1 + 2, {12, 0}), kHandAce1 + 12, "GUIDs");
  ExpectError(mutate(kHandAce1 + 8, {4}), kHandAce1 + 8, "unknown object ACE flags");
  ExpectError(mutate(kHandAce1 + 28, {2}), kHandAce1 + 28, "revision 2");  // ACE SID revision
}

TEST_CASE("sd: single-byte mutations never crash and parse results re-serialise stably") {
  int accepted = 0;
  for (const char* hex : {kHandBuilt, kSambaUsersDacl}) {
    const auto good = FromHex(hex);
    for (size_t i = 0; i < good.size(); ++i) {
      for (uint8_t v : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x0f}, uint8_t{0x10}, uint8_t{0x7f},
                        uint8_t{0x80}, uint8_t{0xff}}) {
        auto b = good;
        b[i] = v;
        auto r = parse(b);
        if (!r.ok()) continue;
        ++accepted;
        auto once = serialize(*r);
        REQUIRE_FALSE(once.empty());
        auto again = parse(once);
        REQUIRE(again.ok());
        REQUIRE(*again == *r);
        REQUIRE(serialize(*again) == once);
      }
    }
  }
  CHECK(accepted > 1000);  // most mutations hit masks and SIDs, which stay valid
}

}  // namespace converge::sd
