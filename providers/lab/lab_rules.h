// The lab's rules: what the real systems refuse, enforced on one change inside the provider's
// write transaction (LabProvider::apply opens and commits it; a refused change rolls back). One
// file per family of resources: lab_rules_directory.cpp (Active Directory objects, memberships,
// ACEs, attributes), lab_rules_exchange.cpp (databases, mailboxes, public folders, transport),
// lab_rules_dns_hosts.cpp (the DNS server, Windows hosts, SQL Server). Errors are the ones the real
// system gives (entryAlreadyExists, notAllowedOnNonLeaf, NOTZONE, a dismounted database ...).
//
// Thread-safety: none; the provider serialises calls.
#pragma once

#include <optional>
#include <string>

#include "engine/api/provider.h"
#include "providers/lab/lab_store.h"

namespace converge::lab {

// m[k], or a null Value when absent.
const Value& get(const AttrMap& m, const std::string& k);
// The identity key of a resource of `type` with `attrs`, as the lab stores it.
std::string key_of(const std::string& type, const AttrMap& attrs);
// "TARGET\name" -> "name"; other names unchanged.
std::string strip_domain(const std::string& principal);
// Exchange 2007 role -> its role group in OU=Microsoft Exchange Security Groups (setup
// /PrepareAD); "" for server_administrator, which is no group membership.
std::string role_group(const std::string& role);

// One change being applied: the request, the stored row it manages, and the lookups the rules
// share. Valid for the duration of the apply() call.
struct Change {
  LabStore& s;
  const ApplyRequest& req;
  const std::string& t;  // the resource type
  const AttrMap& want;   // desired attributes
  std::string key;       // identity key of `want`
  const AttrMap* cur;    // the stored row of `key`; nullptr when there is none
  bool del = false;
  bool create = false;

  Result<bool> exists(const std::string& type, const std::string& k) const;
  Result<std::optional<AttrMap>> row(const std::string& type, const std::string& k) const;
  // Ok for a SID, a well-known principal (Everyone, SELF ...) or an account or group name.
  Status need_principal(const std::string& name) const;
  // Ok when an object has this DN.
  Status need_dn(const std::string& dn, const std::string& what) const;
  // The server's row; refused when there is no such server or it lacks `role` ("" = any role).
  Result<AttrMap> need_server(const std::string& name, const std::string& role) const;
  // The row to store: desired attributes without secrets (a set secret is recorded as
  // NAME_set = true), merged over `base`; subset-compared lists are unions with what is stored.
  AttrMap stored(const AttrMap* base) const;
};

// Each applies `c` when its type belongs to the family, and returns nullopt otherwise.
std::optional<Status> directory_rules(const Change& c);
std::optional<Status> exchange_rules(const Change& c);
std::optional<Status> dns_and_host_rules(const Change& c);

}  // namespace converge::lab
