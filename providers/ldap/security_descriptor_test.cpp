// Tests for the security descriptor codec and DACL edits. Vectors: one assembled by hand from
// MS-DTYP (every field annotated), and three read from a freshly provisioned Samba 4.17 AD DC
// (nTSecurityDescriptor of CN=Users and CN=Administrator, with and without the SACL).
#include "providers/ldap/security_descriptor.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/api/ad_rights.h"

namespace converge::sd {
namespace {

std::vector<uint8_t> FromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0) continue;  // spaces and separators
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

// Hand-built from MS-DTYP 2.4.6: owner BA, group SY, DACL with an explicit allow, an explicit
// Send-As object ACE and an inherited allow.
constexpr const char* kHandBuilt =
    // SECURITY_DESCRIPTOR header
    "01 00 04 84"  // Revision 1, Sbz1 0, Control SR|DACL_AUTO_INHERITED|DACL_PRESENT
    "14 00 00 00"  // OffsetOwner 20
    "24 00 00 00"  // OffsetGroup 36
    "00 00 00 00"  // OffsetSacl 0 (absent)
    "30 00 00 00"  // OffsetDacl 48
    // owner S-1-5-32-544
    "01 02 00 00 00 00 00 05 20 00 00 00 20 02 00 00"
    // group S-1-5-18
    "01 01 00 00 00 00 00 05 12 00 00 00"
    // ACL: revision 4, Sbz1, AclSize 92, AceCount 3, Sbz2
    "04 00 5c 00 03 00 00 00"
    // ACE 0: ACCESS_ALLOWED, no flags, size 20, mask 0xF01FF, S-1-5-18
    "00 00 14 00 ff 01 0f 00 01 01 00 00 00 00 00 05 12 00 00 00"
    // ACE 1: ACCESS_ALLOWED_OBJECT, CI, size 40, mask CR, ObjectType present, Send-As, S-1-5-10
    "05 02 28 00 00 01 00 00 01 00 00 00"
    "54 1a 72 ab 2f 1e d0 11 98 19 00 aa 00 40 52 9b"
    "01 01 00 00 00 00 00 05 0a 00 00 00"
    // ACE 2: ACCESS_ALLOWED, CI|INHERITED, size 24, mask 0x20094, S-1-5-32-545
    "00 12 18 00 94 00 02 00 01 02 00 00 00 00 00 05 20 00 00 00 21 02 00 00";
constexpr size_t kHandDaclOffset = 48;
constexpr size_t kHandAce0 = kHandDaclOffset + 8;
constexpr size_t kHandAce1 = kHandAce0 + 20;

// CN=Users,DC=sdtest,DC=example (sd_flags=15), 1480 bytes.
constexpr const char* kSambaUsersFull =
    "0100178c14000000300000004c000000c4000000010500000000000515000000e1257922568e70b349c7549d"
    "00020000010500000000000515000000e1257922568e70b349c7549d000200000400780002000000075a3800"
    "2000000003000000be3b0ef3f09fd111b6030000f80367c1a57a96bfe60dd011a28500aa003049e201010000"
    "0000000100000000075a38002000000003000000bf3b0ef3f09fd111b6030000f80367c1a57a96bfe60dd011"
    "a28500aa003049e2010100000000000100000000040004051b00000000001400ff010f000101000000000005"
    "1200000000002400bf010e00010500000000000515000000e1257922568e70b349c7549d0002000005002c00"
    "0300000001000000ba7a96bfe60dd011a28500aa003049e20102000000000005200000002402000005002c00"
    "03000000010000009c7a96bfe60dd011a28500aa003049e20102000000000005200000002402000005002c00"
    "0300000001000000a87a96bfe60dd011a28500aa003049e20102000000000005200000002602000000001400"
    "9400020001010000000000050b00000005002c00030000000100000014cc28483714bc459b07ad6f015e5f28"
    "01020000000000052000000024020000051a3c0010000000030000000042164cc020d011a76800aa006e0529"
    "14cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c001000000003000000"
    "0042164cc020d011a76800aa006e0529ba7a96bfe60dd011a28500aa003049e2010200000000000520000000"
    "2a020000051a3c0010000000030000001020205fa579d011902000c04fc2d4cf14cc28483714bc459b07ad6f"
    "015e5f280102000000000005200000002a020000051a3c0010000000030000001020205fa579d011902000c0"
    "4fc2d4cfba7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000051a3c0010000000"
    "0300000040c20abca979d011902000c04fc2d4cf14cc28483714bc459b07ad6f015e5f280102000000000005"
    "200000002a020000051a3c00100000000300000040c20abca979d011902000c04fc2d4cfba7a96bfe60dd011"
    "a28500aa003049e20102000000000005200000002a020000051a3c001000000003000000422fba59a279d011"
    "902000c04fc2d3cf14cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c00"
    "1000000003000000422fba59a279d011902000c04fc2d3cfba7a96bfe60dd011a28500aa003049e201020000"
    "00000005200000002a020000051a3c001000000003000000f8887003e10ad211b42200a0c968f93914cc2848"
    "3714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c001000000003000000f8887003"
    "e10ad211b42200a0c968f939ba7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000"
    "051a380010000000030000006d9ec6b7c72cd211854e00a0c983f608867a96bfe60dd011a28500aa003049e2"
    "010100000000000509000000051a380010000000030000006d9ec6b7c72cd211854e00a0c983f6089c7a96bf"
    "e60dd011a28500aa003049e2010100000000000509000000051a380010000000030000006d9ec6b7c72cd211"
    "854e00a0c983f608ba7a96bfe60dd011a28500aa003049e2010100000000000509000000051a2c0094000200"
    "0200000014cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a2c0094000200"
    "020000009c7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000051a2c0094000200"
    "02000000ba7a96bfe60dd011a28500aa003049e20102000000000005200000002a0200000512280030010000"
    "01000000de47e6916fd9704b9557d63ff4f3ccd801010000000000050a00000000122400ff010f0001050000"
    "0000000515000000e1257922568e70b349c7549d070200000012180004000000010200000000000520000000"
    "2a02000000121800bd010f0001020000000000052000000020020000";
// CN=Users,DC=sdtest,DC=example (sd_flags=4), 1304 bytes.
constexpr const char* kSambaUsersDacl =
    "0100048400000000000000000000000014000000040004051b00000000001400ff010f000101000000000005"
    "1200000000002400bf010e00010500000000000515000000e1257922568e70b349c7549d0002000005002c00"
    "0300000001000000ba7a96bfe60dd011a28500aa003049e20102000000000005200000002402000005002c00"
    "03000000010000009c7a96bfe60dd011a28500aa003049e20102000000000005200000002402000005002c00"
    "0300000001000000a87a96bfe60dd011a28500aa003049e20102000000000005200000002602000000001400"
    "9400020001010000000000050b00000005002c00030000000100000014cc28483714bc459b07ad6f015e5f28"
    "01020000000000052000000024020000051a3c0010000000030000000042164cc020d011a76800aa006e0529"
    "14cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c001000000003000000"
    "0042164cc020d011a76800aa006e0529ba7a96bfe60dd011a28500aa003049e2010200000000000520000000"
    "2a020000051a3c0010000000030000001020205fa579d011902000c04fc2d4cf14cc28483714bc459b07ad6f"
    "015e5f280102000000000005200000002a020000051a3c0010000000030000001020205fa579d011902000c0"
    "4fc2d4cfba7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000051a3c0010000000"
    "0300000040c20abca979d011902000c04fc2d4cf14cc28483714bc459b07ad6f015e5f280102000000000005"
    "200000002a020000051a3c00100000000300000040c20abca979d011902000c04fc2d4cfba7a96bfe60dd011"
    "a28500aa003049e20102000000000005200000002a020000051a3c001000000003000000422fba59a279d011"
    "902000c04fc2d3cf14cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c00"
    "1000000003000000422fba59a279d011902000c04fc2d3cfba7a96bfe60dd011a28500aa003049e201020000"
    "00000005200000002a020000051a3c001000000003000000f8887003e10ad211b42200a0c968f93914cc2848"
    "3714bc459b07ad6f015e5f280102000000000005200000002a020000051a3c001000000003000000f8887003"
    "e10ad211b42200a0c968f939ba7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000"
    "051a380010000000030000006d9ec6b7c72cd211854e00a0c983f608867a96bfe60dd011a28500aa003049e2"
    "010100000000000509000000051a380010000000030000006d9ec6b7c72cd211854e00a0c983f6089c7a96bf"
    "e60dd011a28500aa003049e2010100000000000509000000051a380010000000030000006d9ec6b7c72cd211"
    "854e00a0c983f608ba7a96bfe60dd011a28500aa003049e2010100000000000509000000051a2c0094000200"
    "0200000014cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000051a2c0094000200"
    "020000009c7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000051a2c0094000200"
    "02000000ba7a96bfe60dd011a28500aa003049e20102000000000005200000002a0200000512280030010000"
    "01000000de47e6916fd9704b9557d63ff4f3ccd801010000000000050a00000000122400ff010f0001050000"
    "0000000515000000e1257922568e70b349c7549d070200000012180004000000010200000000000520000000"
    "2a02000000121800bd010f0001020000000000052000000020020000";
// CN=Administrator,CN=Users,DC=sdtest,DC=example (sd_flags=15), 2200 bytes.
constexpr const char* kSambaAdministratorFull =
    "0100178c14000000300000004c000000c4000000010500000000000515000000e1257922568e70b349c7549d"
    "00020000010500000000000515000000e1257922568e70b349c7549d000200000400780002000000075a3800"
    "2000000003000000be3b0ef3f09fd111b6030000f80367c1a57a96bfe60dd011a28500aa003049e201010000"
    "0000000100000000075a38002000000003000000bf3b0ef3f09fd111b6030000f80367c1a57a96bfe60dd011"
    "a28500aa003049e20101000000000001000000000400d4072c00000000002400ff010f000105000000000005"
    "15000000e1257922568e70b349c7549d0002000000001400ff010f0001010000000000051200000000001800"
    "ff010f0001020000000000052000000024020000000014009400020001010000000000050a00000005002800"
    "0001000001000000531a72ab2f1ed011981900aa0040529b01010000000000050a0000000500280000010000"
    "01000000541a72ab2f1ed011981900aa0040529b01010000000000050a000000050028000001000001000000"
    "561a72ab2f1ed011981900aa0040529b01010000000000050a00000005002800300000000100000086b8b577"
    "4a94d111aebd0000f80367c101010000000000050a000000050028003000000001000000b29557e45594d111"
    "aebd0000f80367c101010000000000050a000000050028003000000001000000b39557e45594d111aebd0000"
    "f80367c101010000000000050a000000050038001000000001000000f8887003e10ad211b42200a0c968f939"
    "010500000000000515000000e1257922568e70b349c7549d290200000500380010000000010000000042164c"
    "c020d011a76800aa006e0529010500000000000515000000e1257922568e70b349c7549d2902000005003800"
    "100000000100000040c20abca979d011902000c04fc2d4cf010500000000000515000000e1257922568e70b3"
    "49c7549d29020000000014000000020001010000000000050b000000050028001000000001000000422fba59"
    "a279d011902000c04fc2d3cf01010000000000050b00000005002800100000000100000086b8b5774a94d111"
    "aebd0000f80367c101010000000000050b000000050028001000000001000000b39557e45594d111aebd0000"
    "f80367c101010000000000050b00000005002800100000000100000054018de4f8bcd111870200c04fb96050"
    "01010000000000050b000000050028000001000001000000531a72ab2f1ed011981900aa0040529b01010000"
    "00000001000000000500380010000000010000001020205fa579d011902000c04fc2d4cf0105000000000005"
    "15000000e1257922568e70b349c7549d290200000500380030000000010000007f7a96bfe60dd011a28500aa"
    "003049e2010500000000000515000000e1257922568e70b349c7549d0502000005002c001000000001000000"
    "1db1a946ae605a40b7e8ff8a58d456d20102000000000005200000003002000005002c003000000001000000"
    "1c9ab66d2294d111aebd0000f80367c10102000000000005200000003102000005002c003000000001000000"
    "62bc0558c9bd2844a5e2856a0f4c185e01020000000000052000000031020000051a3c001000000003000000"
    "0042164cc020d011a76800aa006e052914cc28483714bc459b07ad6f015e5f28010200000000000520000000"
    "2a02000005123c0010000000030000000042164cc020d011a76800aa006e0529ba7a96bfe60dd011a28500aa"
    "003049e20102000000000005200000002a020000051a3c0010000000030000001020205fa579d011902000c0"
    "4fc2d4cf14cc28483714bc459b07ad6f015e5f280102000000000005200000002a02000005123c0010000000"
    "030000001020205fa579d011902000c04fc2d4cfba7a96bfe60dd011a28500aa003049e20102000000000005"
    "200000002a020000051a3c00100000000300000040c20abca979d011902000c04fc2d4cf14cc28483714bc45"
    "9b07ad6f015e5f280102000000000005200000002a02000005123c00100000000300000040c20abca979d011"
    "902000c04fc2d4cfba7a96bfe60dd011a28500aa003049e20102000000000005200000002a020000051a3c00"
    "1000000003000000422fba59a279d011902000c04fc2d3cf14cc28483714bc459b07ad6f015e5f2801020000"
    "00000005200000002a02000005123c001000000003000000422fba59a279d011902000c04fc2d3cfba7a96bf"
    "e60dd011a28500aa003049e20102000000000005200000002a020000051a3c001000000003000000f8887003"
    "e10ad211b42200a0c968f93914cc28483714bc459b07ad6f015e5f280102000000000005200000002a020000"
    "05123c001000000003000000f8887003e10ad211b42200a0c968f939ba7a96bfe60dd011a28500aa003049e2"
    "0102000000000005200000002a020000051a380010000000030000006d9ec6b7c72cd211854e00a0c983f608"
    "867a96bfe60dd011a28500aa003049e2010100000000000509000000051a380010000000030000006d9ec6b7"
    "c72cd211854e00a0c983f6089c7a96bfe60dd011a28500aa003049e201010000000000050900000005123800"
    "10000000030000006d9ec6b7c72cd211854e00a0c983f608ba7a96bfe60dd011a28500aa003049e201010000"
    "0000000509000000051a2c00940002000200000014cc28483714bc459b07ad6f015e5f280102000000000005"
    "200000002a020000051a2c0094000200020000009c7a96bfe60dd011a28500aa003049e20102000000000005"
    "200000002a02000005122c009400020002000000ba7a96bfe60dd011a28500aa003049e20102000000000005"
    "200000002a020000051228003001000001000000de47e6916fd9704b9557d63ff4f3ccd80101000000000005"
    "0a00000000122400ff010f00010500000000000515000000e1257922568e70b349c7549d0702000000121800"
    "040000000102000000000005200000002a02000000121800bd010f0001020000000000052000000020020000";

Sid S(std::string_view s) {
  auto r = Sid::parse(s);
  REQUIRE_MESSAGE(r.ok(), std::string(s));
  return *r;
}
Guid G(std::string_view s) {
  auto r = Guid::parse(s);
  REQUIRE_MESSAGE(r.ok(), std::string(s));
  return *r;
}
// Not G(): doctest assertions must not run during static initialisation.
const Guid kSendAs = Guid::parse("ab721a54-1e2f-11d0-9819-00aa0040529b").value();

SecurityDescriptor MustParse(const std::vector<uint8_t>& b) {
  auto r = parse(b);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().str()));
  return *r;
}

std::vector<uint8_t> AceBytes(const Ace& a) {
  SecurityDescriptor sd;
  sd.dacl = Acl{4, {a}};
  auto b = serialize(sd);
  return std::vector<uint8_t>(b.begin() + 28, b.end());  // past SD header + ACL header
}

std::vector<Ace> Inherited(const Acl& acl) {
  std::vector<Ace> out;
  for (const Ace& a : acl.aces) {
    if (a.inherited()) out.push_back(a);
  }
  return out;
}

// Expects parse() to fail and its message to name `offset`.
void ExpectError(const std::vector<uint8_t>& b, size_t offset, std::string_view what) {
  auto r = parse(b);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().str());
  CHECK(r.error().kind == ErrorKind::kInvalid);
  CHECK(r.error().message.find("offset " + std::to_string(offset) + ":") != std::string::npos);
  CHECK(r.error().message.find(what) != std::string::npos);
}

}  // namespace

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
