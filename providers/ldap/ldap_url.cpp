#include "providers/ldap/ldap_url.h"

#include <ldap.h>

#include "engine/api/names.h"

namespace converge::ldap {
namespace {

// libldap splits URL lists at spaces and commas; tabs and newlines are treated as separators
// too, so that no element can hide inside another.
bool is_separator(char c) { return c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (is_separator(c)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

Result<LdapUrl> parse_one(const std::string& element) {
  const std::string hint = "write url = \"ldaps://dc1.example.com\" or \"ldap://dc1.example.com\"";
  std::string l = lower(element);
  if (l.rfind("ldaps://", 0) != 0 && l.rfind("ldap://", 0) != 0)
    return Error::Invalid("url '" + element + "' must start with ldaps:// or ldap://", hint);
  LDAPURLDesc* d = nullptr;
  int rc = ldap_url_parse(element.c_str(), &d);
  if (rc != LDAP_URL_SUCCESS || !d) {
    if (d) ldap_free_urldesc(d);
    return Error::Invalid("url '" + element + "' is not an LDAP URL", hint);
  }
  LdapUrl u;
  u.ldaps = d->lud_scheme && lower(d->lud_scheme) == "ldaps";
  u.host = d->lud_host ? d->lud_host : "";
  u.port = d->lud_port;
  bool extra = (d->lud_dn && *d->lud_dn) || d->lud_attrs || (d->lud_filter && *d->lud_filter) ||
               d->lud_exts || element.find('?') != std::string::npos;
  ldap_free_urldesc(d);
  if (u.host.empty())
    return Error::Invalid("url '" + element + "' names no host",
                          "write the domain controller's name, e.g. ldaps://dc1.example.com");
  if (extra)
    return Error::Invalid("url '" + element + "' carries a DN, attributes, filter or extensions",
                          "write only scheme://host[:port]; the base DN is base_dn");
  return u;
}

}  // namespace

std::string UrlList::hosts() const {
  std::string out;
  for (const auto& u : urls)
    out += (out.empty() ? "" : ", ") + u.host + ":" +
           std::to_string(u.port ? u.port : (u.ldaps ? 636 : 389));
  return out;
}

Result<UrlList> check_url_list(std::string_view text, bool starttls, bool allow_insecure) {
  UrlList list;
  for (const auto& element : split_list(text)) {
    auto u = parse_one(element);
    if (!u.ok()) return u.error();
    list.urls.push_back(std::move(*u));
  }
  if (list.urls.empty())
    return Error::Invalid("url is empty", "write url = \"ldaps://dc1.example.com\"");
  for (const auto& u : list.urls) {
    if (u.ldaps != list.ldaps())
      return Error::Invalid(
          "url '" + std::string(text) +
              "' mixes ldaps:// and ldap:// URLs: if the ldaps:// server is down libldap falls "
              "back to the other scheme",
          "list only ldaps:// URLs (or only ldap:// URLs with starttls = true)");
  }
  if (!list.ldaps() && !starttls && !allow_insecure)
    return Error::Invalid("ldap:// with starttls = false would send the password in clear text",
                          "use ldaps:// or StartTLS, or set allow_insecure = true");
  return list;
}

}  // namespace converge::ldap
