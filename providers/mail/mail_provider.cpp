// The mail provider's settings, its construction and its observation of smtp_probe.
#include "providers/mail/mail_provider.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "providers/mail/mail_probe.h"

namespace converge::mail {
namespace {

const std::vector<std::string> kSettings = {"type",    "dns_server",          "helo",   "starttls",
                                            "ca_file", "allow_insecure_imap", "timeout"};

class MailProvider : public Provider {
 public:
  MailProvider(ProbeOptions o, std::function<Result<std::string>(const std::string&)> secret)
      : o_(std::move(o)), secret_(std::move(secret)) {}

  bool can_create(const std::string&) const override { return false; }

  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse resp;
    for (const auto& r : req.resources) resp.results.push_back(probe(r));
    return resp;
  }

  ApplyResponse apply(const ApplyRequest& req) override {
    return {Error::Internal("mail: " + *req.resource.id + " is a check; nothing to apply")};
  }

 private:
  Observation probe(const ResourceView& r) {
    Observation o;
    ProbeRequest p;
    p.from = r.str("from");
    p.to = r.str("to");
    p.delivered = r.str("expect") != "accepted";
    p.server = r.str("server");
    p.imap_server = r.str("imap_server");
    p.imap_user = r.str("imap_user");
    if (r.get("wait").is_int())
      p.wait = std::chrono::seconds(std::max<int64_t>(0, r.get("wait").as_int()));
    if (p.delivered) {
      if (p.imap_server.empty() || r.get("imap_password").is_null()) {
        o.error = Error::Invalid("expect = \"delivered\" needs imap_server and imap_password",
                                 "name the recipient's mailbox, or write expect = \"accepted\"");
        return o;
      }
      auto pw = secret_ ? secret_(r.str("imap_password"))
                        : Result<std::string>(Error::Invalid("imap_password: cannot resolve"));
      if (!pw.ok()) {
        o.error = Error::Invalid("imap_password: " + pw.error().message, pw.error().hint);
        return o;
      }
      p.imap_password = std::move(*pw);
    }
    ProbeResult res = run_probe(o_, p);
    std::fill(p.imap_password.begin(), p.imap_password.end(), '\0');
    o.exists = true;
    o.attrs = *r.attrs;
    if (res.reached != (p.delivered ? "delivered" : "accepted"))
      o.attrs["expect"] = Value::Str(res.reached);
    o.note = res.detail;
    return o;
  }

  ProbeOptions o_;
  std::function<Result<std::string>(const std::string&)> secret_;
};

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

}  // namespace

ProviderKind kind() { return {"mail", {"smtp_probe"}, {}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  auto bad = [&](const std::string& setting, const std::string& msg, const std::string& hint = {}) {
    return Error::Invalid(setting + ": " + msg, hint).at(cfg.loc);
  };
  for (const auto& [k, v] : cfg.settings)
    if (std::find(kSettings.begin(), kSettings.end(), k) == kSettings.end())
      return bad(k, "unknown setting of a mail provider",
                 "known: dns_server, helo, starttls, ca_file, allow_insecure_imap, timeout");
  auto has = [&](const char* k) { return cfg.settings.count(k) && !cfg.settings.at(k).is_null(); };
  // A string setting; { env = ... } / { file = ... } references are resolved.
  auto text = [&](const char* k) -> Result<std::string> {
    const Value& v = cfg.settings.at(k);
    if (!v.is_string()) return bad(k, "must be a string");
    const std::string& s = v.as_string();
    if (s.rfind("env:", 0) != 0 && s.rfind("file:", 0) != 0) return s;
    if (!cfg.resolve_secret) return bad(k, "cannot resolve " + s);
    auto r = cfg.resolve_secret(s);
    if (!r.ok()) return bad(k, r.error().message, r.error().hint);
    return *r;
  };
  ProbeOptions o;
  o.helo = host_name();
  if (has("dns_server")) {
    auto t = text("dns_server");
    if (!t.ok()) return t.error();
    auto addr = dns::parse_server(*t);
    if (!addr.ok()) return bad("dns_server", addr.error().message, addr.error().hint);
    auto ep = dns::resolve_endpoint(*addr);
    if (!ep.ok()) return bad("dns_server", ep.error().message, ep.error().hint);
    o.dns = *ep;
  }
  if (has("helo")) {
    auto t = text("helo");
    if (!t.ok()) return t.error();
    if (t->empty() || t->find_first_of(" \t\r\n/?#") != std::string::npos)
      return bad("helo", "must be a host name");
    o.helo = *t;
  }
  if (has("starttls")) {
    auto t = text("starttls");
    if (!t.ok()) return t.error();
    if (*t == "off")
      o.smtp_tls = Tls::kOff;
    else if (*t == "try")
      o.smtp_tls = Tls::kTry;
    else if (*t == "required")
      o.smtp_tls = Tls::kRequired;
    else
      return bad("starttls", "must be \"try\", \"required\" or \"off\"");
  }
  if (has("ca_file")) {
    auto t = text("ca_file");
    if (!t.ok()) return t.error();
    o.ca_file = *t;
    if (!o.ca_file.empty() && o.ca_file[0] != '/' && !cfg.manifest_dir.empty())
      o.ca_file = cfg.manifest_dir + "/" + o.ca_file;
    if (access(o.ca_file.c_str(), R_OK) != 0) return bad("ca_file", "cannot read " + o.ca_file);
  }
  if (has("allow_insecure_imap")) {
    if (!cfg.settings.at("allow_insecure_imap").is_bool())
      return bad("allow_insecure_imap", "must be true or false");
    o.allow_insecure_imap = cfg.settings.at("allow_insecure_imap").as_bool();
  }
  if (has("timeout")) {
    const Value& v = cfg.settings.at("timeout");
    if (!v.is_int() || v.as_int() < 1 || v.as_int() > 600)
      return bad("timeout", "must be an integer from 1 to 600");
    o.timeout = std::chrono::seconds(v.as_int());
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  spdlog::debug("mail: provider {} (MX through {})", cfg.name, o.dns ? o.dns->text : "none");
  return std::unique_ptr<Provider>(
      std::make_unique<MailProvider>(std::move(o), cfg.resolve_secret));
}

}  // namespace converge::mail
