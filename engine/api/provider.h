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
  virtual int max_parallel() const { return 4; }
  // True when this provider can create/delete resources of `type`; false makes the type a check
  // here (e.g. dns_zone on an RFC 2136 server): a missing one blocks instead of being created.
  virtual bool can_create(const std::string& /*type*/) const { return true; }
  virtual ObserveResponse observe(const ObserveRequest& req) = 0;
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

// What the engine knows of a provider type without knowing the provider: the resource types it
// serves and which of its settings must be secrets. Declared once per provider type (its make()
// header); engine/cli/providers.cpp lists them. The one source of truth for `serves`.
struct ProviderKind {
  std::string type;                          // "lab", "ldap", "dns"
  std::vector<std::string> serves;           // resource types
  std::vector<std::string> secret_settings;  // settings that must be { env } / { file }
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
