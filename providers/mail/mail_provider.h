// The mail provider: smtp_probe as a real check, over SMTP and IMAP with libcurl.
//
//   [provider.mail]
//   type = "mail"
//   dns_server = "127.0.0.1:53"        # host:port where the recipient domain's MX is looked up
//                                      # (e.g. the dns provider's server); not needed when every
//                                      # probe names its `server`
//   # helo = "converge.target.local"   # the EHLO name (default: this host's name)
//   # starttls = "try"                 # "try" (default, as MTAs do), "required" or "off"
//   # ca_file = "ca.pem"               # CA for the servers' certificates (always verified)
//   # allow_insecure_imap = true       # IMAP login without STARTTLS (refused otherwise)
//   # timeout = 30                     # seconds per DNS exchange, SMTP session, IMAP command
//
// Observation of a probe sends one message: MX hosts by preference (the domain's own address
// when it has no MX, as RFC 5321 says), the first that answers; a permanent refusal (5xx) ends the
// probe. With expect = "delivered" the recipient's mailbox is searched for the message's probe id
// until `wait` seconds have passed, and the message is deleted when found. The IMAP password is
// resolved for the search only and never appears in output, logs or errors.
#pragma once

#include <memory>

#include "engine/api/provider.h"

namespace converge::mail {

ProviderKind kind();
Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg);

}  // namespace converge::mail
