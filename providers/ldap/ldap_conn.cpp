#include "providers/ldap/ldap_conn.h"

#include <lber.h>
#include <ldap.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "engine/api/names.h"
#include "providers/ldap/ldap_url.h"

namespace converge::ldap {
namespace {

bool mentions_tls(const std::string& s) {
  std::string l = lower(s);
  for (const char* w : {"certificate", "tls", "ssl", "handshake", "x509", "peer", "verif"})
    if (l.find(w) != std::string::npos) return true;
  return false;
}

std::string diagnostic(LDAP* ld) {
  char* msg = nullptr;
  if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg) {
    std::string out(msg);
    ldap_memfree(msg);
    return out;
  }
  return "";
}

// libldap wants non-const char* / berval arrays; this owns them for one request.
class ModList {
 public:
  explicit ModList(const std::vector<Mod>& mods) {
    mods_.resize(mods.size());
    vals_.resize(mods.size());
    ptrs_.resize(mods.size());
    for (size_t i = 0; i < mods.size(); ++i) {
      const Mod& m = mods[i];
      int op = m.op == Mod::kAdd      ? LDAP_MOD_ADD
               : m.op == Mod::kDelete ? LDAP_MOD_DELETE
                                      : LDAP_MOD_REPLACE;
      mods_[i].mod_op = op | LDAP_MOD_BVALUES;
      mods_[i].mod_type = const_cast<char*>(m.attr.c_str());
      for (const auto& v : m.values)
        vals_[i].push_back(berval{static_cast<ber_len_t>(v.size()), const_cast<char*>(v.data())});
      for (auto& b : vals_[i]) ptrs_[i].push_back(&b);
      if (ptrs_[i].empty()) {
        mods_[i].mod_bvalues = nullptr;
      } else {
        ptrs_[i].push_back(nullptr);
        mods_[i].mod_bvalues = ptrs_[i].data();
      }
      list_.push_back(&mods_[i]);
    }
    list_.push_back(nullptr);
  }
  LDAPMod** get() { return list_.data(); }

 private:
  std::vector<LDAPMod> mods_;
  std::vector<std::vector<berval>> vals_;
  std::vector<std::vector<berval*>> ptrs_;
  std::vector<LDAPMod*> list_;
};

// The SD flags control, owning its value.
struct SdFlagsControl {
  std::string value;
  LDAPControl ctrl{};
  explicit SdFlagsControl(uint32_t flags) : value(sd_flags_value(flags)) {
    ctrl.ldctl_oid = const_cast<char*>(kSdFlagsOid);
    ctrl.ldctl_value.bv_len = static_cast<ber_len_t>(value.size());
    ctrl.ldctl_value.bv_val = value.data();
    ctrl.ldctl_iscritical = 1;
  }
};

std::atomic<uint64_t> g_requests{0};

// The CA bundle used when no ca_file is given. With LDAPNOINIT libldap reads no ldap.conf, so
// the system's bundle must be named explicitly.
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// True when a TLS connection to `url` succeeds without certificate verification: the server is
// reachable, so a failed verified connection failed on the certificate. Sends no credentials.
bool reachable_without_verification(const ConnSettings& s) {
  LDAP* probe = nullptr;
  if (ldap_initialize(&probe, s.url.c_str()) != LDAP_SUCCESS || !probe) return false;
  Watch watch;
  int v3 = LDAP_VERSION3, never = LDAP_OPT_X_TLS_NEVER, zero = 0;
  timeval tv{s.connect_timeout_s, 0};
  ldap_set_option(probe, LDAP_OPT_PROTOCOL_VERSION, &v3);
  ldap_set_option(probe, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(probe, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(probe, LDAP_OPT_X_TLS_REQUIRE_CERT, &never);
  bool ok = watch.install(probe) &&
            ldap_set_option(probe, LDAP_OPT_X_TLS_NEWCTX, &zero) == LDAP_OPT_SUCCESS;
  if (ok) {
    Deadline d(watch, s.connect_timeout_s);
    ok = ldap_connect(probe) == LDAP_SUCCESS && !d.expired();
  }
  ldap_unbind_ext_s(probe, nullptr, nullptr);
  return ok;
}

}  // namespace

uint64_t Conn::requests() { return g_requests.load(); }

void prepare_libldap() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("LDAPNOINIT", "1", 1); });
}

bool tls_in_place(LDAP* ld) { return ld && ldap_tls_inplace(ld) != 0; }

bool is_transient(int code) {
  return code == LDAP_BUSY || code == LDAP_UNAVAILABLE || code == LDAP_TIMEOUT ||
         code == LDAP_SERVER_DOWN || code == LDAP_CONNECT_ERROR || code == LDAP_TIMELIMIT_EXCEEDED;
}

ErrorKind kind_for(int code) {
  if (is_transient(code)) return ErrorKind::kTransient;
  switch (code) {
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_UNDEFINED_TYPE:
    case LDAP_INVALID_SYNTAX:
    case LDAP_FILTER_ERROR:
    case LDAP_NAMING_VIOLATION:
    case LDAP_OBJECT_CLASS_VIOLATION:
    case LDAP_INAPPROPRIATE_MATCHING:
      return ErrorKind::kInvalid;
    case LDAP_NO_SUCH_OBJECT:
      return ErrorKind::kNotFound;
    case LDAP_LOCAL_ERROR:
    case LDAP_ENCODING_ERROR:
    case LDAP_DECODING_ERROR:
    case LDAP_PARAM_ERROR:
    case LDAP_NO_MEMORY:
      return ErrorKind::kInternal;
    default:
      return ErrorKind::kConflict;
  }
}

Error error_of(ErrorKind k, std::string message, std::string hint) {
  Error e;
  e.kind = k;
  e.message = std::move(message);
  e.hint = std::move(hint);
  return e;
}

std::string sd_flags_value(uint32_t flags) {
  BerElement* ber = ber_alloc_t(LBER_USE_DER);
  if (!ber) return {};
  std::string out;
  if (ber_printf(ber, "{i}", static_cast<ber_int_t>(flags)) != -1) {
    berval bv{};
    if (ber_flatten2(ber, &bv, 0) == 0) out.assign(bv.bv_val, bv.bv_len);
  }
  ber_free(ber, 1);
  return out;
}

Conn::~Conn() {
  if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

LdapStatus Conn::status(int rc, const std::string& what) {
  LdapStatus st;
  st.code = rc;
  if (rc == LDAP_SUCCESS) return st;
  st.text = what + ": " + ldap_err2string(rc);
  std::string diag = diagnostic(ld_);
  if (!diag.empty()) st.text += " (" + diag + ")";
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT) broken_ = true;
  return st;
}

LdapStatus Conn::status(int rc, const std::string& what, const Deadline& d) {
  if (!d.expired()) return status(rc, what);
  broken_ = true;
  LdapStatus st;
  st.code = LDAP_TIMEOUT;
  std::string peer = watch_.peer();
  st.text = what + ": no answer from " + (peer.empty() ? std::string("the server") : peer) +
            " within " + std::to_string(d.seconds()) + " s (timeout)";
  return st;
}

Result<std::unique_ptr<Conn>> Conn::open(const ConnSettings& s) {
  prepare_libldap();
  std::unique_ptr<Conn> c(new Conn());
  const std::string where = "ldap provider '" + s.provider + "' (" + s.url + ")";
  auto urls = check_url_list(s.url, s.starttls, s.allow_insecure);
  if (!urls.ok()) return Error::Invalid(where + ": " + urls.error().message, urls.error().hint);
  int rc = ldap_initialize(&c->ld_, s.url.c_str());
  if (rc != LDAP_SUCCESS || !c->ld_)
    return Error::Invalid(where + ": cannot use the URL: " + ldap_err2string(rc),
                          "write url = \"ldaps://host\" or \"ldap://host\"");
  LDAP* ld = c->ld_;
  c->timeout_s_ = s.timeout_s;
  int v3 = LDAP_VERSION3;
  timeval connect_tv{s.connect_timeout_s, 0}, op_tv{s.timeout_s, 0};
  int demand = LDAP_OPT_X_TLS_DEMAND;
  int zero = 0;
  bool ok = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connect_tv) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op_tv) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) == LDAP_OPT_SUCCESS &&
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) == LDAP_OPT_SUCCESS &&
            c->watch_.install(ld);
  if (!ok) return Error::Internal(where + ": cannot set libldap options");
  std::string ca = s.ca_file;
  if (ca.empty() && ::access(kSystemCaBundle, R_OK) == 0) ca = kSystemCaBundle;
  if (!ca.empty() && ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca.c_str()) != LDAP_OPT_SUCCESS)
    return Error::Invalid(where + ": cannot use ca_file " + ca);
  rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
  if (rc != LDAP_OPT_SUCCESS)
    return Error::Invalid(
        where + ": cannot set up TLS" +
            (s.ca_file.empty() ? std::string() : " with ca_file " + s.ca_file) + ": " +
            ldap_err2string(rc),
        "ca_file must be a readable PEM file of the CA that signed the server's certificate");

  auto timed_out = [&](const Deadline& d, const std::string& step) -> Error {
    std::string peer = c->watch_.peer();
    // Not transient: a server that accepts connections and then stalls would otherwise cost
    // every retry the whole timeout again.
    return Error::Conflict(where + ": " + step + " with " + (peer.empty() ? s.url : peer) +
                               " did not complete within " + std::to_string(d.seconds()) +
                               " s (timeout)",
                           "check that the server runs, speaks LDAP on that port and is not "
                           "overloaded; timeout sets the limit");
  };
  auto connect_error = [&](int code, const std::string& step) -> Error {
    std::string diag = diagnostic(ld);
    std::string detail =
        std::string(ldap_err2string(code)) + (diag.empty() ? "" : " (" + diag + ")");
    bool tls = mentions_tls(diag) || (step == "StartTLS" && code == LDAP_CONNECT_ERROR) ||
               (step == "connect" && urls->ldaps() &&
                (code == LDAP_SERVER_DOWN || code == LDAP_CONNECT_ERROR) &&
                reachable_without_verification(s));
    if (tls)
      return Error::Invalid(
          where + ": TLS certificate verification failed during " + step + ": " + detail,
          "the server's certificate must be signed by the CA in ca_file and name the host in url");
    if (is_transient(code))
      return Error::Transient(where + ": cannot reach the server during " + step + ": " + detail,
                              "check that the server runs and the URL's host and port are right");
    return error_of(kind_for(code), where + ": " + step + " failed: " + detail);
  };

  {
    // TCP connect, and for ldaps:// the TLS handshake.
    Deadline d(c->watch_, s.connect_timeout_s);
    rc = ldap_connect(ld);
    if (d.expired()) return timed_out(d, urls->ldaps() ? "the TLS handshake" : "the connect");
    if (rc != LDAP_SUCCESS) return connect_error(rc, "connect");
  }
  bool want_tls = urls->ldaps() || s.starttls;
  if (!urls->ldaps() && s.starttls) {
    Deadline d(c->watch_, s.connect_timeout_s);
    rc = ldap_start_tls_s(ld, nullptr, nullptr);
    // libldap's own result timeout (LDAP_OPT_TIMEOUT, the same length) may fire first.
    if (d.expired() || rc == LDAP_TIMEOUT) return timed_out(d, "StartTLS");
    if (rc != LDAP_SUCCESS) return connect_error(rc, "StartTLS");
  }
  // Judged on the connection libldap actually opened, whichever URL of a list that was.
  if (!tls_in_place(ld) && (want_tls || !s.allow_insecure)) {
    std::string peer = c->watch_.peer();
    return Error::Invalid(where + ": refusing a simple bind over an unencrypted connection to " +
                              (peer.empty() ? s.url : peer),
                          "use ldaps:// or StartTLS, or set allow_insecure = true");
  }

  berval cred{static_cast<ber_len_t>(s.password.size()), const_cast<char*>(s.password.data())};
  Deadline d(c->watch_, c->request_seconds());
  rc = ldap_sasl_bind_s(ld, s.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  if (d.expired() || rc == LDAP_TIMEOUT) return timed_out(d, "the bind");
  if (rc == LDAP_INVALID_CREDENTIALS)
    return Error::Invalid(where + ": bind as " + s.bind_dn + " refused: " + ldap_err2string(rc),
                          "check bind_dn and the password");
  if (rc != LDAP_SUCCESS) return connect_error(rc, "bind");
  return c;
}

LdapStatus Conn::search(const std::string& base, Scope scope, const std::string& filter,
                        const std::vector<std::string>& attrs,
                        const std::function<void(Entry&&)>& on_entry, uint32_t sd_flags,
                        int page_size, ReadLimits limits) {
  std::vector<char*> attr_ptrs;
  for (const auto& a : attrs) attr_ptrs.push_back(const_cast<char*>(a.c_str()));
  attr_ptrs.push_back(nullptr);
  std::unique_ptr<SdFlagsControl> sd;
  if (sd_flags) sd = std::make_unique<SdFlagsControl>(sd_flags);
  std::string what =
      "search of " + (base.empty() ? std::string("the root DSE") : base) + " for " + filter;
  PagedReadBudget budget(what, limits);
  auto over = [&](const Error& e) {
    LdapStatus st;
    st.code = LDAP_SIZELIMIT_EXCEEDED;
    st.text = e.message;
    return st;
  };

  std::string cookie;
  bool have_cookie = false;
  for (;;) {
    LDAPControl* page = nullptr;
    std::vector<LDAPControl*> ctrls;
    if (page_size > 0) {
      berval cb{static_cast<ber_len_t>(cookie.size()), cookie.data()};
      int rc = ldap_create_page_control(ld_, page_size, have_cookie ? &cb : nullptr, 0, &page);
      if (rc != LDAP_SUCCESS) return status(rc, what);
      ctrls.push_back(page);
    }
    if (sd) ctrls.push_back(&sd->ctrl);
    ctrls.push_back(nullptr);
    LDAPMessage* res = nullptr;
    ++g_requests;
    timeval tv{timeout_s_, 0};
    int rc;
    {
      Deadline d(watch_, request_seconds());
      rc = ldap_search_ext_s(ld_, base.c_str(), static_cast<int>(scope), filter.c_str(),
                             attr_ptrs.data(), 0, ctrls.data(), nullptr,
                             tv.tv_sec > 0 ? &tv : nullptr, LDAP_NO_LIMIT, &res);
      if (d.expired()) {
        if (page) ldap_control_free(page);
        if (res) ldap_msgfree(res);
        return status(rc, what, d);
      }
    }
    if (page) ldap_control_free(page);
    if (!res) return status(rc == LDAP_SUCCESS ? LDAP_OTHER : rc, what);

    int result_code = rc;
    std::string server_msg;
    LDAPControl** srv_ctrls = nullptr;
    for (LDAPMessage* m = ldap_first_message(ld_, res); m; m = ldap_next_message(ld_, m)) {
      int type = ldap_msgtype(m);
      if (type == LDAP_RES_SEARCH_ENTRY) {
        Entry e;
        if (char* dn = ldap_get_dn(ld_, m)) {
          e.dn = dn;
          ldap_memfree(dn);
        }
        BerElement* ber = nullptr;
        for (char* a = ldap_first_attribute(ld_, m, &ber); a;
             a = ldap_next_attribute(ld_, m, ber)) {
          std::vector<std::string> values;
          if (berval** vals = ldap_get_values_len(ld_, m, a)) {
            for (size_t i = 0; vals[i]; ++i) values.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
            ldap_value_free_len(vals);
          }
          e.attrs[lower(a)] = std::move(values);
          ldap_memfree(a);
        }
        if (ber) ber_free(ber, 0);
        if (auto err = budget.entry()) {
          ldap_msgfree(res);
          if (srv_ctrls) ldap_controls_free(srv_ctrls);
          return over(*err);
        }
        on_entry(std::move(e));
      } else if (type == LDAP_RES_SEARCH_RESULT) {
        int err = LDAP_SUCCESS;
        char* errmsg = nullptr;
        if (ldap_parse_result(ld_, m, &err, nullptr, &errmsg, nullptr, &srv_ctrls, 0) ==
            LDAP_SUCCESS) {
          result_code = err;
          if (errmsg) server_msg = errmsg;
        }
        if (errmsg) ldap_memfree(errmsg);
      }
      // LDAP_RES_SEARCH_REFERENCE: continuation references are not followed.
    }
    ldap_msgfree(res);
    if (result_code != LDAP_SUCCESS) {
      if (srv_ctrls) ldap_controls_free(srv_ctrls);
      LdapStatus st;
      st.code = result_code;
      st.text = what + ": " + ldap_err2string(result_code) +
                (server_msg.empty() ? "" : " (" + server_msg + ")");
      if (result_code == LDAP_SERVER_DOWN || result_code == LDAP_CONNECT_ERROR ||
          result_code == LDAP_TIMEOUT)
        broken_ = true;
      return st;
    }
    bool more = false;
    if (page_size > 0 && srv_ctrls) {
      if (LDAPControl* pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, srv_ctrls, nullptr)) {
        // libldap 2.5 dereferences a null BerElement on an empty control value: refuse it first.
        if (pc->ldctl_value.bv_len == 0 || !pc->ldctl_value.bv_val) {
          ldap_controls_free(srv_ctrls);
          LdapStatus bad;
          bad.code = LDAP_DECODING_ERROR;
          bad.text = what + ": the server sent a paged-results control without a value";
          return bad;
        }
        ber_int_t count = 0;
        berval next{};
        if (ldap_parse_pageresponse_control(ld_, pc, &count, &next) == LDAP_SUCCESS) {
          if (next.bv_len > 0) {
            cookie.assign(next.bv_val, next.bv_len);
            have_cookie = more = true;
          }
          if (next.bv_val) ber_memfree(next.bv_val);
          if (auto err = more ? budget.next_page(cookie) : std::nullopt) {
            ldap_controls_free(srv_ctrls);
            return over(*err);
          }
        }
      }
    }
    if (srv_ctrls) ldap_controls_free(srv_ctrls);
    if (!more) return {};
  }
}

LdapStatus Conn::add(const std::string& dn, const std::vector<Mod>& mods) {
  ModList ml(mods);
  ++g_requests;
  Deadline d(watch_, request_seconds());
  int rc = ldap_add_ext_s(ld_, dn.c_str(), ml.get(), nullptr, nullptr);
  return status(rc, "add of " + dn, d);
}

LdapStatus Conn::modify(const std::string& dn, const std::vector<Mod>& mods, uint32_t sd_flags) {
  ModList ml(mods);
  std::unique_ptr<SdFlagsControl> sd;
  std::vector<LDAPControl*> ctrls;
  if (sd_flags) {
    sd = std::make_unique<SdFlagsControl>(sd_flags);
    ctrls.push_back(&sd->ctrl);
  }
  ctrls.push_back(nullptr);
  ++g_requests;
  Deadline d(watch_, request_seconds());
  int rc = ldap_modify_ext_s(ld_, dn.c_str(), ml.get(), ctrls.data(), nullptr);
  return status(rc, "modify of " + dn, d);
}

LdapStatus Conn::remove(const std::string& dn) {
  ++g_requests;
  Deadline d(watch_, request_seconds());
  int rc = ldap_delete_ext_s(ld_, dn.c_str(), nullptr, nullptr);
  return status(rc, "delete of " + dn, d);
}

LdapStatus Conn::rename(const std::string& dn, const std::string& new_rdn,
                        const std::string& new_parent) {
  ++g_requests;
  Deadline d(watch_, request_seconds());
  int rc = ldap_rename_s(ld_, dn.c_str(), new_rdn.c_str(),
                         new_parent.empty() ? nullptr : new_parent.c_str(), 1, nullptr, nullptr);
  return status(rc, "rename of " + dn, d);
}

Pool::Lease::~Lease() {
  if (conn_ && pool_ && !conn_->broken()) pool_->release(std::move(conn_));
}

Result<Pool::Lease> Pool::acquire() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  auto c = Conn::open(settings_);
  if (!c.ok()) return c.error();
  return Lease(this, std::move(*c));
}

void Pool::release(std::unique_ptr<Conn> c) {
  std::lock_guard<std::mutex> lk(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

}  // namespace converge::ldap
