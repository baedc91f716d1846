#include "providers/mail/mail_text.h"

#include <charconv>
#include <ctime>
#include <random>

namespace converge::mail {

Result<std::string> address_domain(std::string_view a) {
  auto bad = [&](const std::string& why) {
    return Error::Invalid("'" + std::string(a) + "' is not a mail address: " + why,
                          "write local@domain");
  };
  for (unsigned char c : a)
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == '"' || c == '\\')
      return bad("it holds a space, a control character or one of <>(),;\"\\");
  size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return bad("no local@domain");
  std::string d(a.substr(at + 1));
  if (d.back() == '.') d.pop_back();
  if (d.empty() || d.find("..") != std::string::npos || d.front() == '.')
    return bad("the domain is empty");
  for (auto& c : d) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return d;
}

std::string compose_message(std::string_view from, std::string_view to, std::string_view id,
                            std::string_view date) {
  std::string m;
  auto line = [&](std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    m.append(a).append(b).append(c).append("\r\n");
  };
  line("From: <", from, ">");
  line("To: <", to, ">");
  line("Subject: converge smtp_probe ", id);
  line("Date: ", date);
  line("Message-ID: <", id, "@converge.invalid>");
  line("X-Converge-Probe: ", id);
  line("MIME-Version: 1.0");
  line("Content-Type: text/plain; charset=us-ascii");
  line("");
  line("This message tests mail flow (converge smtp_probe ", id, ").");
  line("converge deletes it from the mailbox when it finds it there.");
  return m;
}

std::string rfc5322_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string probe_id() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int k = 0; k < 8; ++k, v >>= 4) id += hex[v & 15];
  }
  return id;
}

void add_transcript(std::vector<TranscriptLine>& out, bool from_server, std::string_view b) {
  while (!b.empty()) {
    size_t nl = b.find('\n');
    std::string_view line = b.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out.push_back({from_server, std::string(line.substr(0, 512))});
    if (nl == std::string_view::npos) break;
    b.remove_prefix(nl + 1);
  }
}

namespace {
// The session up to the QUIT libcurl sends after a failure, which is not the failing step.
std::vector<TranscriptLine> before_quit(const std::vector<TranscriptLine>& t) {
  for (size_t i = t.size(); i-- > 0;)
    if (!t[i].from_server) {
      std::string c = t[i].text.substr(0, 4);
      for (auto& ch : c) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
      return c == "QUIT" ? std::vector<TranscriptLine>(t.begin(), t.begin() + i) : t;
    }
  return t;
}
// Index of the last line we sent, or t.size() when we sent nothing.
size_t last_command(const std::vector<TranscriptLine>& t) {
  for (size_t i = t.size(); i-- > 0;)
    if (!t[i].from_server) return i;
  return t.size();
}
}  // namespace

std::string failed_step(const std::vector<TranscriptLine>& all) {
  const std::vector<TranscriptLine> t = before_quit(all);
  size_t cmd = last_command(t);
  size_t from = cmd == t.size() ? 0 : cmd + 1;
  std::string reply;
  for (size_t i = from; i < t.size(); ++i) {
    if (!reply.empty()) reply += " ";
    // "250-PIPELINING" continuation lines read as "250 PIPELINING".
    std::string s = t[i].text;
    if (s.size() > 3 && s[3] == '-') s[3] = ' ';
    reply += s;
  }
  if (cmd == t.size()) return reply.empty() ? "" : "greeting: " + reply;
  return t[cmd].text + ": " + (reply.empty() ? "no reply" : reply);
}

int last_reply_code(const std::vector<TranscriptLine>& all) {
  const std::vector<TranscriptLine> t = before_quit(all);
  size_t cmd = last_command(t);
  size_t i = cmd == t.size() ? 0 : cmd + 1;
  if (i >= t.size() || t[i].text.size() < 3) return 0;
  int code = 0;
  auto r = std::from_chars(t[i].text.data(), t[i].text.data() + 3, code);
  return r.ec == std::errc() && r.ptr == t[i].text.data() + 3 ? code : 0;
}

std::vector<uint64_t> parse_search(std::string_view a) {
  std::vector<uint64_t> out;
  while (!a.empty()) {
    size_t nl = a.find('\n');
    std::string_view line = a.substr(0, nl);
    a = nl == std::string_view::npos ? std::string_view() : a.substr(nl + 1);
    constexpr std::string_view kTag = "* SEARCH";
    if (line.substr(0, kTag.size()) != kTag) continue;
    line.remove_prefix(kTag.size());
    while (!line.empty()) {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\r')) line.remove_prefix(1);
      uint64_t v = 0;
      auto r = std::from_chars(line.data(), line.data() + line.size(), v);
      if (r.ec != std::errc() || r.ptr == line.data()) break;
      if (v != 0) out.push_back(v);
      line.remove_prefix(static_cast<size_t>(r.ptr - line.data()));
    }
  }
  return out;
}

}  // namespace converge::mail
