// The dns provider (stub until its issue lands).
#pragma once

#include <memory>

#include "engine/api/provider.h"
#include "engine/manifest.h"

namespace converge::dns {

// What [provider.NAME] type = "dns" serves and which settings are secrets.
ProviderKind kind();
Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg);

}  // namespace converge::dns
