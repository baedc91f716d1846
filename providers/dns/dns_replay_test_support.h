// Recorded zone transfers, replayed through the TransferReader exactly as axfr() feeds it: the
// input of the TSIG fuzz target (dns_tsig_fuzz.cpp) and of the unit tests that check the
// recordings in tests/dns/fuzz_corpus_tsig (made by tests/dns/make_tsig_corpus.sh from BIND).
// Test support only: nothing in the provider uses it.
//
// A recording is
//   8 octets   the Unix time (big-endian) the TSIG time window is checked against
//   messages   as they go over TCP, each after a two-octet length: first the AXFR request as the
//              client signed it, then the server's answer messages in order.
// Bytes after the last whole message are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "providers/dns/dns_answer.h"
#include "providers/dns/dns_client.h"
#include "providers/dns/dns_key_file.h"

namespace converge::dns::test {

struct Recording {
  int64_t now = 0;
  std::vector<std::vector<uint8_t>> messages;  // the request, then the answers
};

inline Recording parse_recording(const uint8_t* data, size_t size) {
  Recording r;
  if (size < 8) return r;
  for (int i = 0; i < 8; ++i) r.now = (r.now << 8) | data[i];
  for (size_t at = 8; at + 2 <= size;) {
    size_t len = static_cast<size_t>(data[at]) << 8 | data[at + 1];
    if (at + 2 + len > size) break;
    r.messages.emplace_back(data + at + 2, data + at + 2 + len);
    at += 2 + len;
  }
  return r;
}

inline std::vector<uint8_t> write_recording(const Recording& r) {
  std::vector<uint8_t> out;
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(r.now >> (8 * i)));
  for (const auto& m : r.messages) {
    out.push_back(static_cast<uint8_t>(m.size() >> 8));
    out.push_back(static_cast<uint8_t>(m.size() & 0xFF));
    out.insert(out.end(), m.begin(), m.end());
  }
  return out;
}

// The key the recordings are signed with; make_tsig_corpus.sh configures BIND with it.
inline TsigKey recording_key() {
  return {"converge-fuzz.", "hmac-sha256.", "Y29udmVyZ2UtZnV6ei1rZXktMzItb2N0ZXRzLWxvbmc="};
}

struct Replay {
  bool request_ok = false;  // the first message parsed as a DNS message
  size_t accepted = 0;      // answer messages the reader accepted
  std::optional<Error> error;
  bool done = false;
  Transfer transfer;
};

inline ClientOptions replay_options(const Recording& rec, const TsigKey& key,
                                    const TransferLimits& limits) {
  ClientOptions opt;
  opt.server.text = "127.0.0.1:53";
  opt.key = key;
  opt.limits = limits;
  int64_t now = rec.now;
  opt.clock = [now] { return now; };
  return opt;
}

// The answers of `rec` through a TransferReader for the request's zone, stopping where axfr()
// stops: at the first rejection or when the transfer is done.
inline Replay replay(const Recording& rec, const TsigKey& key, const TransferLimits& limits) {
  Replay out;
  if (rec.messages.empty()) return out;
  PktPtr request;
  if (parse_wire(rec.messages[0].data(), rec.messages[0].size(), &request) != LDNS_STATUS_OK)
    return out;
  out.request_ok = true;
  ClientOptions opt = replay_options(rec, key, limits);
  TransferReader reader(opt, "recorded.zone.", request.get());
  for (size_t i = 1; i < rec.messages.size() && !reader.done(); ++i) {
    Status s = reader.add(rec.messages[i].data(), rec.messages[i].size());
    if (!s.ok()) {
      out.error = s.error();
      break;
    }
    ++out.accepted;
  }
  out.done = reader.done();
  out.transfer = reader.take();
  return out;
}

}  // namespace converge::dns::test
