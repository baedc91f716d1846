// Test helpers for the dns provider: resource views like the engine builds them, a provider
// configuration, and a scripted DNS server on 127.0.0.1 (TCP, TSIG-signing its answers) for the
// cases a real server cannot be made to produce on demand (refused transfers, SERVFAIL, silence).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/names.h"
#include "engine/api/provider.h"
#include "providers/dns/dns_key_file.h"
#include "providers/dns/dns_provider.h"
#include "providers/dns/dns_rdata.h"

namespace converge::dns::test {

// A resource as the engine hands it to a provider: defaults applied, computed attributes derived.
struct Res {
  std::string id;
  const TypeSpec* type = nullptr;
  AttrMap attrs;
  ResourceView view() const { return {&id, type, &attrs}; }
};

inline Res record(const std::string& name, const std::string& zone, const std::string& type,
                  std::vector<std::string> values, int64_t ttl = 3600) {
  Res r;
  r.id = "dns_record." + name;
  r.type = find_type("dns_record");
  r.attrs = {{"zone", Value::Str(zone)},
             {"name", Value::Str(name)},
             {"type", Value::Str(type)},
             {"ttl", Value::Int(ttl)},
             {"values", Value::StrList(values)}};
  derive_computed(*r.type, r.attrs);
  return r;
}

inline Res zone_res(const std::string& zone) {
  Res r;
  r.id = "dns_zone." + zone;
  r.type = find_type("dns_zone");
  r.attrs = {{"name", Value::Str(zone)}, {"kind", Value::Str("primary")}};
  return r;
}

inline ObserveResponse observe(Provider& p, const std::vector<const Res*>& rs) {
  ObserveRequest req;
  req.type = rs.front()->type;
  for (const Res* r : rs) req.resources.push_back(r->view());
  return p.observe(req);
}

inline Status apply(Provider& p, const Res& r, Action a, AttrMap before = {}) {
  ApplyRequest req;
  req.resource = r.view();
  req.action = a;
  req.before = std::move(before);
  return p.apply(req).status;
}

inline ProviderConfig config(std::map<std::string, Value> settings,
                             const std::string& dir = "/tmp") {
  ProviderConfig c;
  c.name = "dns";
  c.type = "dns";
  c.settings = std::move(settings);
  c.settings["type"] = Value::Str("dns");
  c.manifest_dir = dir;
  c.resolve_secret = [](const std::string& ref) -> Result<std::string> {
    if (ref.rfind("env:", 0) == 0) {
      const char* v = std::getenv(ref.substr(4).c_str());
      if (!v)
        return Error::NotFound("secret: environment variable " + ref.substr(4) + " is not set");
      return std::string(v);
    }
    return Error::Invalid("unsupported reference in tests");
  };
  return c;
}

// ---- scripted server ----

// A reply with the request's id and question.
inline PktPtr reply_to(const ldns_pkt* q, int rcode, bool aa = true) {
  PktPtr r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_aa(r.get(), aa);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(q));
  ldns_pkt_set_rcode(r.get(), static_cast<uint8_t>(rcode));
  if (const ldns_rr_list* qs = ldns_pkt_question(q))
    for (size_t i = 0; i < ldns_rr_list_rr_count(qs); ++i)
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(qs, i)));
  return r;
}

inline void add_answer(ldns_pkt* p, const std::string& text) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, text.c_str(), 300, nullptr, nullptr) == LDNS_STATUS_OK)
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
}

inline std::string qname(const ldns_pkt* q) {
  const ldns_rr_list* qs = ldns_pkt_question(q);
  if (!qs || ldns_rr_list_rr_count(qs) == 0) return "";
  char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(qs, 0)));
  std::string out = s ? canonical_dns_name(s) : "";
  std::free(s);
  return out;
}

inline ldns_rr_type qtype(const ldns_pkt* q) {
  const ldns_rr_list* qs = ldns_pkt_question(q);
  if (!qs || ldns_rr_list_rr_count(qs) == 0) return LDNS_RR_TYPE_A;
  return ldns_rr_get_type(ldns_rr_list_rr(qs, 0));
}

// Serves one connection at a time, one request after another on it. The destructor wakes the
// serving thread through a pipe (no polling): every wait below is on the socket and that pipe.
class FakeServer {
 public:
  // Answers for one request; none = stay silent (the client times out).
  using Handler = std::function<std::vector<PktPtr>(const ldns_pkt* request)>;

  FakeServer(Handler h, std::optional<TsigKey> key) : handler_(std::move(h)), key_(std::move(key)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 128) != 0 ||
        ::pipe2(stop_, O_CLOEXEC) != 0)
      std::abort();
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    ::close(stop_[1]);  // the read end becomes readable (EOF): serve() returns
    thread_.join();
    ::close(stop_[0]);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

  // Copies of every request received, in order.
  std::vector<PktPtr> requests() {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<PktPtr> out;
    for (const auto& p : requests_) out.emplace_back(ldns_pkt_clone(p.get()));
    return out;
  }
  // How many requests carried a TSIG signature that verifies with the server's key.
  size_t verified() {
    std::lock_guard<std::mutex> lk(mu_);
    return verified_;
  }
  size_t count(ldns_pkt_opcode op, ldns_rr_type t = LDNS_RR_TYPE_ANY) {
    size_t n = 0;
    for (const auto& p : requests())
      if (ldns_pkt_get_opcode(p.get()) == op && (t == LDNS_RR_TYPE_ANY || qtype(p.get()) == t)) ++n;
    return n;
  }

 private:
  // Blocks until `fd` is readable (true) or the server stops (false).
  bool wait_readable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    for (;;) {
      int r = ::poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      return r > 0 && p[1].revents == 0;
    }
  }

  void serve() {
    while (wait_readable(fd_)) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  void handle(int c) {
    while (wait_readable(c)) {
      size_t size = 0;
      uint8_t* wire = ldns_tcp_read_wire_timeout(c, &size, timeval{1, 0});
      if (!wire) return;  // the client closed the connection
      PktPtr req;
      ldns_status st = parse_wire(wire, size, &req);
      bool verified = st == LDNS_STATUS_OK && key_ && ldns_pkt_tsig(req.get()) &&
                      ldns_pkt_tsig_verify(req.get(), wire, size, key_->name.c_str(),
                                           key_->secret.c_str(), nullptr);
      std::free(wire);
      if (st != LDNS_STATUS_OK) return;
      {
        std::lock_guard<std::mutex> lk(mu_);
        requests_.emplace_back(ldns_pkt_clone(req.get()));
        verified_ += verified;
      }
      std::vector<PktPtr> answers = handler_(req.get());
      if (answers.empty()) {  // silence: hold the connection until the client gives up
        char b[512];
        while (wait_readable(c) && ::recv(c, b, sizeof b, 0) > 0) {
        }
        return;
      }
      RdfPtr mac;
      if (ldns_pkt_tsig(req.get()))
        mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(req.get()), 3)));
      for (size_t i = 0; i < answers.size(); ++i) {
        ldns_pkt* a = answers[i].get();
        if (key_ && mac) {
          if (i == 0)
            ldns_pkt_tsig_sign(a, key_->name.c_str(), key_->secret.c_str(), 300,
                               key_->algorithm.c_str(), mac.get());
          else
            ldns_pkt_tsig_sign_next(a, key_->name.c_str(), key_->secret.c_str(), 300,
                                    key_->algorithm.c_str(), mac.get(), 1);
          mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(a), 3)));
        }
        ldns_buffer* buf = ldns_buffer_new(65535);
        ldns_pkt2buffer_wire(buf, a);
        bool sent = ldns_tcp_send_query(buf, c, nullptr, 0) != 0;
        ldns_buffer_free(buf);
        if (!sent) return;
      }
    }
  }

  Handler handler_;
  std::optional<TsigKey> key_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<PktPtr> requests_;
  size_t verified_ = 0;
};

// The key of the scripted server (and of the providers that talk to it).
inline TsigKey test_key() {
  return {"fake-key", "hmac-sha256.", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="};
}

}  // namespace converge::dns::test
