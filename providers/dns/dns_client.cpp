#include "providers/dns/dns_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "engine/api/names.h"
#include "providers/dns/dns_answer.h"

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

uint16_t random_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<uint16_t>(rng() & 0xFFFF);
}

std::string seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

using Clock = std::chrono::steady_clock;

// When a step of an exchange must be done by, and how its error says that it was not.
struct Deadline {
  Clock::time_point at;
  std::string within;   // "within 5 s", appended to what did not happen
  std::string overall;  // when set, the whole error (a transfer's own deadline passed)
};

Deadline deadline_in(std::chrono::milliseconds ms) {
  return {Clock::now() + ms, "within " + seconds(ms), {}};
}

Error expired(const Deadline& d, const std::string& what) {
  return Error::Transient(d.overall.empty() ? what + " " + d.within : d.overall);
}

// Waits until `fd` is ready for `events`: 1 ready, 0 the deadline passed, -1 an error (errno).
int wait_fd(int fd, short events, const Deadline& d) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(d.at - Clock::now()).count();
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX)));
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

// A connected TCP socket (non-blocking: every wait on it is a poll() bounded by a deadline), or
// a transient error that says why not.
Result<int> connect_tcp(const ClientOptions& opt, const Deadline& d) {
  const Endpoint& ep = opt.server;
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0)
    return Error::Transient("cannot create a socket: " + std::string(std::strerror(errno)));
  Fd guard(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) {
    if (errno != EINPROGRESS)
      return Error::Transient("cannot connect to " + ep.text + ": " + std::strerror(errno));
    int r = wait_fd(fd, POLLOUT, d);
    if (r == 0) return expired(d, "cannot connect to " + ep.text + ": no answer");
    int err = 0;
    socklen_t len = sizeof err;
    if (r < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0)
      return Error::Transient("cannot connect to " + ep.text + ": " + std::strerror(err));
  }
  guard.fd = -1;
  return fd;
}

void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// A name in canonical wire form (RFC 4034 6.2: uncompressed, lower case), as TSIG needs it.
Result<std::vector<uint8_t>> canonical_wire(const std::string& name) {
  ldns_rdf* raw = nullptr;
  if (ldns_str2rdf_dname(&raw, name.c_str()) != LDNS_STATUS_OK || !raw)
    return Error::Invalid("'" + name + "' is not a valid DNS name");
  RdfPtr rdf(raw);
  ldns_dname2canonical(rdf.get());
  return std::vector<uint8_t>(ldns_rdf_data(rdf.get()),
                              ldns_rdf_data(rdf.get()) + ldns_rdf_size(rdf.get()));
}

const EVP_MD* tsig_digest(const std::string& algorithm) {
  if (algorithm == "hmac-md5.sig-alg.reg.int.") return EVP_md5();
  if (algorithm == "hmac-sha1.") return EVP_sha1();
  if (algorithm == "hmac-sha256.") return EVP_sha256();
  if (algorithm == "hmac-sha512.") return EVP_sha512();
  return nullptr;
}

// Appends the TSIG record of RFC 8945 4.2 to the rendered request in `out`: its MAC covers the
// message as it stands and the TSIG variables (4.3.3), and `mac` receives it as the answer's
// signature will cover it (MAC size, then MAC).
Status append_tsig(const ClientOptions& opt, std::vector<uint8_t>& out, RdfPtr& mac) {
  const TsigKey& key = *opt.key;
  auto name = canonical_wire(key.name);
  auto alg = canonical_wire(key.algorithm);
  const EVP_MD* md = tsig_digest(key.algorithm);
  ldns_rdf* raw = nullptr;
  bool secret_ok = ldns_str2rdf_b64(&raw, key.secret.c_str()) == LDNS_STATUS_OK && raw;
  RdfPtr secret(raw);
  if (!name.ok() || !alg.ok() || !md || !secret_ok)
    return Error::Invalid("cannot sign with TSIG key '" + key.name + "'",
                          "check its name, algorithm and secret");
  int64_t now = opt.clock ? opt.clock() : static_cast<int64_t>(std::time(nullptr));
  std::vector<uint8_t> times;  // time signed (48 bits), fudge
  for (int shift = 40; shift >= 0; shift -= 8) times.push_back(static_cast<uint8_t>(now >> shift));
  put16(times, kFudge);

  std::vector<uint8_t> digest = out;
  digest.insert(digest.end(), name->begin(), name->end());
  put16(digest, LDNS_RR_CLASS_ANY);
  digest.insert(digest.end(), 4, 0);  // TTL
  digest.insert(digest.end(), alg->begin(), alg->end());
  digest.insert(digest.end(), times.begin(), times.end());
  digest.insert(digest.end(), 4, 0);  // error, other length
  uint8_t code[EVP_MAX_MD_SIZE];
  unsigned code_len = 0;
  if (!HMAC(md, ldns_rdf_data(secret.get()), static_cast<int>(ldns_rdf_size(secret.get())),
            digest.data(), digest.size(), code, &code_len))
    return Error::Internal("cannot compute the TSIG MAC with key '" + key.name + "'");

  std::vector<uint8_t> mac_field;
  put16(mac_field, code_len);
  mac_field.insert(mac_field.end(), code, code + code_len);
  mac.reset(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, mac_field.size(), mac_field.data()));

  out.insert(out.end(), name->begin(), name->end());
  put16(out, LDNS_RR_TYPE_TSIG);
  put16(out, LDNS_RR_CLASS_ANY);
  out.insert(out.end(), 4, 0);  // TTL
  put16(out, alg->size() + times.size() + mac_field.size() + 6);
  out.insert(out.end(), alg->begin(), alg->end());
  out.insert(out.end(), times.begin(), times.end());
  out.insert(out.end(), mac_field.begin(), mac_field.end());
  out.insert(out.end(), out.begin(), out.begin() + 2);  // original ID
  out.insert(out.end(), 4, 0);                          // error, other length
  unsigned arcount = (out[10] << 8 | out[11]) + 1u;
  out[10] = static_cast<uint8_t>(arcount >> 8);
  out[11] = static_cast<uint8_t>(arcount);
  return {};
}

// `wire` after a two-octet length (RFC 1035 4.2.2), by the deadline. MSG_NOSIGNAL: a server
// closing the connection must not kill the process.
Status send_wire(int fd, const ClientOptions& opt, const std::vector<uint8_t>& wire,
                 const Deadline& d) {
  std::string out;
  out.reserve(wire.size() + 2);
  out += static_cast<char>(wire.size() >> 8);
  out += static_cast<char>(wire.size() & 0xFF);
  out.append(reinterpret_cast<const char*>(wire.data()), wire.size());
  for (size_t done = 0; done < out.size();) {
    ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = wait_fd(fd, POLLOUT, d);
      if (r == 0) return expired(d, "cannot send to " + opt.server.text + ": it took nothing");
      if (r < 0)
        return Error::Transient("cannot send to " + opt.server.text + ": " + std::strerror(errno));
      continue;
    }
    if (n <= 0)
      return Error::Transient("cannot send to " + opt.server.text + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

// One length-prefixed message from the stream, whole by the deadline: a server that sends a
// byte now and then cannot hold the call longer than that.
Result<std::vector<uint8_t>> read_message(int fd, const ClientOptions& opt, const Deadline& d) {
  std::vector<uint8_t> buf(2);
  size_t got = 0;
  bool body = false;  // the length has been read; buf is the message
  for (;;) {
    if (got == buf.size()) {
      if (body) return buf;
      buf.assign(static_cast<size_t>(buf[0]) << 8 | buf[1], 0);
      got = 0;
      body = true;
      continue;
    }
    int r = wait_fd(fd, POLLIN, d);
    if (r == 0) {
      if (!body && got == 0) return expired(d, "no answer from " + opt.server.text);
      return expired(d, "incomplete answer from " + opt.server.text + ": " + std::to_string(got) +
                            " of " + std::to_string(buf.size()) +
                            (body ? " octets arrived" : " octets of its length arrived"));
    }
    if (r < 0)
      return Error::Transient("cannot read from " + opt.server.text + ": " + std::strerror(errno));
    ssize_t n = ::recv(fd, buf.data() + got, buf.size() - got, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0)
      return Error::Transient("cannot read from " + opt.server.text + ": " + std::strerror(errno));
    if (n == 0)
      return Error::Transient("connection to " + opt.server.text +
                              " closed before the answer was complete");
    got += static_cast<size_t>(n);
  }
}

}  // namespace

Result<Outgoing> render(const ClientOptions& opt, const ldns_pkt* msg) {
  uint8_t* raw = nullptr;
  size_t size = 0;
  ldns_status st = ldns_pkt2wire(&raw, msg, &size);
  std::unique_ptr<uint8_t, decltype(&std::free)> rendered(raw, &std::free);
  if (st != LDNS_STATUS_OK)
    return Error::Internal(std::string("cannot encode the DNS message: ") +
                           ldns_get_errorstr_by_id(st));
  Outgoing o;
  o.wire.assign(raw, raw + size);
  if (opt.key) CONVERGE_TRY(append_tsig(opt, o.wire, o.mac));
  if (o.wire.size() > 65535) return Error::Invalid(kMessageTooLarge);
  return o;
}

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

Result<Reply> exchange(const ClientOptions& opt, const ldns_pkt* msg) {
  auto out = render(opt, msg);
  if (!out.ok()) return out.error();
  Deadline d = deadline_in(opt.timeout);
  auto fd = connect_tcp(opt, d);
  if (!fd.ok()) return fd.error();
  Fd guard(*fd);
  CONVERGE_TRY(send_wire(*fd, opt, out->wire, d));
  auto wire = read_message(*fd, opt, d);
  if (!wire.ok()) return wire.error();
  auto pkt =
      verify_answer(opt, wire->data(), wire->size(), ldns_pkt_id(msg), out->mac.get(), false);
  if (!pkt.ok()) return pkt.error();
  Reply r;
  r.rcode = ldns_pkt_get_rcode(pkt->get());
  r.pkt = std::move(*pkt);
  return r;
}

Result<Transfer> axfr(const ClientOptions& opt, const std::string& zone) {
  PktPtr q = make_query(zone, LDNS_RR_TYPE_AXFR);
  if (!q) return Error::Invalid("zone '" + zone + "' is not a valid DNS name");
  auto out = render(opt, q.get());
  if (!out.ok()) return out.error();
  const Clock::time_point end = Clock::now() + opt.transfer_timeout;
  // Each step within `timeout`, all of them within `transfer_timeout`.
  auto step = [&] {
    Deadline d = deadline_in(opt.timeout);
    if (d.at > end) {
      d.at = end;
      d.overall = "the transfer from " + opt.server.text + " did not finish within " +
                  seconds(opt.transfer_timeout) + " (transfer_timeout)";
    }
    return d;
  };
  auto fd = connect_tcp(opt, step());
  if (!fd.ok()) return fd.error();
  Fd guard(*fd);
  CONVERGE_TRY(send_wire(*fd, opt, out->wire, step()));
  TransferReader reader(opt, zone, ldns_pkt_id(q.get()), out->mac.get());
  while (!reader.done()) {
    auto wire = read_message(*fd, opt, step());
    if (!wire.ok()) return wire.error();
    CONVERGE_TRY(reader.add(wire->data(), wire->size()));
  }
  return reader.take();
}

}  // namespace converge::dns
