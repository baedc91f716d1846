// Connection hardening without a directory server: loopback sockets that accept TCP and never
// speak, or record what they receive.
#include "providers/ldap/ldap_conn.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <ldap.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

using namespace converge::ldap;

namespace {

// A listening socket on 127.0.0.1 that never accepts: the kernel completes TCP handshakes into
// the backlog, and nothing is ever sent back.
struct SilentServer {
  int fd = -1;
  int port = 0;
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  // Bytes the first queued connection sent, without waiting.
  size_t received() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return 0;  // nobody connected
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK);
    if (c < 0) return 0;
    char buf[4096];
    ssize_t n = ::recv(c, buf, sizeof buf, 0);
    ::close(c);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
};

ConnSettings settings(const std::string& url) {
  ConnSettings s;
  s.provider = "ad";
  s.url = url;
  s.bind_dn = "CN=Administrator,CN=Users,DC=target,DC=local";
  s.password = "not-a-real-password";
  s.timeout_s = 2;
  s.connect_timeout_s = 2;
  return s;
}

}  // namespace

TEST_CASE("a TLS handshake that never completes is bounded by the timeout") {
  SilentServer srv;
  const std::string hostport = "127.0.0.1:" + std::to_string(srv.port);
  for (const char* scheme : {"ldaps://", "ldap://"}) {
    CAPTURE(scheme);
    auto t0 = std::chrono::steady_clock::now();
    auto c = Conn::open(settings(std::string(scheme) + hostport));  // ldap:// uses StartTLS
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE_FALSE(c.ok());
    CHECK(secs < 6.0);
    CHECK(c.error().kind == converge::ErrorKind::kConflict);
    CHECK(c.error().message.find(hostport) != std::string::npos);
    CHECK(c.error().message.find("within 2 s") != std::string::npos);
    CHECK(c.error().message.find("not-a-real-password") == std::string::npos);
  }
}

TEST_CASE("a URL list that could fall back to clear text is refused before any connection") {
  SilentServer plain;
  auto c =
      Conn::open(settings("ldaps://127.0.0.1:1,ldap://127.0.0.1:" + std::to_string(plain.port)));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("mixes ldaps:// and ldap://") != std::string::npos);
  CHECK(plain.received() == 0);
}

TEST_CASE("tls_in_place asks libldap about the connection actually opened") {
  SilentServer srv;
  prepare_libldap();
  LDAP* ld = nullptr;
  std::string url = "ldap://127.0.0.1:" + std::to_string(srv.port);
  REQUIRE(ldap_initialize(&ld, url.c_str()) == LDAP_SUCCESS);
  CHECK_FALSE(tls_in_place(ld));  // not connected
  REQUIRE(ldap_connect(ld) == LDAP_SUCCESS);
  CHECK_FALSE(tls_in_place(ld));  // connected in clear text
  ldap_unbind_ext_s(ld, nullptr, nullptr);
  CHECK_FALSE(tls_in_place(nullptr));
}

TEST_CASE("libldap reads no configuration: LDAPNOINIT is set") {
  prepare_libldap();
  const char* v = ::getenv("LDAPNOINIT");
  REQUIRE(v != nullptr);
  CHECK(std::string(v) == "1");
}
