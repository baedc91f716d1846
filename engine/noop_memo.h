// Plans that had nothing to do, remembered beside the compiled manifest (manifest_cache.h).
//
// A plan is a function of the compiled manifest, the plan options and what the providers
// observe. When a read-only plan (`converge plan`, a `converge drift` check) of a manifest that
// came from the cache finds nothing to create, update, delete or block, the engine keeps a memo:
// the manifest's hash, the options and, per (provider, type) group of resources, the provider's
// scope of what it read and a fingerprint of that data (Provider::observe_scope/fingerprint).
// The next read-only plan of the byte-identical manifest by the same binary asks the providers
// for the fingerprints before decoding the manifest's resources: when every one is unchanged,
// the plan is the same no-op, and nothing else is decoded, observed or compared. Any difference
// — a changed record, a provider that cannot fingerprint, a damaged memo — means a full plan.
// A plan with changes, notes or errors removes the memo. A DNS zone's fingerprint is a SHA-256
// of its transfer, so a no-op plan still transfers every zone it reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plan.h"

namespace converge {

struct NoopMemo {
  struct Group {
    std::string provider, type, scope, fingerprint;
    bool operator==(const Group&) const = default;
  };
  std::string manifest_path;  // as given on the command line
  std::string manifest_hash;
  std::string options;  // plan_options_key()
  std::vector<Group> groups;
  int64_t unchanged = 0;  // resources in the plan, all unchanged
  bool operator==(const NoopMemo&) const = default;
};

// What of the plan options the memo depends on.
std::string plan_options_key(const PlanOptions& opt);

// Pure encoding, for tests and fuzzing: `build` names the binary that wrote the memo, and a memo
// written by another binary does not decode.
std::string encode_noop_memo(const NoopMemo& m, std::string_view build);
std::optional<NoopMemo> decode_noop_memo(std::string_view bytes, std::string_view build);

// The memo of manifest `path` in state directory `dir` (beside its compiled-manifest entry).
std::string noop_memo_file(const std::string& dir, const std::string& path);
std::optional<NoopMemo> read_noop_memo(const std::string& dir, const std::string& path);
void write_noop_memo(const std::string& dir, const NoopMemo& m);
void drop_noop_memo(const std::string& dir, const std::string& path);

// True when `plan` has nothing to show: every resource unchanged, no deferred check, no note,
// nothing that could not be observed.
bool is_clean_noop(const Plan& plan);

// The memo of a clean no-op `plan` of `m`, with the providers' scopes and fingerprints of what
// they just observed; nullopt when a group has no scope or fingerprint.
std::optional<NoopMemo> make_noop_memo(const Manifest& m, const Plan& plan, ProviderMap& providers,
                                       const PlanOptions& opt);

// True when every group's provider gives the remembered fingerprint now.
bool noop_memo_holds(const NoopMemo& memo, ProviderMap& providers);

}  // namespace converge
