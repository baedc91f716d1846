// The provider contract: the only part of the engine a provider sees (with value.h, schema.h,
// result.h and ad_rights.h).
//
// A provider serves some resource types on one target system. The engine asks it to observe
// many resources of one type in one call (one paged search, one zone transfer, one SQL query —
// never a round trip per resource) and to apply one change at a time. Requests and responses are
// structs so fields can be added without breaking providers (Terraform's provider protocol, cut
// down to the two calls we need).
//
// A change stays the unit of apply: it succeeds or fails on its own, is retried on its own and is
// journaled on its own. A provider whose protocol carries many independent changes in one round
// trip (one RFC 2136 UPDATE message for many RRsets) says so with max_batch() > 1; the engine then
// hands it up to that many ready changes in one apply_batch() call and gets one answer per change.
//
// Thread-safety: observe() is called from one thread. apply() / apply_batch() may be called
// concurrently from up to max_parallel() threads; a provider that cannot do that returns 1.
// Providers never print; they may log diagnostics with spdlog.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "engine/api/schema.h"
#include "engine/api/value.h"

namespace converge {

// One resource as the provider sees it: its id (TYPE.NAME[KEY]) and its desired attributes after
// defaults, interpolation and derivation. Secret attributes hold references ("env:VAR"), not
// secrets. Owned by the engine; valid for the duration of the call.
struct ResourceView {
  const std::string* id = nullptr;
  const TypeSpec* type = nullptr;
  const AttrMap* attrs = nullptr;
  const std::string* key = nullptr;  // identity_key(*type, *attrs) when the engine has it

  const Value& get(const std::string& name) const;  // null Value when absent
  std::string identity() const { return key ? *key : identity_key(*type, *attrs); }
  std::string str(const std::string& name) const { return get(name).text(); }
};

struct ObserveRequest {
  const TypeSpec* type = nullptr;
  std::vector<ResourceView> resources;
};

// What exists for one requested resource. For check-only types `exists` is true when the thing
// checked is known and `attrs` holds the observed facts under the declared attribute names
// (e.g. software.min_version holds the installed version).
struct Observation {
  bool exists = false;
  AttrMap attrs;
  std::string note;            // shown in the plan beside the resource (e.g. why a check fails)
  std::optional<Error> error;  // this resource could not be observed
};

struct ObserveResponse {
  std::vector<Observation> results;  // one per request resource, same order
  std::vector<std::string> notes;    // said once per run (e.g. "AXFR refused; per-RRset queries")
};

enum class Action { kNoop, kCreate, kUpdate, kDelete, kBlocked };

struct ApplyRequest {
  ResourceView resource;
  Action action = Action::kNoop;
  AttrMap before;                              // as observed when planned
  std::vector<std::string> changed;            // attribute names that differ (update)
  std::map<std::string, std::string> secrets;  // attribute -> secret value, resolved for this call
};

struct ApplyResponse {
  Status status;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string kind() const = 0;  // "lab", "ldap", "dns"
  virtual bool serves(const std::string& type) const = 0;
  virtual int max_parallel() const { return 4; }
  // True when this provider can create/delete resources of `type`; false makes the type a check
  // here (e.g. dns_zone on an RFC 2136 server): a missing one blocks instead of being created.
  virtual bool can_create(const std::string& /*type*/) const { return true; }
  virtual ObserveResponse observe(const ObserveRequest& req) = 0;
  // A hint that resources like these will be observed soon (called from the thread that later
  // calls observe(), before it): a provider may start fetching what observe() will need — a zone
  // transfer, a search — in the background while the engine is still loading, and use it in
  // observe(). Nothing may change; a provider without such a fetch ignores it.
  virtual void prefetch(const ObserveRequest& /*req*/) {}
  // Fingerprints, for remembering plans that had nothing to do (engine/noop_memo.h). When a
  // plan of a compiled manifest finds nothing to change, the engine keeps, per (provider, type)
  // group of resources, the provider's scope of what observe() reads for them and a fingerprint
  // of that data. The next plan of the same compiled manifest asks for the fingerprints first:
  // when every one is what it was, the plan is the same, and nothing is decoded, observed or
  // compared. Both are optional.
  // observe_scope(): a compact description of what observe(req) reads (e.g. the zones of the
  // records), from which fingerprint() can fetch it again; "" when the provider cannot tell.
  virtual std::string observe_scope(const ObserveRequest& /*req*/) { return {}; }
  // A digest of the data under `scope` for resources of `type`: as the last observe() read it
  // when it read that scope, otherwise fetched now (and then used by the next observe()).
  // Equal fingerprints must mean equal observations of the same request; nullopt when the data
  // cannot be had or cannot be fingerprinted (e.g. a transfer was refused).
  virtual std::optional<std::string> fingerprint(const std::string& /*type*/,
                                                 const std::string& /*scope*/) {
    return std::nullopt;
  }
  virtual ApplyResponse apply(const ApplyRequest& req) = 0;
  // Several independent changes whose dependencies are all applied; one response per request, in
  // order. The default applies them one by one.
  virtual size_t max_batch() const { return 1; }
  virtual std::vector<ApplyResponse> apply_batch(const std::vector<ApplyRequest>& reqs) {
    std::vector<ApplyResponse> out;
    out.reserve(reqs.size());
    for (const auto& r : reqs) out.push_back(apply(r));
    return out;
  }
};

// What a `[provider.NAME]` block says, plus the run's context.
struct ProviderConfig {
  std::string name;
  std::string type;
  AttrMap settings;  // the block's keys; secrets as references
  Loc loc;
  std::string manifest_dir;  // relative paths in settings are relative to this
  std::string lab_path;      // --lab / CONVERGE_LAB
  // Resolves a secret reference ("env:VAR" / "file:path") to its value.
  std::function<Result<std::string>(const std::string&)> resolve_secret;
};

using ProviderFactory = std::function<Result<std::unique_ptr<Provider>>(const ProviderConfig&)>;

}  // namespace converge
