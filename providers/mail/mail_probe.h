// One smtp_probe against real servers: the recipient domain's MX hosts found through a DNS
// server the manifest names (or an explicit server), an SMTP transaction with libcurl, and for
// expect = "delivered" the message found by its probe id over IMAP (libcurl) and deleted.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "providers/dns/dns_client.h"

namespace converge::mail {

enum class Tls { kOff, kTry, kRequired };

struct ProbeOptions {
  std::optional<dns::Endpoint> dns;          // where MX and address records are looked up
  std::string helo;                          // the name converge gives in EHLO
  Tls smtp_tls = Tls::kTry;                  // STARTTLS: opportunistic by default, as between MTAs
  bool allow_insecure_imap = false;          // IMAP logins need STARTTLS unless this is set
  std::string ca_file;                       // certificates are always verified; empty: system CAs
  std::chrono::milliseconds timeout{30000};  // each DNS exchange, SMTP session, IMAP command
};

struct ProbeRequest {
  std::string from, to;
  bool delivered = true;  // expect = "delivered": find it over IMAP too
  std::string server;     // host[:port] instead of MX resolution; empty: resolve
  std::string imap_server, imap_user, imap_password;
  std::chrono::seconds wait{30};
};

struct ProbeResult {
  std::string reached;  // "failed", "accepted" or "delivered"
  std::string detail;   // which step failed, with the server's reply and the host tried
};

// Runs the probe. Every network step ends within opt.timeout; the IMAP search within req.wait.
ProbeResult run_probe(const ProbeOptions& opt, const ProbeRequest& req);

}  // namespace converge::mail
