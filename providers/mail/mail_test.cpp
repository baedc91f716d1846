// The mail provider without servers: the probe message, SMTP transcripts and IMAP answers, its
// settings, and a server that accepts the connection and never answers (within the deadline).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "providers/mail/mail_probe.h"
#include "providers/mail/mail_provider.h"
#include "providers/mail/mail_text.h"

using namespace converge;
using namespace converge::mail;

TEST_CASE("mail addresses: the domain, lower-cased; what cannot go into a command is refused") {
  CHECK(*address_domain("qmm-test@Target.Local.") == "target.local");
  CHECK(*address_domain("a@b@c.example") == "c.example");
  for (const char* bad :
       {"", "nobody", "@x", "x@", "a b@x", "a@x>\r\nRCPT TO:<y@z", "a@..", "a@.x"})
    CHECK_FALSE(address_domain(bad).ok());
}

TEST_CASE("the probe message carries its id in headers a search can find, CRLF lines") {
  std::string m = compose_message("a@s.local", "b@t.local", "0123abcd", "Thu, 03 Dec 2026");
  CHECK(m.find("X-Converge-Probe: 0123abcd\r\n") != std::string::npos);
  CHECK(m.find("Message-ID: <0123abcd@converge.invalid>\r\n") != std::string::npos);
  CHECK(m.find("\r\n\r\n") != std::string::npos);
  CHECK(m.find("\n") == m.find("\r\n") + 1);
  CHECK(probe_id().size() == 32);
  CHECK(probe_id() != probe_id());
}

TEST_CASE("the failed step: the last command and the server's reply to it") {
  std::vector<TranscriptLine> t;
  CHECK(failed_step(t).empty());
  CHECK(last_reply_code(t) == 0);
  add_transcript(t, true, "220 mx.target.local ESMTP Postfix\r\n");
  CHECK(failed_step(t) == "greeting: 220 mx.target.local ESMTP Postfix");
  add_transcript(t, false, "EHLO probe\r\n");
  add_transcript(t, true, "250-mx.target.local\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  add_transcript(t, false, "MAIL FROM:<a@s.local>\r\n");
  add_transcript(t, true, "250 2.1.0 Ok\r\n");
  add_transcript(t, false, "RCPT TO:<x@target.local>\r\n");
  add_transcript(t, true, "550 5.1.1 <x@target.local>: Recipient address rejected\r\n");
  CHECK(failed_step(t) ==
        "RCPT TO:<x@target.local>: 550 5.1.1 <x@target.local>: Recipient "
        "address rejected");
  CHECK(last_reply_code(t) == 550);
  // libcurl says QUIT after a refusal: the failing step is still the RCPT.
  add_transcript(t, false, "QUIT\r\n");
  add_transcript(t, true, "221 2.0.0 Bye\r\n");
  CHECK(failed_step(t).find("RCPT TO:<x@target.local>: 550 5.1.1") == 0);
  CHECK(last_reply_code(t) == 550);
}

TEST_CASE("IMAP SEARCH answers: the numbers of '* SEARCH' lines, nothing else") {
  CHECK(parse_search("* SEARCH 3 17\r\n").size() == 2);
  CHECK(parse_search("* SEARCH 3 17\r\n")[1] == 17);
  CHECK(parse_search("* SEARCH\r\n").empty());
  CHECK(parse_search("* 3 EXISTS\r\n* SEARCH 9\r\n* SEARCH x 1\r\n") == std::vector<uint64_t>{9});
  CHECK(parse_search("* SEARCH 99999999999999999999999\r\n").empty());
}

TEST_CASE("settings: unknown, malformed and unreadable ones are errors naming the setting") {
  ProviderConfig c;
  c.name = "mail";
  c.type = "mail";
  auto err = [&](AttrMap s) {
    c.settings = std::move(s);
    auto p = make(c);
    return p.ok() ? std::string() : p.error().message;
  };
  CHECK(err({}) == "");
  CHECK(err({{"relay", Value::Str("x")}}).find("relay: unknown setting") == 0);
  CHECK(err({{"dns_server", Value::Str("127.0.0.1:99999")}}).find("dns_server:") == 0);
  CHECK(err({{"starttls", Value::Str("maybe")}}).find("starttls: must be") == 0);
  CHECK(err({{"timeout", Value::Int(0)}}).find("timeout: must be") == 0);
  CHECK(err({{"helo", Value::Str("a b")}}).find("helo: must be") == 0);
  CHECK(err({{"ca_file", Value::Str("/nonexistent/ca.pem")}}).find("ca_file: cannot read") == 0);
  CHECK(kind().serves == std::vector<std::string>{"smtp_probe"});
}

TEST_CASE("a server that accepts and never answers fails the probe within its deadline") {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(s, 4) == 0);  // the kernel completes the handshake; nobody ever speaks
  socklen_t len = sizeof a;
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ProbeOptions o;
  o.helo = "probe.test";
  o.timeout = std::chrono::seconds(1);
  ProbeRequest r;
  r.from = "a@source.local";
  r.to = "b@target.local";
  r.delivered = false;
  r.server = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto t0 = std::chrono::steady_clock::now();
  ProbeResult res = run_probe(o, r);
  auto took = std::chrono::steady_clock::now() - t0;
  close(s);
  CHECK(res.reached == "failed");
  CHECK(res.detail.find("server 127.0.0.1:") == 0);
  CHECK(res.detail.find("no greeting") != std::string::npos);
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("without a DNS server or an explicit server the probe says what is missing") {
  ProbeOptions o;
  ProbeRequest r;
  r.from = "a@source.local";
  r.to = "b@target.local";
  ProbeResult res = run_probe(o, r);
  CHECK(res.reached == "failed");
  CHECK(res.detail.find("no dns_server") == 0);
}
