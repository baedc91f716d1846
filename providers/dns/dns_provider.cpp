#include "providers/dns/dns_provider.h"

namespace converge::dns {

ProviderKind kind() { return {"dns", {}, {}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  return Error::Invalid("the dns provider is not implemented yet").at(cfg.loc);
}

}  // namespace converge::dns
