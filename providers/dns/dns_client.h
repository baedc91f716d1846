// A small DNS client over ldns: one TCP connection per exchange, TSIG signing of every request
// and verification of every answer, zone transfers (AXFR) and RFC 2136 UPDATE messages.
//
// Errors: anything on the way (cannot connect, no answer within the timeout, connection closed)
// is Error::Transient; an answer the server rejected our key for (BADSIG, BADKEY, BADTIME) or
// whose signature does not verify is Error::Invalid with a message that names the key (never the
// secret); the answer's RCODE is for the caller to judge.
// Thread-safety: the functions share nothing; call them from any number of threads.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

#include "providers/dns/dns_values.h"

namespace converge::dns {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // host:port as configured, for messages
};
// Resolves host:port (numeric addresses without a lookup).
Result<Endpoint> resolve_endpoint(const ServerAddress& server);

struct ClientOptions {
  Endpoint server;
  std::optional<TsigKey> key;  // unsigned messages when empty
  std::chrono::milliseconds timeout{5000};
};

struct Reply {
  PktPtr pkt;
  int rcode = 0;
};

// A query for (name, type), class IN, no recursion desired.
PktPtr make_query(const std::string& name, ldns_rr_type type);
// An UPDATE for `zone` with empty prerequisite and update sections.
PktPtr make_update(const std::string& zone);

// `msg` in wire form, names compressed: byte for byte what libldns's ldns_pkt2buffer_wire() gives
// (render_reference), with a cheaper order of the names written so far. This provider defines
// ldns_pkt2buffer_wire() so (dns_client.cpp), for ldns_pkt_tsig_sign() too. kMessageTooLarge
// beyond 64 KiB.
Result<BufferPtr> render(const ldns_pkt* msg);
// What libldns's own ldns_pkt2buffer_wire() gives: names compressed through a tree ordered by
// ldns_dname_compare. For tests.
Result<BufferPtr> render_reference(const ldns_pkt* msg);

// Signs `msg` (when a key is configured), sends it, and returns the verified answer.
Result<Reply> exchange(const ClientOptions& opt, ldns_pkt* msg);
// The error exchange() gives for a message too large for DNS over TCP (nothing was sent).
inline constexpr const char* kMessageTooLarge = "the DNS message is larger than 64 KiB";

// A complete zone transfer, every message verified. When the server refuses (the first message's
// RCODE is not NOERROR), `rcode` says why and `sets` is empty.
struct Transfer {
  int rcode = 0;
  ZoneIndex sets;
  size_t records = 0;
  size_t messages = 0;
};
Result<Transfer> axfr(const ClientOptions& opt, const std::string& zone);

}  // namespace converge::dns
