// The embedded lab: a simulated target environment (directory, Exchange organisation, DNS
// server, hosts) kept in SQLite. It is the default provider and a product feature for
// rehearsals, so it enforces the rules the real systems enforce: unknown principals, duplicate
// sAMAccountNames, objects in missing containers, MX records to in-zone names without an address
// record, mailboxes on missing or dismounted databases, local groups on domain controllers ...
// are all refused with the error the real system would give.
//
// The lab serves every resource type (its ProviderKind is built where the kinds are listed, from
// all_types()); the rules of each family of types are in lab_rules.h. observe() reads the rows of
// the requested type with one query. Each apply() is one SQLite transaction, so a crash never
// leaves a change half-written. Calls are serialised by a mutex (SQLite has one writer anyway).
// Fault injection for tests comes from the `faults` setting or CONVERGE_LAB_FAULTS:
// "fail_nth=N,fail_type=T,transient_nth=N,latency_ms=N, kill_nth=N,lost_reply_nth=N" (kill_nth
// raises SIGKILL inside the Nth write, before it commits; lost_reply_nth commits the Nth write and
// then answers it with a transient error, as a timeout after the write would).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "engine/api/provider.h"
#include "providers/lab/lab_store.h"

namespace converge::lab {

struct Faults {
  int fail_nth = 0;
  std::string fail_type;
  int transient_nth = 0;
  int latency_ms = 0;
  int kill_nth = 0;
  int lost_reply_nth = 0;
  static Result<Faults> parse(const std::string& spec);
};

class LabProvider : public Provider {
 public:
  static Result<std::unique_ptr<LabProvider>> open(const ProviderConfig& cfg);

  int max_parallel() const override { return 4; }
  ObserveResponse observe(const ObserveRequest& req) override;
  ApplyResponse apply(const ApplyRequest& req) override;

 private:
  Status apply_locked(const ApplyRequest& req);
  // Every stored row of `type`, by identity key: one query.
  Result<std::unordered_map<std::string, AttrMap>> rows_of(const std::string& type);
  std::unique_ptr<LabStore> store_;
  std::mutex mu_;
  Faults faults_;
  int writes_ = 0;
};

// Where the default world file is, and the lab path from flags/env/default.
std::string default_world_path();
// Replaces the lab at `lab_path` with the world described by `world_path`.
Status init_lab(const std::string& lab_path, const std::string& world_path);
// Loads a world file into an open, empty store (inside one transaction).
Status load_world(LabStore& store, const std::string& world_path);

}  // namespace converge::lab
