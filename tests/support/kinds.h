// Provider kinds for engine tests, so that they build without any provider linked: the lab serves
// every declared type; ldap and dns serve what their providers declare (providers/*/..._provider
// kind()), with the same secret settings. Keep these in step with those declarations.
#pragma once

#include <vector>

#include "engine/api/provider.h"
#include "engine/api/schema.h"

namespace converge::test {

inline const std::vector<ProviderKind>& kinds() {
  static const std::vector<ProviderKind> k = [] {
    ProviderKind lab{"lab", {}, {}};
    for (const auto& t : all_types()) lab.serves.push_back(t.name);
    ProviderKind ldap{"ldap",
                      {"ou", "container", "account", "group", "group_member", "exchange_role",
                       "ace", "ldap_object", "ldap_attribute"},
                      {"password"}};
    ProviderKind dns{"dns", {"dns_zone", "dns_record"}, {"tsig_secret"}};
    return std::vector<ProviderKind>{lab, ldap, dns};
  }();
  return k;
}

}  // namespace converge::test
