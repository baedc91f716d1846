// The dns provider's class, shared by the files that implement it: dns_settings.cpp (settings,
// make), dns_observe.cpp (zone checks, transfers, per-RRset queries) and dns_update.cpp (UPDATE
// messages: building, sending in batches, judging the answers).
//
// Thread-safety: after construction the provider holds only its settings, which nothing changes;
// apply() / apply_batch() run concurrently without locks, each on its own connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/provider.h"
#include "providers/dns/dns_client.h"
#include "providers/dns/dns_zone_index.h"

namespace converge::dns {

struct Settings {
  Endpoint server;
  std::optional<TsigKey> key;
  bool allow_unsigned = false;
  std::chrono::milliseconds timeout{5000};
  int attempts = 3;
  std::chrono::milliseconds transfer_timeout{150000};
  TransferLimits limits;
};
// The [provider.NAME] block, checked; errors are Invalid, name the setting and never the secret.
Result<Settings> parse_settings(const ProviderConfig& cfg);

// One change to one RRset, ready to go into an UPDATE message.
struct Change {
  std::string id;
  Action action = Action::kNoop;
  std::string zone, owner, type;  // canonical
  uint32_t ttl = 0;
  std::vector<std::string> want;    // canonical values (create/update)
  std::vector<std::string> before;  // canonical values as planned
  std::vector<RrPtr> prereq, update;
  std::vector<std::string> targets;  // MX/SRV targets, for explaining a REFUSED
  size_t bytes = 0;                  // at most what it adds to a message
  Status result;
};

class DnsProvider : public Provider {
 public:
  // Changes of one zone go into one UPDATE message up to this many (apply_batch).
  static constexpr size_t kMaxBatchChanges = 4000;

  explicit DnsProvider(Settings s);
  ~DnsProvider() override;  // clears the secret

  size_t max_batch() const override { return kMaxBatchChanges; }
  bool can_create(const std::string& t) const override { return t == "dns_record"; }
  ObserveResponse observe(const ObserveRequest& req) override;
  ApplyResponse apply(const ApplyRequest& req) override;
  std::vector<ApplyResponse> apply_batch(const std::vector<ApplyRequest>& reqs) override;

 private:
  // ---- observation (dns_observe.cpp) ----
  struct ZoneCheck {
    bool served = false;
    std::string why;  // when not served
  };
  struct ZoneState {
    enum Mode { kTransferred, kQueries, kMissing } mode = kTransferred;
    ZoneRRsets sets;  // kTransferred
    std::string why;  // kMissing: why; kQueries: what the AXFR was answered
  };
  // f() again while it fails transiently, up to the configured attempts, with backoff.
  template <typename F>
  auto with_retries(const std::string& what, F f) const -> decltype(f());
  // Whether the server is authoritative for `zone`: its SOA, from the zone itself.
  Result<ZoneCheck> check_zone(const std::string& zone) const;
  std::string missing_zone_note(const std::string& zone, const std::string& why) const;
  ObserveResponse observe_zones(const ObserveRequest& req) const;
  Result<ZoneState> zone_state(const std::string& zone) const;
  ObserveResponse observe_records(const ObserveRequest& req) const;
  // The RRset now on the server (none when it does not exist).
  Result<std::optional<RRset>> query_rrset(const std::string& owner, const std::string& type) const;

  // ---- updates (dns_update.cpp) ----
  Result<Change> build_change(const ApplyRequest& req) const;
  // Sends the changes of one zone in one message, halving it until each failure is alone, and
  // sets every change's result.
  void send_batch(const std::vector<Change*>& batch) const;
  Result<Reply> send_update(const std::string& zone, const std::vector<Change*>& batch) const;
  Status judge(const Change& c, const Result<Reply>& r) const;
  Status explain_conflict(const Change& c, int rcode) const;
  Status explain_refused(const Change& c) const;

  Settings s_;
  ClientOptions opt_;
};

}  // namespace converge::dns
