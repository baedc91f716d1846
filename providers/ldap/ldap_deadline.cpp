#include "providers/ldap/ldap_deadline.h"

#include <lber.h>
#include <ldap.h>
#include <sys/socket.h>

#include <algorithm>

namespace converge::ldap {

struct WatchCallbacks {
  static int add(LDAP*, Sockbuf* sb, LDAPURLDesc* srv, struct sockaddr*, struct ldap_conncb* ctx) {
    auto* w = static_cast<Watch*>(ctx->lc_arg);
    ber_socket_t fd = -1;
    ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd);
    std::lock_guard<std::mutex> lk(w->mu_);
    if (w->expired_) return -1;  // the call's time is up: no further URL is tried
    w->fd_ = fd;
    w->peer_ = std::string(srv && srv->lud_host ? srv->lud_host : "?") + ":" +
               std::to_string(srv ? srv->lud_port : 0);
    return 0;
  }
  static void del(LDAP*, Sockbuf* sb, struct ldap_conncb* ctx) {
    auto* w = static_cast<Watch*>(ctx->lc_arg);
    std::lock_guard<std::mutex> lk(w->mu_);
    if (!sb) return;  // the handle itself is being freed
    w->fd_ = -1;
  }
};

Watch::Watch() {
  auto* cb = new ldap_conncb{};
  cb->lc_add = &WatchCallbacks::add;
  cb->lc_del = &WatchCallbacks::del;
  cb->lc_arg = this;
  cb_ = cb;
}

Watch::~Watch() { delete static_cast<ldap_conncb*>(cb_); }

bool Watch::install(LDAP* ld) {
  return ldap_set_option(ld, LDAP_OPT_CONNECT_CB, cb_) == LDAP_OPT_SUCCESS;
}

std::string Watch::peer() const {
  std::lock_guard<std::mutex> lk(mu_);
  return peer_;
}

bool Watch::expired() const {
  std::lock_guard<std::mutex> lk(mu_);
  return expired_;
}

void Watch::expire() {
  std::lock_guard<std::mutex> lk(mu_);
  expired_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Watch::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  expired_ = false;
}

Deadline::Deadline(Watch& w, int seconds) : w_(w), seconds_(std::max(seconds, 1)) {
  timer_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_for(lk, std::chrono::seconds(seconds_), [this] { return done_; })) w_.expire();
  });
}

Deadline::~Deadline() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  timer_.join();
  w_.reset();
}

}  // namespace converge::ldap
