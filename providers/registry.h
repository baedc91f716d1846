// The provider kinds this build of converge knows, and how to make one from a [provider.NAME]
// block. The engine never includes this: the command line hands it the kinds and factories.
#pragma once

#include <vector>

#include "engine/api/provider.h"
#include "engine/manifest.h"

namespace converge {

const std::vector<ProviderKind>& provider_kinds();
Result<std::unique_ptr<Provider>> make_provider(const ProviderConfig& cfg);

}  // namespace converge
