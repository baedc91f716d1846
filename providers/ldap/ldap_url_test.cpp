#include "providers/ldap/ldap_url.h"

#include <doctest/doctest.h>

using converge::ldap::check_url_list;

TEST_CASE("url lists: one scheme for every element") {
  // The downgrade: with dc1 down, libldap would bind to dc2 in clear text.
  for (const char* mixed : {"ldaps://dc1,ldap://dc2", "ldaps://dc1 ldap://dc2",
                            "ldaps://dc1,\tldap://dc2", "ldap://dc2 ldaps://dc1"}) {
    auto r = check_url_list(mixed, false, false);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("mixes ldaps:// and ldap://") != std::string::npos);
    // StartTLS does not make a mixed list acceptable either.
    CHECK_FALSE(check_url_list(mixed, true, false).ok());
  }
  auto both = check_url_list("ldaps://dc1.example.com, ldaps://dc2.example.com:3269", false, false);
  REQUIRE(both.ok());
  CHECK(both->urls.size() == 2);
  CHECK(both->ldaps());
  CHECK(both->urls[1].port == 3269);
  CHECK(both->hosts() == "dc1.example.com:636, dc2.example.com:3269");
  auto plain = check_url_list("ldap://dc1 ldap://dc2", true, false);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->ldaps());
}

TEST_CASE("url lists: clear text only when asked for") {
  CHECK_FALSE(check_url_list("ldap://dc1", false, false).ok());
  CHECK_FALSE(check_url_list("ldap://dc1,ldap://dc2", false, false).ok());
  CHECK(check_url_list("ldap://dc1", false, true).ok());
  CHECK(check_url_list("ldap://dc1", true, false).ok());
}

TEST_CASE("url lists: malformed elements are refused") {
  for (const char* bad : {"", " , ", "dc1.example.com", "ldapi:///var/run/ldapi", "http://dc1",
                          "ldaps://", "ldaps://dc1/DC=example,DC=com", "ldaps://dc1/??sub",
                          "ldaps://dc1/?\?\?!StartTLS", "ldaps://dc1,ldaps://"}) {
    auto r = check_url_list(bad, true, false);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) CHECK_FALSE(r.error().message.empty());
  }
  CHECK(check_url_list("LDAPS://DC1.EXAMPLE.COM/", false, false).ok());
}
