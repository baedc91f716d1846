// The `url` setting of an ldap provider, checked before libldap ever sees it. libldap accepts a
// list of URLs separated by spaces or commas and tries them in order, so a check of the
// string's prefix would pass "ldaps://dc1,ldap://dc2" and the bind would go out in clear text
// whenever dc1 is down. Every element is parsed (ldap_url_parse) and judged on its own.
//
// Rule: a list is allowed only when every element has the same scheme: all ldaps://, or all
// ldap:// (each then upgraded with StartTLS, or sent in clear only with allow_insecure). A list
// mixing ldaps:// and ldap:// is refused even with StartTLS, because libldap cannot StartTLS on
// an ldaps:// connection and the two schemes need different handling per element. Elements carry
// only scheme, host and port: a DN, attributes, filter or extensions are refused (libldap
// ignores them for connecting, and a reader would believe they mean something).
//
// Pure (no connection is made); thread-safe; tested in ldap_url_test.cpp and fuzzed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"

namespace converge::ldap {

struct LdapUrl {
  bool ldaps = false;  // ldaps:// (TLS from the first byte); otherwise ldap://
  std::string host;
  int port = 0;  // as written; 0 when omitted (libldap then uses 636 / 389)
};

struct UrlList {
  std::vector<LdapUrl> urls;  // at least one
  bool ldaps() const { return urls.front().ldaps; }
  // "host:port" of every element, comma separated, for messages.
  std::string hosts() const;
};

// Parses and judges `text`. Errors are Invalid and quote the offending element.
Result<UrlList> check_url_list(std::string_view text, bool starttls, bool allow_insecure);

}  // namespace converge::ldap
