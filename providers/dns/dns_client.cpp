#include "providers/dns/dns_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>

#include "engine/api/names.h"

namespace converge::dns {
namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct WireFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using WirePtr = std::unique_ptr<uint8_t, WireFree>;

uint16_t random_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<uint16_t>(rng() & 0xFFFF);
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

// A connected TCP socket, or a transient error that says why not.
Result<int> connect_tcp(const ClientOptions& opt) {
  const Endpoint& ep = opt.server;
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0)
    return Error::Transient("cannot create a socket: " + std::string(std::strerror(errno)));
  Fd guard(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) {
    if (errno != EINPROGRESS)
      return Error::Transient("cannot connect to " + ep.text + ": " + std::strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    int r = ::poll(&p, 1, static_cast<int>(opt.timeout.count()));
    if (r == 0)
      return Error::Transient("cannot connect to " + ep.text + ": no answer within " +
                              seconds(opt.timeout));
    int err = 0;
    socklen_t len = sizeof err;
    if (r < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0)
      return Error::Transient("cannot connect to " + ep.text + ": " + std::strerror(err));
  }
  // Blocking from here on, bounded by the timeout.
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv = to_timeval(opt.timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  guard.fd = -1;
  return fd;
}

// Room a TSIG record takes in a message: key name (at most 255 octets), algorithm name, the
// fixed fields and a MAC of at most 64 octets (HMAC-SHA512), rounded up.
constexpr size_t kTsigReserve = 512;

// `msg` in wire form as ldns renders it, when that and `reserve` more octets fit in one message
// over TCP; kMessageTooLarge otherwise (ldns must not sign such a message: it asserts).
Result<WirePtr> to_wire(const ldns_pkt* msg, size_t* size, size_t reserve) {
  uint8_t* raw = nullptr;
  ldns_status st = ldns_pkt2wire(&raw, msg, size);
  WirePtr wire(raw);
  if (st != LDNS_STATUS_OK)
    return Error::Internal(std::string("cannot encode the DNS message: ") +
                           ldns_get_errorstr_by_id(st));
  if (*size + reserve > 65535) return Error::Invalid(kMessageTooLarge);
  return wire;
}

// `msg` after a two-octet length (RFC 1035 4.2.2). MSG_NOSIGNAL: a server closing the
// connection must not kill the process.
Status send_wire(int fd, const ClientOptions& opt, const ldns_pkt* msg) {
  size_t size = 0;
  auto wire = to_wire(msg, &size, 0);
  if (!wire.ok()) return wire.error();
  std::string out;
  out.reserve(size + 2);
  out += static_cast<char>(size >> 8);
  out += static_cast<char>(size & 0xFF);
  out.append(reinterpret_cast<const char*>(wire->get()), size);
  for (size_t done = 0; done < out.size();) {
    ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Error::Transient("cannot send to " + opt.server.text + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

// One length-prefixed message from the stream.
Result<WirePtr> read_wire(int fd, const ClientOptions& opt, size_t* size) {
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(opt.timeout.count()));
  if (r == 0)
    return Error::Transient("no answer from " + opt.server.text + " within " +
                            seconds(opt.timeout));
  if (r < 0)
    return Error::Transient("cannot read from " + opt.server.text + ": " + std::strerror(errno));
  WirePtr wire(ldns_tcp_read_wire_timeout(fd, size, to_timeval(opt.timeout)));
  if (!wire || *size == 0)
    return Error::Transient("connection to " + opt.server.text +
                            " closed before the answer was complete");
  return wire;
}

// Parses an answer and checks that it answers `query` and carries a valid signature.
// `mac` is the request MAC (first message) or the previous message's MAC (later AXFR messages).
Result<PktPtr> parse_answer(const ClientOptions& opt, const uint8_t* wire, size_t size, uint16_t id,
                            const ldns_rdf* mac, bool timers_only) {
  ldns_pkt* raw = nullptr;
  ldns_status st = ldns_wire2pkt(&raw, wire, size);
  PktPtr pkt(raw);
  if (st != LDNS_STATUS_OK || !pkt)
    return Error::Internal("malformed answer from " + opt.server.text + ": " +
                           ldns_get_errorstr_by_id(st));
  if (ldns_pkt_id(pkt.get()) != id || !ldns_pkt_qr(pkt.get()))
    return Error::Internal("answer from " + opt.server.text + " does not match the request");
  if (!opt.key) return pkt;
  const TsigKey& key = *opt.key;
  int rcode = ldns_pkt_get_rcode(pkt.get());
  ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
  if (!tsig) {
    if (timers_only) return pkt;  // RFC 8945: later messages of a transfer may be unsigned
    return Error::Invalid("the server answered " + rcode_name(rcode) + " without a TSIG signature",
                          "check that key '" + key.name + "' is configured on the server");
  }
  if (ldns_rr_rd_count(tsig) < 7)
    return Error::Internal("malformed TSIG record in the answer from " + opt.server.text);
  int tsig_error =
      ldns_rdf_size(ldns_rr_rdf(tsig, 5)) == 2 ? ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)) : 0;
  if (tsig_error != 0) {
    std::string why = tsig_error == 16   ? "the secret does not match the server's"
                      : tsig_error == 17 ? "the server does not know this key name"
                      : tsig_error == 18 ? "the clocks differ by more than the allowed fudge"
                                         : "the server did not accept the signature";
    return Error::Invalid("the server rejected TSIG key '" + key.name +
                              "': " + tsig_error_name(tsig_error) + " (" + rcode_name(rcode) + ")",
                          why);
  }
  std::string alg;
  if (char* a = ldns_rdf2str(ldns_rr_rdf(tsig, 0))) {
    alg = canonical_dns_name(a);
    std::free(a);
  }
  if (alg != canonical_dns_name(key.algorithm))
    return Error::Invalid("the answer is signed with algorithm " + alg + ", not " + key.algorithm);
  bool ok = timers_only ? ldns_pkt_tsig_verify_next(pkt.get(), wire, size, key.name.c_str(),
                                                    key.secret.c_str(), mac, 1)
                        : ldns_pkt_tsig_verify(pkt.get(), wire, size, key.name.c_str(),
                                               key.secret.c_str(), mac);
  if (!ok)
    return Error::Invalid(
        "the TSIG signature of the answer from " + opt.server.text + " does not verify",
        "check the secret of key '" + key.name + "'");
  // A valid signature from outside the time window is a replay (RFC 8945 5.2.3).
  const ldns_rdf* when = ldns_rr_rdf(tsig, 1);
  const ldns_rdf* fudge = ldns_rr_rdf(tsig, 2);
  if (ldns_rdf_size(when) == 6 && ldns_rdf_size(fudge) == 2) {
    const uint8_t* d = ldns_rdf_data(when);
    int64_t signed_at = 0;
    for (int i = 0; i < 6; ++i) signed_at = (signed_at << 8) | d[i];
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    int64_t skew = now > signed_at ? now - signed_at : signed_at - now;
    if (skew > ldns_rdf2native_int16(fudge))
      return Error::Invalid("the answer's TSIG signature is " + std::to_string(skew) +
                                " s away from this host's clock",
                            "synchronise the clocks (NTP)");
  }
  return pkt;
}

Status sign(const ClientOptions& opt, ldns_pkt* msg) {
  if (!opt.key) return {};
  size_t size = 0;
  if (auto fits = to_wire(msg, &size, kTsigReserve); !fits.ok()) return fits.error();
  ldns_status st = ldns_pkt_tsig_sign(msg, opt.key->name.c_str(), opt.key->secret.c_str(), 300,
                                      opt.key->algorithm.c_str(), nullptr);
  if (st != LDNS_STATUS_OK)
    return Error::Invalid("cannot sign with TSIG key '" + opt.key->name +
                          "': " + ldns_get_errorstr_by_id(st));
  return {};
}

RdfPtr request_mac(ldns_pkt* msg) {
  ldns_rr* t = ldns_pkt_tsig(msg);
  if (!t || ldns_rr_rd_count(t) < 4) return nullptr;
  return RdfPtr(ldns_rdf_clone(ldns_rr_rdf(t, 3)));
}

}  // namespace

std::string ServerAddress::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ServerAddress> parse_server(std::string_view text) {
  std::string s = trim(text);
  auto bad = [&](const std::string& why) {
    return Error::Invalid("server '" + s + "' " + why,
                          "write host:port, e.g. 127.0.0.1:53530 or [::1]:53");
  };
  if (s.empty()) return bad("is empty");
  ServerAddress a;
  std::string port;
  if (s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) return bad("has an unclosed '['");
    a.host = s.substr(1, close - 1);
    std::string rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("has text after ']'");
      port = rest.substr(1);
      if (port.empty()) return bad("has an empty port");
    }
  } else if (std::count(s.begin(), s.end(), ':') > 1) {
    a.host = s;  // bare IPv6 address
  } else if (auto colon = s.find(':'); colon != std::string::npos) {
    a.host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return bad("has an empty port");
  } else {
    a.host = s;
  }
  if (a.host.empty()) return bad("has no host");
  for (char c : a.host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@')
      return bad("is not a host");
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("has a bad port");
    long p = std::stol(port);
    if (p < 1 || p > 65535) return bad("has a port out of range");
    a.port = static_cast<uint16_t>(p);
  }
  return a;
}

Result<Endpoint> resolve_endpoint(const ServerAddress& server) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(server.port);
  int rc = ::getaddrinfo(server.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res)
    return Error::Invalid("cannot resolve server '" + server.host + "': " + gai_strerror(rc),
                          "write an IP address, e.g. 127.0.0.1:53530");
  Endpoint ep;
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.len = res->ai_addrlen;
  ep.text = server.str();
  ::freeaddrinfo(res);
  return ep;
}

PktPtr make_query(const std::string& name, ldns_rr_type type) {
  ldns_rdf* owner = nullptr;
  if (ldns_str2rdf_dname(&owner, canonical_dns_name(name).c_str()) != LDNS_STATUS_OK)
    return nullptr;
  PktPtr q(ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, 0));
  if (q) ldns_pkt_set_id(q.get(), random_id());
  return q;
}

PktPtr make_update(const std::string& zone) {
  ldns_rdf* owner = nullptr;
  if (ldns_str2rdf_dname(&owner, canonical_dns_name(zone).c_str()) != LDNS_STATUS_OK)
    return nullptr;
  PktPtr u(ldns_pkt_query_new(owner, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0));
  if (!u) return nullptr;
  ldns_pkt_set_opcode(u.get(), LDNS_PACKET_UPDATE);
  ldns_pkt_set_id(u.get(), random_id());
  return u;
}

Result<Reply> exchange(const ClientOptions& opt, ldns_pkt* msg) {
  CONVERGE_TRY(sign(opt, msg));
  RdfPtr mac = request_mac(msg);
  auto fd = connect_tcp(opt);
  if (!fd.ok()) return fd.error();
  Fd guard(*fd);
  CONVERGE_TRY(send_wire(*fd, opt, msg));
  size_t size = 0;
  auto wire = read_wire(*fd, opt, &size);
  if (!wire.ok()) return wire.error();
  auto pkt = parse_answer(opt, wire->get(), size, ldns_pkt_id(msg), mac.get(), false);
  if (!pkt.ok()) return pkt.error();
  Reply r;
  r.rcode = ldns_pkt_get_rcode(pkt->get());
  r.pkt = std::move(*pkt);
  return r;
}

Result<Transfer> axfr(const ClientOptions& opt, const std::string& zone) {
  PktPtr q = make_query(zone, LDNS_RR_TYPE_AXFR);
  if (!q) return Error::Invalid("zone '" + zone + "' is not a valid DNS name");
  CONVERGE_TRY(sign(opt, q.get()));
  RdfPtr mac = request_mac(q.get());
  auto fd = connect_tcp(opt);
  if (!fd.ok()) return fd.error();
  Fd guard(*fd);
  CONVERGE_TRY(send_wire(*fd, opt, q.get()));
  Transfer t;
  int soa_seen = 0;
  bool signed_any = false;
  while (soa_seen < 2) {
    size_t size = 0;
    auto wire = read_wire(*fd, opt, &size);
    if (!wire.ok()) return wire.error();
    bool first = t.messages == 0;
    auto pkt = parse_answer(opt, wire->get(), size, ldns_pkt_id(q.get()), mac.get(), !first);
    if (!pkt.ok()) return pkt.error();
    ++t.messages;
    if (ldns_pkt_tsig(pkt->get())) {
      mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt->get()), 3)));
      signed_any = true;
    } else if (opt.key && signed_any) {
      // ldns verifies message by message; a run of unsigned messages cannot be checked.
      return Error::Invalid("the transfer of " + zone +
                            " contains unsigned messages; cannot verify it");
    }
    int rcode = ldns_pkt_get_rcode(pkt->get());
    if (first && rcode != LDNS_RCODE_NOERROR) {
      t.rcode = rcode;
      return t;
    }
    if (rcode != LDNS_RCODE_NOERROR)
      return Error::Transient("the transfer of " + zone + " failed midway: " + rcode_name(rcode));
    const ldns_rr_list* an = ldns_pkt_answer(pkt->get());
    size_t n = an ? ldns_rr_list_rr_count(an) : 0;
    if (first && n == 0) return Error::Internal("empty first message in the transfer of " + zone);
    for (size_t i = 0; i < n && soa_seen < 2; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(an, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
        ++soa_seen;
        if (soa_seen == 2) break;
      } else if (soa_seen == 0) {
        return Error::Internal("the transfer of " + zone + " does not start with its SOA");
      }
      add_record(t.sets, rr);
      ++t.records;
    }
  }
  return t;
}

}  // namespace converge::dns
