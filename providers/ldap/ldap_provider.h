// The ldap provider: Active Directory (or Samba AD DC) over LDAP, through OpenLDAP's libldap.
//
// Serves ou, container, account, group, group_member, exchange_role (Exchange 2007 roles are
// memberships of the role's universal group in OU=Microsoft Exchange Security Groups), ace,
// ldap_object and ldap_attribute. Settings of [provider.NAME] type = "ldap":
//
//   url            ldaps://host[:port], or ldap://host[:port] upgraded with StartTLS (required)
//   base_dn        the domain partition, e.g. "DC=target,DC=local" (required)
//   bind_dn        the account to bind as (a DN or user@domain) (required)
//   password       { env = "VAR" } or { file = "path" } (required)
//   ca_file        PEM file of the CA that signed the server's certificate, relative to the
//                  manifest; the system trust store when absent. Verification is always on.
//   starttls       for ldap:// URLs (default true)
//   allow_insecure permit a simple bind without TLS (ldap:// with starttls = false); default false
//   timeout        seconds per LDAP operation (default 60)
//   max_parallel   concurrent changes, one connection each (default 4)
//
// url, base_dn, bind_dn and ca_file may also be { env = "VAR" } / { file = "path" } references,
// so that one manifest serves several domains (manifests/exchange2007-target-ldap.toml).
//
// Observation is batched: each observe() call answers all resources of one type with a few paged
// searches (per naming context and chunk of names). apply() makes one change; it may run on up to
// max_parallel() threads at once, each on its own pooled connection. Nothing connects until the
// first observe/apply, so make() only validates the settings.
#pragma once

#include <memory>
#include <string>

#include "engine/api/provider.h"

namespace converge::ldap {

// What [provider.NAME] type = "ldap" serves and which settings are secrets.
ProviderKind kind();
// Validates the settings (Invalid errors at the provider block's location) and resolves the
// password reference; does not connect.
Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg);

// Exchange 2007 role -> the sAMAccountName of its role group ("" for roles that are not one
// group membership, i.e. server_administrator).
std::string role_group(const std::string& role);

}  // namespace converge::ldap
