// Unit tests of the LDAP provider's pure text helpers: DNs, filters, unicodePwd, ranges, group
// types, account control, principals and object-type names.
#include "providers/ldap/ldap_text.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "engine/api/names.h"

namespace converge::ldap {
namespace {

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

TEST_CASE("ldap: dn_key matches spellings that the engine's canonical_dn keeps apart") {
  // Why the provider keeps its own key: the directory answers with its own escapes, quoting and
  // AVA order, and those DNs are matched against the manifest's.
  const std::pair<const char*, const char*> same[] = {
      {"CN=a\\,b,DC=x", "cn=A\\2Cb,dc=x"},
      {"CN=a+UID=b,DC=x", "uid=b+cn=a,dc=x"},
      {"CN=\"a,b\",DC=x", "CN=a\\,b,DC=x"},
  };
  for (const auto& pair : same) {
    std::string a = pair.first, b = pair.second;
    CAPTURE(a);
    CHECK(dn_key(a) == dn_key(b));
    CHECK(converge::canonical_dn(a) != converge::canonical_dn(b));
  }
  // Where both apply, they agree.
  CHECK(dn_key("CN=QMM, OU=Service Accounts ,DC=T") ==
        converge::canonical_dn("CN=QMM, OU=Service Accounts ,DC=T"));
}

TEST_CASE("ldap: parse_dn splits RDNs and unescapes values") {
  auto dn = parse_dn("CN=Smith\\, John+UID=js,OU=Sales \\28EU\\29, DC=example ,DC=com");
  REQUIRE_MESSAGE(dn.ok(), (dn.ok() ? std::string() : dn.error().str()));
  REQUIRE(dn->size() == 4);
  REQUIRE((*dn)[0].size() == 2);
  CHECK((*dn)[0][0].type == "CN");
  CHECK((*dn)[0][0].value == "Smith, John");
  CHECK((*dn)[0][1].value == "js");
  CHECK((*dn)[1][0].value == "Sales (EU)");
  CHECK((*dn)[2][0].value == "example");
  CHECK(parse_dn("")->empty());
  CHECK(parse_dn("CN=a\\2cb,DC=x")->front().front().value == "a,b");
  CHECK(parse_dn("CN=\"quoted, value\",DC=x")->front().front().value == "quoted, value");

  for (const char* bad :
       {"CN", "CN=,DC=x", "=x,DC=y", "CN=a,,DC=x", "CN=a\\", "CN=a\\zz", "CN=a;b", "C N=x"}) {
    CAPTURE(bad);
    auto r = parse_dn(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("invalid DN") != std::string::npos);
  }
}

TEST_CASE("ldap: DN escaping round-trips and canonical forms compare spellings") {
  for (const char* v : {"plain", "Smith, John", " lead", "trail ", "#hash", "a+b", "q\"uote",
                        "back\\slash", "semi;colon", "<angle>", "eq=sign", "nul\0x"}) {
    std::string value(v, v[0] == 'n' ? 5 : std::char_traits<char>::length(v));
    CAPTURE(value);
    auto dn = parse_dn("CN=" + escape_dn_value(value) + ",DC=x");
    REQUIRE_MESSAGE(dn.ok(), (dn.ok() ? std::string() : dn.error().str()));
    CHECK(dn->front().front().value == value);
  }
  CHECK(escape_dn_value("Smith, John") == "Smith\\, John");
  CHECK(escape_dn_value(" a ") == "\\ a\\ ");
  CHECK(dn_key("CN=QMM_Trg_Ex, OU=Service Accounts ,DC=Target,DC=Local") ==
        "cn=qmm_trg_ex,ou=service accounts,dc=target,dc=local");
  CHECK(same_dn("cn=a\\2cb,dc=x", "CN=A\\,B,DC=X"));
  CHECK_FALSE(same_dn("CN=a,DC=x", "CN=a,DC=y"));
  CHECK(dn_key("UID=b+CN=a,DC=x") == dn_key("cn=a+uid=b,dc=x"));
  CHECK(parent_dn("CN=a\\,b,OU=x,DC=y") == "OU=x,DC=y");
  CHECK(parent_dn("DC=y") == "");
  CHECK(first_rdn_value("CN=a\\,b,OU=x") == "a,b");
  CHECK(dn_within("CN=x,CN=Configuration,DC=t,DC=l", "dc=t,dc=l"));
  CHECK(dn_within("DC=t,DC=l", "dc=t,dc=l"));
  CHECK_FALSE(dn_within("DC=xt,DC=l", "dc=t,dc=l"));
  CHECK(child_dn("CN", "Smith, John", "OU=x") == "CN=Smith\\, John,OU=x");
}

TEST_CASE("ldap: filter escaping and chunked OR filters") {
  CHECK(escape_filter("a*b(c)d\\e") == "a\\2ab\\28c\\29d\\5ce");
  CHECK(escape_filter(std::string("x\0y", 3)) == "x\\00y");
  CHECK(escape_filter("Domain Admins") == "Domain Admins");
  CHECK(escape_filter_bytes(std::string("\x01\x05\xff", 3)) == "\\01\\05\\ff");
  auto one = or_filters("(objectClass=user)", "sAMAccountName", {"a"}, 10);
  REQUIRE(one.size() == 1);
  CHECK(one[0] == "(&(objectClass=user)(sAMAccountName=a))");
  auto f = or_filters("", "cn", {"a", "b", "c"}, 2);
  REQUIRE(f.size() == 2);
  CHECK(f[0] == "(|(cn=a)(cn=b))");
  CHECK(f[1] == "(cn=c)");
  CHECK(or_filters("", "cn", {}, 5).empty());
}

TEST_CASE("ldap: unicodePwd is the quoted password in UTF-16LE") {
  auto p = unicode_pwd("Ab1!");
  REQUIRE(p.ok());
  CHECK(hex(*p) == "220041006200310021002200");
  auto umlaut = unicode_pwd("\xc3\xa4");  // U+00E4
  REQUIRE(umlaut.ok());
  CHECK(hex(*umlaut) == "2200e4002200");
  auto euro = unicode_pwd("\xe2\x82\xac");  // U+20AC
  CHECK(hex(*euro) == "2200ac202200");
  auto emoji = unicode_pwd("\xf0\x9f\x98\x80");  // U+1F600 -> D83D DE00
  CHECK(hex(*emoji) == "22003dd800de2200");
  CHECK(hex(*unicode_pwd("")) == "22002200");
  for (const char* bad : {"\xc3", "\xc0\x80", "\xed\xa0\x80", "\xff", "\xf4\x90\x80\x80"}) {
    auto r = unicode_pwd(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(bad) == std::string::npos);
  }
}

TEST_CASE("ldap: ranged retrieval attribute descriptions") {
  auto r = parse_range("member;range=0-1499");
  CHECK(r.attr == "member");
  CHECK(r.ranged);
  CHECK(r.low == 0);
  REQUIRE(r.high);
  CHECK(*r.high == 1499);
  auto last = parse_range("member;Range=1500-*");
  CHECK(last.ranged);
  CHECK(last.low == 1500);
  CHECK_FALSE(last.high);
  auto plain = parse_range("member");
  CHECK(plain.attr == "member");
  CHECK_FALSE(plain.ranged);
  CHECK_FALSE(parse_range("member;range=x-y").ranged);
  CHECK(range_request("member", 0, 1500) == "member;range=0-1499");
  CHECK(range_request("member", 3000, 1500) == "member;range=3000-4499");
}

TEST_CASE("ldap: group types and account control") {
  CHECK(*group_type("global", "security") == static_cast<int32_t>(0x80000002u));
  CHECK(*group_type("Universal", "security") == -2147483640);
  CHECK(*group_type("domain_local", "distribution") == 4);
  CHECK_FALSE(group_type("galactic", "security").ok());
  CHECK_FALSE(group_type("global", "secret").ok());
  CHECK(group_scope(-2147483646) == "global");
  CHECK(group_scope(static_cast<int32_t>(0x80000005u)) == "domain_local");  // builtin
  CHECK(group_scope(8) == "universal");
  CHECK(group_category(-2147483640) == "security");
  CHECK(group_category(8) == "distribution");
  CHECK(account_control(0, true, false) == 0x200);
  CHECK(account_control(0, true, true) == 0x10200);
  CHECK(account_control(0, false, false) == 0x202);
  CHECK(account_control(0x10202, true, false) == 0x200);
  CHECK(account_control(0x200 | 0x80000, true, true) == (0x10200 | 0x80000));  // other bits kept
}

TEST_CASE("ldap: principals and object type names") {
  CHECK(strip_domain("TARGET\\QMM_Trg_Ex") == "QMM_Trg_Ex");
  CHECK(strip_domain("QMM_Trg_Ex") == "QMM_Trg_Ex");
  CHECK(*well_known_sid("Everyone") == "S-1-1-0");
  CHECK(*well_known_sid("NT AUTHORITY\\Authenticated Users") == "S-1-5-11");
  CHECK(*well_known_sid("SELF") == "S-1-5-10");
  CHECK_FALSE(well_known_sid("Domain Admins"));
  CHECK(looks_like_sid("S-1-5-21-1-2-3-500"));
  CHECK(looks_like_sid("s-1-1-0"));
  CHECK_FALSE(looks_like_sid("Sales"));
  CHECK(object_type_key("Send-As") == "send as");
  CHECK(object_type_key("send  as") == "send as");
  CHECK(object_type_key("Send_As") == "send as");
  CHECK(object_type_key("serviceConnectionPoint") == "serviceconnectionpoint");
  auto v = object_type_variants("Send As");
  CHECK(v == std::vector<std::string>{"Send As", "Send-As"});
  CHECK(*fallback_right_guid("Send-As") == "ab721a54-1e2f-11d0-9819-00aa0040529b");
  CHECK(*fallback_right_guid("receive as") == "ab721a56-1e2f-11d0-9819-00aa0040529b");
  CHECK(*fallback_right_guid("Modify public folder replica list") ==
        "d0780592-afe6-11d2-aa04-00c04f8eedd8");
  CHECK(*fallback_right_guid("Modify public folder deleted item retention") ==
        "cffe6da4-afe6-11d2-aa04-00c04f8eedd8");
  CHECK(*fallback_right_guid("Modify Public Folder Quotas") ==
        "d03a086e-afe6-11d2-aa04-00c04f8eedd8");
  CHECK_FALSE(fallback_right_guid("Send Mail"));
}

TEST_CASE("principals of another domain are told apart from the target's") {
  CHECK(strip_domain("svc@target.local") == "svc");
  CHECK(domain_of("SOURCE\\svc") == "SOURCE");
  CHECK(domain_of("svc@source.local") == "source.local");
  CHECK(domain_of("svc") == "");
  CHECK(dns_domain_of("DC=target,DC=local") == "target.local");
  CHECK(dns_domain_of("OU=x,DC=Target,DC=Local") == "target.local");
  CHECK(dns_domain_of("CN=x") == "");
  // The target's own qualifiers, local authorities, bare names and SIDs pass.
  for (const char* ok : {"svc", "TARGET\\svc", "target\\svc", "svc@target.local",
                         "svc@TARGET.LOCAL", "BUILTIN\\Administrators",
                         "NT AUTHORITY\\Authenticated Users", "S-1-5-21-1-2-3-1104", "Everyone"})
    CHECK_MESSAGE(!foreign_principal(ok, "TARGET", "target.local"), ok);
  // SOURCE\svc must not silently become TARGET\svc.
  for (const char* bad : {"SOURCE\\svc", "svc@source.local", "\\svc", "TARGET.LOCAL.EVIL\\svc",
                          "svc@target.local.evil", "A\\B\\svc"}) {
    auto why = foreign_principal(bad, "TARGET", "target.local");
    REQUIRE_MESSAGE(why, bad);
    CHECK(why->find("not the target domain") != std::string::npos);
    CHECK(why->find(bad) != std::string::npos);
  }
}

TEST_CASE("secret attributes are recognised by name") {
  for (const char* s :
       {"unicodePwd", "UNICODEPWD", "unicodePwd;binary", "dBCSPwd", "supplementalCredentials",
        "ms-Mcs-AdmPwd", "ms-LAPS-Password", "ms-LAPS-EncryptedPassword", "msFVE-RecoveryPassword",
        "userPassword", "msDS-ManagedPassword", "trustAuthIncoming"})
    CHECK_MESSAGE(is_secret_attribute(s), s);
  for (const char* s : {"displayName", "adminDisplayName", "description", "pwdLastSet",
                        "ms-Mcs-AdmPwdExpirationTime", ""})
    CHECK_MESSAGE(!is_secret_attribute(s), s);
}

}  // namespace
}  // namespace converge::ldap
