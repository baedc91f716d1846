#include "providers/ldap/ldap_provider.h"

namespace converge::ldap {

ProviderKind kind() { return {"ldap", {}, {}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  return Error::Invalid("the ldap provider is not implemented yet").at(cfg.loc);
}

}  // namespace converge::ldap
