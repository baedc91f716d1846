// A deadline for one libldap call, enforced from outside libldap. libldap 2.5 (Debian 12, GnuTLS)
// bounds the TCP connect (LDAP_OPT_NETWORK_TIMEOUT) and waiting for results (LDAP_OPT_TIMEOUT),
// but not the TLS handshake of ldaps:// or StartTLS: against a server that accepts TCP and never
// speaks, ldap_connect() / ldap_start_tls_s() spin forever (measured with ldapsearch -o
// nettimeout=2). Nor does it bound a write that the server never reads.
//
// A Watch, installed on a handle with LDAP_OPT_CONNECT_CB, learns the socket of each connection
// libldap opens. A Deadline started before a call wakes after its time and shuts the socket down
// (shutdown(2), not close: libldap still owns the descriptor), which makes the blocked call fail
// at once; once expired, the Watch also refuses any further connection the call tries (the next
// URL of a list). The caller then reports a timeout naming the peer. A write libldap then makes on
// that socket (an unbind, a TLS alert) fails with EPIPE: the process must ignore SIGPIPE, as
// converge's main() and the test mains do, or it dies of it.
//
// Thread-safety: the Watch is shared by the calling thread (inside libldap) and the Deadline's
// thread, guarded by its mutex. One Deadline per Watch at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

typedef struct ldap LDAP;  // NOLINT: libldap's own spelling of its handle type

namespace converge::ldap {

class Watch {
 public:
  Watch();
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  // Installs the connection callbacks on `ld`; the Watch must outlive the handle.
  bool install(LDAP* ld);
  // "host:port" of the last connection libldap opened, or "" before the first.
  std::string peer() const;
  bool expired() const;

 private:
  friend class Deadline;
  friend struct WatchCallbacks;
  void expire();
  void reset();
  mutable std::mutex mu_;
  int fd_ = -1;
  bool expired_ = false;
  std::string peer_;
  void* cb_;  // the ldap_conncb registered with libldap (owned)
};

class Deadline {
 public:
  // Arms `w` to expire after `seconds` (at least 1).
  Deadline(Watch& w, int seconds);
  ~Deadline();  // disarms, waits for the timer thread, clears the expiry
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool expired() const { return w_.expired(); }
  int seconds() const { return seconds_; }

 private:
  Watch& w_;
  int seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread timer_;
};

}  // namespace converge::ldap
