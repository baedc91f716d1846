// The dns provider: dns_zone and dns_record on any RFC 2136 server (BIND, Knot, PowerDNS, Windows
// DNS with nonsecure updates), over ldns.
//
//   [provider.dns]
//   type = "dns"
//   server = "127.0.0.1:53530"             # host:port; { env = "VAR" } works for every setting
//   tsig_key_file = "tsig.key"             # BIND key file (tsig-keygen); relative to the manifest
//   # or: tsig_name = "k", tsig_algorithm = "hmac-sha256", tsig_secret = { env = "TSIG_SECRET" }
//   # allow_unsigned = true                # only for a server that takes unsigned updates
//   # timeout = 5                          # seconds per exchange;  attempts = 3 (observe retries)
//   # transfer_timeout = 150               # seconds per zone transfer (default 30 x timeout)
//   # max_transfer_records = 1000000       # limits of one zone transfer; exceeding one is an
//   # max_transfer_messages = 1000000      # error naming the setting
//   # max_transfer_bytes = 268435456
//
// Deadlines: an exchange (SOA query, UPDATE, per-RRset query) connects, sends and reads its whole
// answer within `timeout`; a transfer reads each message whole within `timeout` and finishes
// within `transfer_timeout`. A server that answers slowly or trickles bytes is a transient error
// naming it (observation tries `attempts` times; the engine retries changes).
// Observation: one TSIG-signed AXFR per zone per observe() call, shared by every record of that
// zone; when the server refuses transfers, one query per RRset (and one note saying so). A zone
// is a check here (zones cannot be created over RFC 2136): a missing one is reported with a note
// saying how to create it. Changes: RFC 2136 UPDATEs whose prerequisites make a concurrent change
// fail (Error::Conflict "changed since planned, plan again") instead of being overwritten; a
// batch the engine hands over goes out per zone in as few UPDATE messages as fit.
// The TSIG secret never appears in any output, log line, error or plan.
#pragma once

#include <memory>

#include "engine/api/provider.h"

namespace converge::dns {

// What [provider.NAME] type = "dns" serves and which settings are secrets.
ProviderKind kind();
Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg);

}  // namespace converge::dns
