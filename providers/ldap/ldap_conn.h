// The LDAP provider's only contact with libldap (OpenLDAP): one authenticated connection (Conn)
// and a small pool of them (Pool). Everything here is thin: it turns requests into libldap calls
// and results into Entry values and LdapStatus codes; what to ask for and what answers mean lives
// in ldap_directory / ldap_model.
//
// Every handle is created with: LDAPv3, referral chasing off (Samba answers domain-root subtree
// searches with referrals whose host names would otherwise be resolved and contacted), network
// and operation timeouts, certificate verification demanded (LDAP_OPT_X_TLS_REQUIRE_CERT =
// demand, the configured CA file or else the system's bundle, a fresh TLS context per handle).
// libldap's configuration files and LDAP* / LDAPTLS_* environment variables are never read
// (LDAPNOINIT, see prepare_libldap()). The URL (list) is judged by check_url_list() first.
// ldap:// URLs are upgraded with StartTLS; before the bind libldap is asked whether TLS is in
// place on the connection actually opened (ldap_tls_inplace), and a bind without it is refused
// unless the settings ask for clear text (ldap://, starttls = false, allow_insecure = true).
// Every call (connect, TLS handshake, StartTLS, bind, each search page, add, modify, delete,
// rename) has a deadline (ldap_deadline.h). Searches are bounded in pages and entries
// (read_limits.h). The password is used for the bind only and never logged.
//
// Thread-safety: a Conn is used by one thread at a time (libldap handles must not be shared
// concurrently); Pool hands each caller its own Conn and is safe to use from many threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "providers/ldap/ldap_deadline.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/read_limits.h"

typedef struct ldap LDAP;  // NOLINT: libldap's own spelling of its handle type

namespace converge::ldap {

struct ConnSettings {
  std::string provider;  // provider block name, for messages
  std::string url;       // ldaps://host[:port] or ldap://host[:port], or a list (ldap_url.h)
  bool starttls = true;  // for ldap:// URLs
  std::string ca_file;   // absolute path; empty = the system's trust store
  bool allow_insecure = false;
  std::string bind_dn;
  std::string password;
  int connect_timeout_s = 10;
  int timeout_s = 60;
};

// An LDAP result: code 0 is success; `text` says what was attempted and what the server said.
struct LdapStatus {
  int code = 0;
  std::string text;
  bool ok() const { return code == 0; }
};

// Result codes worth retrying: busy, unavailable, timeouts, server down, connect errors.
bool is_transient(int code);
// How a result code maps onto converge's error kinds.
ErrorKind kind_for(int code);
// An Error of kind `k` (clang 14 has no parenthesised aggregate initialisation).
Error error_of(ErrorKind k, std::string message, std::string hint = {});
// The BER value of the LDAP_SERVER_SD_FLAGS control (1.2.840.113556.1.4.801):
// SEQUENCE { INTEGER flags }. Encoded with liblber.
std::string sd_flags_value(uint32_t flags);

// Makes libldap ignore ldap.conf, ./ldaprc, ~/.ldaprc and the LDAP* / LDAPTLS_* environment
// (which could choose the trusted CA, the server or TLS_REQCERT) by setting LDAPNOINIT=1 before
// libldap's first use. Idempotent; the first call must come before other threads use libldap
// or the environment (the provider calls it while its settings are parsed).
void prepare_libldap();
// True when libldap has TLS in place on `ld`'s connection.
bool tls_in_place(LDAP* ld);

inline constexpr const char* kSdFlagsOid = "1.2.840.113556.1.4.801";
inline constexpr uint32_t kDaclSecurityInformation = 4;

class Conn {
 public:
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects, secures and binds. Errors name the provider and URL and say what failed (TCP
  // connect, TLS verification, StartTLS, credentials); transient failures are kTransient.
  static Result<std::unique_ptr<Conn>> open(const ConnSettings& s);

  // Asks libldap, every time, whether the connection in use is protected by TLS.
  bool encrypted() const { return tls_in_place(ld_); }
  // LDAP requests sent by every Conn of this process (searches count once per page); tests use
  // it to show that observation is batched.
  static uint64_t requests();
  // True once an operation lost the connection; the pool then drops it.
  bool broken() const { return broken_; }

  enum Scope { kBase = 0, kOneLevel = 1, kSubtree = 2 };
  // A search, paged (paged results control, `page_size` entries per page) unless page_size is 0.
  // Continuation references are skipped. sd_flags != 0 adds the SD flags control (critical).
  // More pages or entries than `limits` allow end the search with an error.
  LdapStatus search(const std::string& base, Scope scope, const std::string& filter,
                    const std::vector<std::string>& attrs,
                    const std::function<void(Entry&&)>& on_entry, uint32_t sd_flags = 0,
                    int page_size = 1000, ReadLimits limits = {});
  LdapStatus add(const std::string& dn, const std::vector<Mod>& mods);
  LdapStatus modify(const std::string& dn, const std::vector<Mod>& mods, uint32_t sd_flags = 0);
  LdapStatus remove(const std::string& dn);
  LdapStatus rename(const std::string& dn, const std::string& new_rdn,
                    const std::string& new_parent);

 private:
  Conn() = default;
  LdapStatus status(int rc, const std::string& what);
  // `rc` of a call made under `d`: a timeout naming the peer if the deadline expired.
  LdapStatus status(int rc, const std::string& what, const Deadline& d);
  // The deadline of one request after the connection is up: libldap's own result timeout
  // (LDAP_OPT_TIMEOUT) normally answers first; this bounds what it does not (a blocked write).
  int request_seconds() const { return timeout_s_ + 1; }
  Watch watch_;  // declared before ld_ is used; outlives the handle (see ~Conn)
  LDAP* ld_ = nullptr;
  bool broken_ = false;
  int timeout_s_ = 60;
};

// Up to `max_idle` idle connections are kept; acquire() reuses one or opens a new one.
class Pool {
 public:
  Pool(ConnSettings s, size_t max_idle) : settings_(std::move(s)), max_idle_(max_idle) {}

  class Lease {
   public:
    Lease(Pool* p, std::unique_ptr<Conn> c) : pool_(p), conn_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Conn* operator->() { return conn_.get(); }
    Conn& operator*() { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  Result<Lease> acquire();
  const ConnSettings& settings() const { return settings_; }

 private:
  void release(std::unique_ptr<Conn> c);
  ConnSettings settings_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

}  // namespace converge::ldap
