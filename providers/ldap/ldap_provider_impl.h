// The ldap provider's class, shared by the files that implement it: ldap_provider.cpp
// (settings, connections, caches), ldap_observe.cpp and ldap_apply.cpp. Not for other code: the
// rest of converge knows the provider only through ldap_provider.h.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "engine/api/provider.h"
#include "providers/ldap/ldap_conn.h"
#include "providers/ldap/ldap_directory.h"
#include "providers/ldap/ldap_text.h"

namespace converge::ldap {

struct Settings {
  ConnSettings conn;
  std::string base_dn;
  int max_parallel = 4;
};

// The settings of a [provider.NAME] type = "ldap" block; Invalid errors at its location.
Result<Settings> parse_settings(const ProviderConfig& cfg);

// `e` attributed to the resource `id`.
inline Error on(Error e, const std::string& id) {
  e.resource = id;
  return e;
}

// Thread-safety: observe() runs on one thread; apply() on up to max_parallel() threads at once,
// each with its own pooled connection. The caches, the root DSE and the DACL locks are guarded by
// their mutexes.
class LdapProvider : public Provider {
 public:
  LdapProvider(std::string name, Settings s)
      : name_(std::move(name)),
        s_(std::move(s)),
        pool_(s_.conn, static_cast<size_t>(s_.max_parallel) + 1) {}

  int max_parallel() const override { return s_.max_parallel; }
  ObserveResponse observe(const ObserveRequest& req) override;
  ApplyResponse apply(const ApplyRequest& req) override;

 private:
  using Work = std::function<Status(Directory&)>;
  // Runs `fn` on a pooled connection; transient failures are retried with backoff.
  Status with_directory(int attempts, const Work& fn);
  Result<const RootDse*> root(Conn& c);

  // Observation, one function per family of types; each fills resp.results.
  Status observe_objects(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_named(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_members(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_aces(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_attributes(Directory& d, const ObserveRequest& req, ObserveResponse& resp);

  Status apply_object(Directory& d, const ApplyRequest& req);
  Status apply_member(Directory& d, const ApplyRequest& req);
  Status apply_ace(Directory& d, const ApplyRequest& req);
  Status apply_attribute(Directory& d, const ApplyRequest& req);

  // Principals for observation: cached for the provider's lifetime (one run), positives only.
  Result<std::map<std::string, Principal>> cached_principals(Directory& d,
                                                             const std::vector<std::string>& names);
  void remember(const std::string& name, const Principal& p);
  // Extended rights / schema names, cached (the schema does not change during a run).
  Result<std::map<std::string, SchemaName>> cached_schema(Directory& d,
                                                          const std::vector<std::string>& names);

  // A DN-valued attribute that must parse and lie in a naming context of the server.
  std::optional<Error> check_dn(const RootDse& root, const std::string& what,
                                const std::string& dn) const;
  // A principal (`what`: principal / member / group) qualified with another domain than the
  // target's ("SOURCE\\svc", "svc@source.local") is refused.
  std::optional<Error> check_principal(const RootDse& root, const std::string& what,
                                       const std::string& name) const;
  // ldap_attribute may not read or write an attribute that holds secrets (is_secret_attribute,
  // or confidential in the schema): its values would land in plans, journal and reports.
  std::optional<Error> check_not_secret(const std::string& what, const std::string& name,
                                        const SchemaName& schema) const;

  std::string name_;
  Settings s_;
  Pool pool_;
  std::mutex root_mu_;
  std::optional<RootDse> root_;
  std::mutex cache_mu_;
  std::unordered_map<std::string, Principal> principal_cache_;
  std::map<std::string, SchemaName> schema_cache_;
  std::atomic<bool> no_value_delete_{false};
  // One writer per object's DACL at a time within this process: two ACEs of one object applied
  // in parallel would otherwise race on the read-modify-write.
  std::mutex dacl_locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> dacl_locks_;
  std::shared_ptr<std::mutex> dacl_lock(const std::string& dn) {
    std::lock_guard<std::mutex> lk(dacl_locks_mu_);
    auto& m = dacl_locks_[dn_key(dn)];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }
};

}  // namespace converge::ldap
