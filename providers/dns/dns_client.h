// A small DNS client over ldns: one TCP connection per exchange, TSIG signing of every request
// and verification of every answer, zone transfers (AXFR) and RFC 2136 UPDATE messages. ldns
// renders each request once (ldns_pkt2wire) and verifies the answers (ldns_pkt_tsig_verify); the
// request's TSIG record is appended to the rendered bytes here (render()).
//
// Errors: anything on the way (cannot connect, no answer within the timeout, connection closed)
// is Error::Transient, naming the server; an answer the server rejected our key for (BADSIG,
// BADKEY, BADTIME) or whose signature does not verify is Error::Invalid with a message that names
// the key (never the secret); the answer's RCODE is for the caller to judge. Thread-safety: the
// functions share nothing; call them from any number of threads.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Bounds of one zone transfer; a transfer that exceeds one fails (Error::Invalid naming the
// setting), so a server cannot make observation use unbounded memory.
struct TransferLimits {
  uint64_t messages = 1'000'000;
  uint64_t records = 1'000'000;
  uint64_t bytes = uint64_t{256} << 20;  // wire octets, the length prefixes included
};

struct ClientOptions {
  Endpoint server;
  std::optional<TsigKey> key;  // unsigned messages when empty
  // Deadlines (a server that trickles bytes cannot hold a call longer): exchange() finishes
  // within `timeout`, connect, send and the whole answer; axfr() connects and sends within
  // `timeout`, reads each message whole within `timeout` of asking for it, and finishes within
  // `transfer_timeout`.
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds transfer_timeout{150000};
  TransferLimits limits;
  // The Unix time TSIG time windows are checked against; empty = the system clock. Only code
  // that replays recorded messages (tests, fuzz targets) sets it.
  std::function<int64_t()> clock;
};

struct Reply {
  PktPtr pkt;
  int rcode = 0;
};

// A query for (name, type), class IN, no recursion desired.
PktPtr make_query(const std::string& name, ldns_rr_type type);
// An UPDATE for `zone` with empty prerequisite and update sections.
PktPtr make_update(const std::string& zone);

// The fudge of our signatures: the seconds the server's clock may differ from ours.
inline constexpr uint16_t kFudge = 300;

// A request as sent: `msg` rendered once by ldns and, when opt.key is set, signed by appending a
// TSIG record (RFC 8945 4.2; the MAC, computed with libcrypto, covers the message as rendered and
// the TSIG variables of 4.3.3, signed now by opt.clock or the system clock). `mac` is the request
// MAC the answer's signature covers (MAC size, then MAC), empty when unsigned. Error
// kMessageTooLarge when the result does not fit one message over TCP (64 KiB).
struct Outgoing {
  std::vector<uint8_t> wire;
  RdfPtr mac;
};
Result<Outgoing> render(const ClientOptions& opt, const ldns_pkt* msg);

// Renders and signs `msg` (render()), sends it, and returns the verified answer.
Result<Reply> exchange(const ClientOptions& opt, const ldns_pkt* msg);
// The error exchange() gives for a message too large for DNS over TCP (nothing was sent).
inline constexpr const char* kMessageTooLarge = "the DNS message is larger than 64 KiB";

// A complete zone transfer, every message verified (TransferReader, dns_answer.h) and within
// opt.limits. When the server refuses (the first message's RCODE is not NOERROR), `rcode` says
// why and `sets` is empty.
struct Transfer {
  int rcode = 0;
  ZoneRRsets sets;
  uint64_t records = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
};
Result<Transfer> axfr(const ClientOptions& opt, const std::string& zone);

}  // namespace converge::dns
