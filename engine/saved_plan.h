// Saved plans: what `converge apply plan.json` checks before it applies anything.
//
// A plan file carries, per resource, what was observed when it was made ("before"). Applying it
// is safe only while the target still looks like that: stale_resources() observes the plan's
// resources again (batched, like planning) and names each one whose state moved — it appeared,
// disappeared, could not be observed, or an attribute differs from "before". An empty answer
// means the plan may be applied as written. Nothing is changed. Not thread-safe (observes).
#pragma once

#include <string>
#include <vector>

#include "engine/plan.h"

namespace converge {

// One line per stale resource, e.g. "registry_value.x: data was 100 when planned, now 50".
// Resources the plan could not observe are not re-checked (the plan does not change them).
std::vector<std::string> stale_resources(const Plan& plan, ProviderMap& providers);

}  // namespace converge
