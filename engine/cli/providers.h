// The provider types this build of converge knows, and how to make one from a [provider.NAME]
// block. The command line is the one place that wires providers in: the engine never includes
// this, it is handed the kinds (to validate manifests) and opened providers (to observe and apply).
#pragma once

#include <memory>
#include <vector>

#include "engine/api/provider.h"

namespace converge::cli {

const std::vector<ProviderKind>& provider_kinds();
Result<std::unique_ptr<Provider>> make_provider(const ProviderConfig& cfg);

}  // namespace converge::cli
