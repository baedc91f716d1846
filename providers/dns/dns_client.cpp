#include "providers/dns/dns_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>

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
  // Blocking from here on (ldns writes with one send), bounded by the timeout.
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv = to_timeval(opt.timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  guard.fd = -1;
  return fd;
}

// Blocks SIGPIPE in this thread while it lives, and discards one raised meanwhile (ldns sends
// without MSG_NOSIGNAL).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~SigpipeBlock() {
    if (!blocked_) return;
    if (!was_pending_) {
      timespec zero{0, 0};
      int saved = errno;
      while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      }
      errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false, blocked_ = false;
};

// Name compression for rendering a message (ldns_pkt2buffer_wire_compress). ldns keeps the names
// already written in a red-black tree ordered by ldns_dname_compare, the canonical DNS order (label
// by label from the right, each byte lower-cased), and that comparison dominates the rendering of
// an UPDATE with thousands of names. Any total order with the same equality (equal length, equal
// bytes ignoring ASCII case: label lengths are below 64 and never letters) finds the same earlier
// names, so the bytes are exactly those ldns_pkt_tsig_sign() rendered and signed; this order
// compares the length, then the bytes.
int same_name_order(const void* a, const void* b) {
  const auto* x = static_cast<const ldns_rdf*>(a);
  const auto* y = static_cast<const ldns_rdf*>(b);
  size_t nx = ldns_rdf_size(x), ny = ldns_rdf_size(y);
  if (nx != ny) return nx < ny ? -1 : 1;
  const uint8_t* p = ldns_rdf_data(x);
  const uint8_t* q = ldns_rdf_data(y);
  auto lower = [](uint8_t b) { return b >= 'A' && b <= 'Z' ? static_cast<uint8_t>(b + 32) : b; };
  for (size_t i = 0; i < nx; ++i) {
    uint8_t c = lower(p[i]), d = lower(q[i]);
    if (c != d) return c < d ? -1 : 1;
  }
  return 0;
}

struct CompressionTree {
  ldns_rbtree_t* tree;
  explicit CompressionTree(int (*order)(const void*, const void*) = same_name_order)
      : tree(ldns_rbtree_create(order)) {}
  CompressionTree(const CompressionTree&) = delete;
  CompressionTree& operator=(const CompressionTree&) = delete;
  ~CompressionTree() {
    if (!tree) return;
    ldns_traverse_postorder(
        tree,
        [](ldns_rbnode_t* node, void*) {
          ldns_rdf_deep_free(static_cast<ldns_rdf*>(const_cast<void*>(node->key)));
          std::free(node);
        },
        nullptr);
    ldns_rbtree_free(tree);
  }
};

}  // namespace

Result<BufferPtr> render(const ldns_pkt* msg) {
  BufferPtr buf(ldns_buffer_new(LDNS_MAX_PACKETLEN));
  if (!buf) return Error::Internal("out of memory");
  ldns_status st = ldns_pkt2buffer_wire(buf.get(), msg);  // the definition below
  if (st != LDNS_STATUS_OK)
    return Error::Internal(std::string("cannot encode the DNS message: ") +
                           ldns_get_errorstr_by_id(st));
  if (ldns_buffer_position(buf.get()) > 65535) return Error::Invalid(kMessageTooLarge);
  return buf;
}

Result<BufferPtr> render_reference(const ldns_pkt* msg) {
  BufferPtr buf(ldns_buffer_new(LDNS_MAX_PACKETLEN));
  CompressionTree names(ldns_dname_compare_v);
  if (!buf || !names.tree) return Error::Internal("out of memory");
  ldns_status st = ldns_pkt2buffer_wire_compress(buf.get(), msg, names.tree);
  if (st != LDNS_STATUS_OK) return Error::Internal(ldns_get_errorstr_by_id(st));
  return buf;
}

namespace {

Status send_wire(int fd, const ClientOptions& opt, ldns_pkt* msg) {
  auto rendered = render(msg);
  if (!rendered.ok()) return rendered.error();
  BufferPtr buf = std::move(*rendered);
  ssize_t sent;
  int err;
  {
    SigpipeBlock guard;  // a server closing the connection must not kill the process
    sent = ldns_tcp_send_query(buf.get(), fd, &opt.server.addr, opt.server.len);
    err = errno;
  }
  if (sent == 0)
    return Error::Transient("cannot send to " + opt.server.text + ": " + std::strerror(err));
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
    alg = canonical_name(a);
    std::free(a);
  }
  if (alg != canonical_name(key.algorithm))
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
  if (ldns_str2rdf_dname(&owner, canonical_name(name).c_str()) != LDNS_STATUS_OK) return nullptr;
  PktPtr q(ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, 0));
  if (q) ldns_pkt_set_id(q.get(), random_id());
  return q;
}

PktPtr make_update(const std::string& zone) {
  ldns_rdf* owner = nullptr;
  if (ldns_str2rdf_dname(&owner, canonical_name(zone).c_str()) != LDNS_STATUS_OK) return nullptr;
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
  PktPtr previous;
  while (soa_seen < 2) {
    size_t size = 0;
    auto wire = read_wire(*fd, opt, &size);
    if (!wire.ok()) return wire.error();
    bool first = t.messages == 0;
    // The previous message is freed only now, right before ldns parses this one: its thousands
    // of small blocks then serve the new message's from the allocator's fast path, rather than
    // being merged into the general pool by the large allocations in between.
    previous.reset();
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
      t.sets.add(rr);
      ++t.records;
    }
    previous = std::move(*pkt);
  }
  return t;
}

}  // namespace converge::dns

// ldns renders a message for its TSIG signature too (ldns_pkt_tsig_sign -> ldns_pkt2wire ->
// ldns_pkt2buffer_wire), through the compression tree ordered by ldns_dname_compare that costs
// more than everything else in sending a large UPDATE. This definition takes the place of
// libldns's own for every caller in the process, libldns's calls included (they go through its
// PLT, and the executable's definition comes first): it does what libldns's does — a tree,
// ldns_pkt2buffer_wire_compress, free the tree — with the cheaper order of the same equality, so
// the bytes are the same. A unit test and the fuzz target compare them with libldns's tree.
extern "C" ldns_status ldns_pkt2buffer_wire(ldns_buffer* buffer, const ldns_pkt* packet) {
  converge::dns::CompressionTree names;
  if (!names.tree) return LDNS_STATUS_MEM_ERR;
  return ldns_pkt2buffer_wire_compress(buffer, packet, names.tree);
}
