// A small DNS client over ldns: one TCP connection per exchange, TSIG signing of every request
// and verification of every answer, zone transfers (AXFR) and RFC 2136 UPDATE messages. ldns
// renders and signs the messages (ldns_pkt2wire, ldns_pkt_tsig_sign); this file moves the bytes.
//
// Errors: anything on the way (cannot connect, no answer within the timeout, connection closed)
// is Error::Transient; an answer the server rejected our key for (BADSIG, BADKEY, BADTIME) or
// whose signature does not verify is Error::Invalid with a message that names the key (never the
// secret); the answer's RCODE is for the caller to judge.
// Thread-safety: the functions share nothing; call them from any number of threads.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "providers/dns/dns_key_file.h"
#include "providers/dns/dns_rdata.h"
#include "providers/dns/dns_zone_index.h"

namespace converge::dns {

// "host", "host:port", "[v6]:port" or a bare IPv6 address; port defaults to 53.
struct ServerAddress {
  std::string host;
  uint16_t port = 53;
  std::string str() const;
};
Result<ServerAddress> parse_server(std::string_view text);

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

// Signs `msg` (when a key is configured), sends it, and returns the verified answer.
Result<Reply> exchange(const ClientOptions& opt, ldns_pkt* msg);
// The error exchange() gives for a message too large for DNS over TCP (nothing was sent).
inline constexpr const char* kMessageTooLarge = "the DNS message is larger than 64 KiB";

// A complete zone transfer, every message verified. When the server refuses (the first message's
// RCODE is not NOERROR), `rcode` says why and `sets` is empty.
struct Transfer {
  int rcode = 0;
  ZoneRRsets sets;
  size_t records = 0;
  size_t messages = 0;
};
Result<Transfer> axfr(const ClientOptions& opt, const std::string& zone);

}  // namespace converge::dns
