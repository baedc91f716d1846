// The compiled-manifest cache: what load_manifest() made of a manifest's exact bytes, kept in the
// state directory so that the next plan/run/drift of an unchanged manifest skips parsing,
// expansion and validation (a drift check every 15 minutes re-reads the same file; Puppet keeps a
// compiled catalog for the same reason).
//
// An entry is used only when it was written by this very converge binary (its size and mtime)
// and holds byte-for-byte the manifest text read now; anything else — another file, an edited
// manifest, a new build, a truncated or corrupt entry — is a miss and the manifest is parsed as
// usual. Only manifests that loaded without errors are stored. Secrets never reach the cache:
// the manifest holds references to them ({ env } / { file }), not values.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/manifest.h"

namespace converge {

// Called while an entry is decoded, before its resources: the manifest's header (path, dir,
// hash, providers, vars) and a copy of the first resource of each (provider, type) — enough for
// providers to start fetching (Provider::prefetch) while the rest decodes. Returning true stops
// there: the manifest comes back with its header only (no resources), for a caller that
// needs nothing more (a plan known from its memo, noop_memo.h).
using EarlyHint = std::function<bool(const Manifest& header, const std::vector<Resource>& firsts)>;

// Pure encoding, for tests and fuzzing: `build` names the binary that wrote the entry.
std::string encode_manifest(const Manifest& m, std::string_view text, std::string_view build);
std::optional<Manifest> decode_manifest(std::string_view bytes, std::string_view text,
                                        std::string_view build, const EarlyHint& early = {});

// Writes a state file through a temporary file and a rename (a reader sees the old content or
// the new), creating its directory; a failure leaves things as they were.
void write_state_file(const std::string& file, const std::string& bytes);

// This binary's identity ("format|size|mtime" of /proc/self/exe).
const std::string& build_identity();

// The cache entry of manifest `path` inside state directory `dir`.
std::string manifest_cache_file(const std::string& dir, const std::string& path);

// load_manifest_file() through the cache in `dir` ("" = no cache). `*hit` says whether the entry
// was used; `early` is called on a hit only. On a miss the new entry is written at once — or,
// with `store`, only when the caller calls *store (e.g. once the run got as far as a plan).
LoadResult load_manifest_cached(const std::string& path, const std::vector<ProviderKind>& kinds,
                                const std::string& dir, bool* hit = nullptr,
                                const EarlyHint& early = {},
                                std::function<void()>* store = nullptr);

}  // namespace converge
