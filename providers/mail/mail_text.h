// The text of a mail probe: the message converge sends, and what it reads back from servers
// (libcurl's SMTP transcript, IMAP SEARCH answers, MX answers). Pure functions; the parsers take
// whatever a server sent (fuzzed by mail_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"

namespace converge::mail {

// A mailbox address the probe may put in an SMTP command and a header: local@domain, printable
// ASCII or UTF-8, no spaces, brackets, CR/LF or control characters. The domain is returned
// lower-cased without a trailing dot.
Result<std::string> address_domain(std::string_view address);

// The probe message: headers carrying `id` (X-Converge-Probe, Message-ID, Subject), CRLF lines.
std::string compose_message(std::string_view from, std::string_view to, std::string_view id,
                            std::string_view date);
// The current time as an RFC 5322 Date header value (UTC).
std::string rfc5322_now();
// 32 random hex digits.
std::string probe_id();

// One line of an SMTP session as libcurl's debug callback reports it.
struct TranscriptLine {
  bool from_server = false;
  std::string text;  // without CRLF
};
// Splits what one debug callback call carried (one or more CRLF-ended lines) onto `out`.
void add_transcript(std::vector<TranscriptLine>& out, bool from_server, std::string_view bytes);
// The step that failed, as "COMMAND: REPLY" from the last command sent (not counting the QUIT
// libcurl closes with) and the reply lines that followed it (e.g. "RCPT TO:<x@target.local>:
// 550 5.1.1 ... User unknown"); the server's greeting when it refused before any command; empty
// when the server said nothing.
std::string failed_step(const std::vector<TranscriptLine>& t);
// The first reply code after that command (or of the greeting); 0 when there is none.
int last_reply_code(const std::vector<TranscriptLine>& t);

// The UIDs (or sequence numbers) an IMAP "* SEARCH n n ..." answer lists; lines of other
// responses are ignored.
std::vector<uint64_t> parse_search(std::string_view answer);

}  // namespace converge::mail
