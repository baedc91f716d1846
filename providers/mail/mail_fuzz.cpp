// libFuzzer target: what mail servers send, as the probe reads it (SMTP reply lines through the
// transcript, IMAP SEARCH answers) and addresses from manifests.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "providers/mail/mail_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<converge::mail::TranscriptLine> t;
  size_t half = size / 2;
  converge::mail::add_transcript(t, true, in.substr(0, half));
  converge::mail::add_transcript(t, false, in.substr(half, size / 4));
  converge::mail::add_transcript(t, true, in.substr(half + size / 4));
  (void)converge::mail::failed_step(t);
  (void)converge::mail::last_reply_code(t);
  (void)converge::mail::parse_search(in);
  (void)converge::mail::address_domain(in);
  return 0;
}
