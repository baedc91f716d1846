#include "engine/cli/providers.h"

#include "providers/dns/dns_provider.h"
#include "providers/lab/lab_provider.h"
#include "providers/ldap/ldap_provider.h"
#include "providers/mail/mail_provider.h"

namespace converge::cli {

const std::vector<ProviderKind>& provider_kinds() {
  static const std::vector<ProviderKind> kinds = [] {
    // The lab serves every type: it is the stand-in for the whole target.
    ProviderKind lab{"lab", {}, {}};
    for (const auto& t : all_types()) lab.serves.push_back(t.name);
    return std::vector<ProviderKind>{lab, ldap::kind(), dns::kind(), mail::kind()};
  }();
  return kinds;
}

Result<std::unique_ptr<Provider>> make_provider(const ProviderConfig& cfg) {
  if (cfg.type == "lab") {
    auto p = lab::LabProvider::open(cfg);
    if (!p.ok()) return Error(p.error()).at(cfg.loc);
    return std::unique_ptr<Provider>(std::move(*p));
  }
  if (cfg.type == "ldap") return ldap::make(cfg);
  if (cfg.type == "dns") return dns::make(cfg);
  if (cfg.type == "mail") return mail::make(cfg);
  return Error::Invalid("unknown provider type '" + cfg.type + "'").at(cfg.loc);
}

}  // namespace converge::cli
