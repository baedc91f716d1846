// Saved plans: what `converge apply plan.json` checks before it applies anything.
//
// A plan file is not trusted: anyone who can write it could add a provider block, a resource or
// an attribute. What apply does comes only from the manifest the plan names:
//  - the plan records the manifest's digest (manifest_digest(), SHA-256 of its bytes, in the
//    plan's manifest "hash"); apply refuses a manifest with another digest;
//  - replan() plans that manifest again against the observations the file recorded ("before",
//    "exists"), and plan_differences() names every resource where the file says otherwise
//    (added, removed, another action, other attributes, ...) and every provider block that is
//    not the manifest's: any edit of the file refuses it;
//  - stale_resources() then observes the resources again and names each one whose state moved
//    since the plan was made.
// Only then is the re-made plan (never the file's) applied, with the manifest's providers and
// the manifest's directory for { file } secrets. load_plan() bounds the file's nesting so that a
// hostile file is an error, not a stack overflow. Not thread-safe (replan and stale observe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/plan.h"

namespace converge {

// SHA-256 of `bytes`, 64 lowercase hex digits (OpenSSL libcrypto).
std::string sha256_hex(std::string_view bytes);
// What a plan file records as its manifest's "hash": "sha256:" + sha256_hex(manifest bytes).
std::string manifest_digest(std::string_view manifest_bytes);

// Nesting allowed in a plan file; the deepest plan converge writes nests 6 levels.
constexpr int kMaxPlanDepth = 32;

// Plan::from_json() behind a nesting limit: deeper input is an error before any tree is built.
Result<Plan> load_plan(const std::string& text, const std::string& path);

// Plans `m` (with graph `g`) against the observations recorded in `file`: a resource of `m` that
// the file does not list counts as not observed (blocked). Deletions only when the file was made
// with --allow-destroy. `providers` (the manifest's) answer can_create(); nothing is observed.
Plan replan(const Plan& file, const Manifest& m, const Graph& g, ProviderMap& providers);

// How `file` differs from `replanned` (replan()'s answer), one line per resource id or provider
// block: "ID: added to the plan", "ID: removed from the plan", "ID: different action (the plan
// says update, the manifest gives noop)", "ID: different attributes: ATTR ...", and so on.
// Values of sensitive changes are never shown. Empty when the file is what the manifest plans.
std::vector<std::string> plan_differences(const Plan& file, const Plan& replanned);

// One line per stale resource, e.g. "registry_value.x: data was 100 when planned, now 50".
// Resources the plan could not observe are not re-checked (the plan does not change them).
std::vector<std::string> stale_resources(const Plan& plan, ProviderMap& providers);

}  // namespace converge
