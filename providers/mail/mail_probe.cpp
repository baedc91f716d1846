#include "providers/mail/mail_probe.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "engine/api/names.h"
#include "providers/dns/dns_rdata.h"
#include "providers/mail/mail_text.h"

namespace converge::mail {
namespace {

using Clock = std::chrono::steady_clock;

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlFree>;
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

// Where one SMTP session goes: `host` for the URL (and certificate checks), `ip` when the
// address was looked up here (handed to libcurl so it does not resolve the name itself).
struct Target {
  std::string host, ip;
  uint16_t port = 25;
  std::string label;  // "MX exch1.target.local (127.0.0.1:25)" for messages
};

std::string url_host(const std::string& h) {
  return h.find(':') != std::string::npos ? "[" + h + "]" : h;
}

// Options every libcurl handle here gets: one protocol, deadlines, no signals, verification.
void common_options(CURL* c, const ProbeOptions& o, const char* protocol, char* errbuf) {
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocol);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  long ms = static_cast<long>(o.timeout.count());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, std::max(1L, ms / 1000));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
}

std::string curl_error(CURLcode rc, const char* errbuf) {
  return errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
}

// ---- DNS ----

Result<dns::Reply> query(const ProbeOptions& o, const std::string& name, ldns_rr_type type) {
  dns::ClientOptions c;
  c.server = *o.dns;
  c.timeout = o.timeout;
  dns::PktPtr q = dns::make_query(name, type);
  ldns_pkt_set_rd(q.get(), true);  // as a sending MTA asks its resolver
  return dns::exchange(c, q.get());
}

// The records of `type` at `name` in an answer, as ldns presents their fields.
std::vector<const ldns_rr*> answers(const dns::Reply& r, ldns_rr_type type) {
  std::vector<const ldns_rr*> out;
  ldns_rr_list* list = ldns_pkt_answer(r.pkt.get());
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i)
    if (ldns_rr_get_type(ldns_rr_list_rr(list, i)) == type) out.push_back(ldns_rr_list_rr(list, i));
  return out;
}

// The addresses of `host` (A, then AAAA).
Result<std::vector<std::string>> addresses(const ProbeOptions& o, const std::string& host) {
  std::vector<std::string> out;
  for (ldns_rr_type t : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
    auto r = query(o, host, t);
    if (!r.ok()) return r.error();
    for (const ldns_rr* rr : answers(*r, t)) out.push_back(dns::rdf_text(ldns_rr_rdf(rr, 0)));
  }
  return out;
}

// The MX hosts of `domain` by preference, each address a target (RFC 5321 5.1).
Result<std::vector<Target>> mx_targets(const ProbeOptions& o, const std::string& domain) {
  const std::string at = " at " + o.dns->text;
  auto r = query(o, domain, LDNS_RR_TYPE_MX);
  if (!r.ok()) return r.error();
  if (r->rcode != LDNS_RCODE_NOERROR)
    return Error::NotFound("no MX for " + domain + at + ": " + dns::rcode_name(r->rcode));
  std::vector<std::pair<int, std::string>> mx;
  for (const ldns_rr* rr : answers(*r, LDNS_RR_TYPE_MX))
    mx.emplace_back(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)),
                    canonical_dns_name(dns::rdf_text(ldns_rr_rdf(rr, 1))));
  std::stable_sort(mx.begin(), mx.end());
  bool implicit = mx.empty();
  if (implicit) mx.emplace_back(0, domain);  // no MX: the domain itself
  std::vector<Target> out;
  for (const auto& [pref, host] : mx) {
    if (host == "." || host.empty())
      return Error::NotFound(domain + " accepts no mail: its MX is \".\" (RFC 7505)" + at);
    auto addrs = addresses(o, host);
    if (!addrs.ok()) return addrs.error();
    std::string name = host.back() == '.' ? host.substr(0, host.size() - 1) : host;
    for (const auto& a : *addrs)
      out.push_back({name, a, 25, (implicit ? "host " : "MX ") + name + " (" + a + ":25)"});
  }
  if (out.empty())
    return Error::NotFound(implicit ? "no MX for " + domain + at + ", and no address record"
                                    : "the MX hosts of " + domain + " have no address" + at);
  return out;
}

// ---- SMTP ----

struct Upload {
  std::string_view rest;
};
size_t read_message(char* buf, size_t size, size_t n, void* p) {
  auto* u = static_cast<Upload*>(p);
  size_t k = std::min(size * n, u->rest.size());
  std::copy_n(u->rest.data(), k, buf);
  u->rest.remove_prefix(k);
  return k;
}

// The session's commands and replies (never the message, which libcurl reports as data; no
// AUTH is ever sent, so no line carries a credential).
int record(CURL*, curl_infotype type, char* data, size_t n, void* p) {
  auto* t = static_cast<std::vector<TranscriptLine>*>(p);
  if (type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT)
    add_transcript(*t, type == CURLINFO_HEADER_IN, std::string_view(data, n));
  return 0;
}

struct SmtpOutcome {
  bool accepted = false;
  bool permanent = false;  // a 5xx reply: other MX hosts would say the same
  std::string detail;
};

SmtpOutcome send(const ProbeOptions& o, const Target& t, const ProbeRequest& req,
                 const std::string& message) {
  CurlPtr c(curl_easy_init());
  if (!c) return {false, false, "libcurl could not start a session"};
  char errbuf[CURL_ERROR_SIZE] = {0};
  common_options(c.get(), o, "smtp", errbuf);
  std::string url = "smtp://" + url_host(t.host) + ":" + std::to_string(t.port) + "/" + o.helo;
  SlistPtr resolve;
  if (!t.ip.empty())
    resolve.reset(curl_slist_append(
        nullptr, (t.host + ":" + std::to_string(t.port) + ":" + url_host(t.ip)).c_str()));
  SlistPtr rcpt(curl_slist_append(nullptr, ("<" + req.to + ">").c_str()));
  std::string from = "<" + req.from + ">";
  Upload up{message};
  std::vector<TranscriptLine> transcript;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_RESOLVE, resolve.get());
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);
  curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                   o.smtp_tls == Tls::kOff   ? CURLUSESSL_NONE
                   : o.smtp_tls == Tls::kTry ? CURLUSESSL_TRY
                                             : CURLUSESSL_ALL);
  curl_easy_setopt(c.get(), CURLOPT_VERBOSE, 1L);  // to record(), not to stderr
  curl_easy_setopt(c.get(), CURLOPT_DEBUGFUNCTION, record);
  curl_easy_setopt(c.get(), CURLOPT_DEBUGDATA, &transcript);
  CURLcode rc = curl_easy_perform(c.get());
  if (rc == CURLE_OK) return {true, false, {}};
  std::string step = failed_step(transcript);
  int code = last_reply_code(transcript);
  std::string why;
  if (rc == CURLE_OPERATION_TIMEDOUT)
    why = (step.empty() ? "no greeting" : step) + " (no answer within " +
          std::to_string(o.timeout.count() / 1000) + " s)";
  else if (code >= 400)
    why = step;
  else
    why = curl_error(rc, errbuf) + (step.empty() ? "" : " (after " + step + ")");
  return {false, code >= 500, t.label + ": " + why};
}

// ---- IMAP ----

// Searches the recipient's INBOX for the probe until `deadline`, deleting what it finds.
Result<bool> find_and_delete(const ProbeOptions& o, const ProbeRequest& req, const std::string& id,
                             Clock::time_point deadline) {
  CurlPtr c(curl_easy_init());
  if (!c) return Error::Internal("libcurl could not start a session");
  char errbuf[CURL_ERROR_SIZE] = {0};
  common_options(c.get(), o, "imap", errbuf);
  std::string url = "imap://" + req.imap_server + "/INBOX";
  std::string user = req.imap_user.empty() ? req.to : req.imap_user;
  std::string body;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_USERNAME, user.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PASSWORD, req.imap_password.c_str());
  curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                   o.allow_insecure_imap ? CURLUSESSL_TRY : CURLUSESSL_ALL);
  curl_easy_setopt(
      c.get(), CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* p) {
        auto* b = static_cast<std::string*>(p);
        if (b->size() < (1u << 20)) b->append(d, s * n);
        return s * n;
      });
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  auto command = [&](const std::string& cmd) -> Status {
    body.clear();
    errbuf[0] = 0;
    curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, cmd.c_str());
    CURLcode rc = curl_easy_perform(c.get());
    if (rc == CURLE_OK) return {};
    return Error::Transient("IMAP " + req.imap_server + " as " + user + ": " +
                            curl_error(rc, errbuf));
  };
  auto pause = std::chrono::milliseconds(100);
  for (;;) {
    CONVERGE_TRY(command("UID SEARCH HEADER X-Converge-Probe " + id));
    std::vector<uint64_t> uids = parse_search(body);
    if (!uids.empty()) {
      for (uint64_t uid : uids)
        CONVERGE_TRY(command("UID STORE " + std::to_string(uid) + " +FLAGS.SILENT (\\Deleted)"));
      CONVERGE_TRY(command("EXPUNGE"));
      return true;
    }
    if (Clock::now() + pause > deadline) return false;
    std::this_thread::sleep_for(pause);  // waiting for delivery, not for a thread
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace

ProbeResult run_probe(const ProbeOptions& o, const ProbeRequest& req) {
  auto domain = address_domain(req.to);
  if (!domain.ok()) return {"failed", domain.error().message};
  if (auto f = address_domain(req.from); !f.ok()) return {"failed", f.error().message};
  std::vector<Target> targets;
  if (!req.server.empty()) {
    auto s = dns::parse_server(req.server);
    if (!s.ok()) return {"failed", "server: " + s.error().message};
    uint16_t port = req.server.find(':') == std::string::npos ? 25 : s->port;
    targets.push_back({s->host, {}, port, "server " + s->host + ":" + std::to_string(port)});
  } else if (!o.dns) {
    return {"failed", "no dns_server to look up the MX of " + *domain + " (or set server)"};
  } else {
    auto t = mx_targets(o, *domain);
    if (!t.ok()) return {"failed", t.error().message};
    targets = std::move(*t);
  }
  std::string id = probe_id();
  std::string message = compose_message(req.from, req.to, id, rfc5322_now());
  std::string failures;
  const Target* used = nullptr;
  for (const auto& t : targets) {
    SmtpOutcome s = send(o, t, req, message);
    spdlog::debug("mail: probe {} via {}: {}", id, t.label, s.accepted ? "accepted" : s.detail);
    if (s.accepted) {
      used = &t;
      break;
    }
    failures += (failures.empty() ? "" : "; ") + s.detail;
    if (s.permanent) break;
  }
  if (!used) return {"failed", failures};
  if (!req.delivered) return {"accepted", {}};
  auto found = find_and_delete(o, req, id, Clock::now() + req.wait);
  if (!found.ok()) return {"accepted", "accepted by " + used->label + "; " + found.error().message};
  if (!*found)
    return {"accepted", "accepted by " + used->label + ", but not in " + req.to + "'s INBOX at " +
                            req.imap_server + " after " + std::to_string(req.wait.count()) + " s"};
  return {"delivered", {}};
}

}  // namespace converge::mail
