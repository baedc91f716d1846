// What a server answers, checked before anything of it is believed: one answer to one request
// (verify_answer) and the message stream of a zone transfer (TransferReader). Pure: no sockets,
// so the fuzz target and the unit tests feed recorded or crafted bytes through exactly the code
// a transfer runs.
//
// Errors: a message that does not parse or does not answer the request is Error::Internal; a
// missing, rejected or invalid signature is Error::Invalid naming the key (never the secret); a
// transfer over one of opt.limits is Error::Invalid naming the setting that raises it.
// Thread-safety: verify_answer is reentrant; a TransferReader belongs to one thread.
#pragma once

#include <cstdint>
#include <string>

#include "providers/dns/dns_client.h"

namespace converge::dns {

// Parses an answer and checks that it answers request `id` and, when opt.key is set, carries a
// valid TSIG signature from within its time window. `mac` is the request's MAC for a first
// message; for a later message of a transfer (`later`) it is the previous message's MAC and
// the signature covers the timers only (RFC 8945 5.3.1).
Result<PktPtr> verify_answer(const ClientOptions& opt, const uint8_t* wire, size_t size,
                             uint16_t id, const ldns_rdf* mac, bool later);

// The answer messages of one AXFR, checked and decoded one at a time as they arrive. With a key,
// every message must be signed and verify against the chain of MACs that starts at the request
// (ldns checks message by message, so the unsigned runs RFC 8945 allows cannot be verified and
// are rejected). Once add() fails, the transfer stays failed: every later add() fails too.
class TransferReader {
 public:
  // `request` is the AXFR query as sent (signed already when opt.key is set); `opt` must outlive
  // the reader.
  TransferReader(const ClientOptions& opt, std::string zone, const ldns_pkt* request);
  // The same for a request sent as `id` with request MAC `mac` (Outgoing::mac; null if unsigned).
  TransferReader(const ClientOptions& opt, std::string zone, uint16_t id, const ldns_rdf* mac);

  // The next message, in wire form without its length prefix.
  Status add(const uint8_t* wire, size_t size);
  // The closing SOA has arrived, or the server refused the transfer (Transfer::rcode).
  bool done() const { return done_; }
  const Transfer& transfer() const { return t_; }
  Transfer take() { return std::move(t_); }

 private:
  Status check(const uint8_t* wire, size_t size);

  const ClientOptions& opt_;
  std::string zone_;
  uint16_t id_ = 0;
  RdfPtr mac_;
  Transfer t_;
  int soa_seen_ = 0;
  bool done_ = false;
  std::optional<Error> failed_;
};

}  // namespace converge::dns
