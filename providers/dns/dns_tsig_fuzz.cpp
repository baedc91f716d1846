// libFuzzer target for the TSIG/AXFR verifier: the input is a recorded zone transfer (the format
// of dns_replay_test_support.h: a clock, the signed AXFR request, the server's answers,
// length-prefixed as on TCP), fed through TransferReader with a fixed key exactly as axfr() feeds
// what arrives. Seeds: tests/dns/fuzz_corpus_tsig (real BIND transfers,
// tests/dns/make_tsig_corpus.sh). Checked on every input:
//   - no crash, no sanitizer report;
//   - every message the reader accepts is a DNS message with the request's id that carries a TSIG
//     record whose MAC verifies against the chain that starts at the request's MAC (the first
//     over the request MAC, each later one over the previous MAC, timers only): an unsigned or
//     badly signed message after the first is never accepted;
//   - a rejection has a message, never shows the secret, and is final: the reader accepts
//     nothing after it;
//   - the transfer stays within the limits it was given.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "providers/dns/dns_answer.h"
#include "providers/dns/dns_replay_test_support.h"

namespace {

using namespace converge;
using namespace converge::dns;

void Fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "dns_tsig_fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

// Small limits, so that inputs the fuzzer can build reach every limit.
constexpr TransferLimits kLimits{16, 64, 16384};

// Whether `wire` is signed by `key` over `mac` (the first message) or over `mac` with the timers
// only (a later one), checked apart from the reader.
bool SignedOver(const std::vector<uint8_t>& wire, const TsigKey& key, const ldns_rdf* mac,
                bool later, uint16_t id, RdfPtr* next_mac) {
  PktPtr pkt;
  if (parse_wire(wire.data(), wire.size(), &pkt) != LDNS_STATUS_OK) return false;
  const ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
  if (!tsig || ldns_rr_rd_count(tsig) < 7 || ldns_pkt_id(pkt.get()) != id) return false;
  bool ok = later ? ldns_pkt_tsig_verify_next(pkt.get(), wire.data(), wire.size(), key.name.c_str(),
                                              key.secret.c_str(), mac, 1)
                  : ldns_pkt_tsig_verify(pkt.get(), wire.data(), wire.size(), key.name.c_str(),
                                         key.secret.c_str(), mac);
  next_mac->reset(ldns_rdf_clone(ldns_rr_rdf(tsig, 3)));
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  test::Recording rec = test::parse_recording(data, size);
  if (rec.messages.empty()) return 0;
  PktPtr request;
  if (parse_wire(rec.messages[0].data(), rec.messages[0].size(), &request) != LDNS_STATUS_OK)
    return 0;
  const TsigKey key = test::recording_key();
  ClientOptions opt = test::replay_options(rec, key, kLimits);
  TransferReader reader(opt, "fuzz.zone.", request.get());

  RdfPtr chain;
  if (const ldns_rr* t = ldns_pkt_tsig(request.get()); t && ldns_rr_rd_count(t) >= 4)
    chain.reset(ldns_rdf_clone(ldns_rr_rdf(t, 3)));
  const uint16_t id = ldns_pkt_id(request.get());
  for (size_t i = 1; i < rec.messages.size() && !reader.done(); ++i) {
    const auto& m = rec.messages[i];
    Status s = reader.add(m.data(), m.size());
    if (!s.ok()) {
      const Error& e = s.error();
      if (e.message.empty()) Fail("rejection without a message");
      if (e.str().find(key.secret) != std::string::npos) Fail("the secret in an error", e.str());
      if (i + 1 < rec.messages.size()) {
        const auto& next = rec.messages[i + 1];
        if (reader.add(next.data(), next.size()).ok()) Fail("accepted after a rejection");
      }
      if (reader.add(m.data(), m.size()).ok()) Fail("accepted after a rejection");
      break;
    }
    RdfPtr next;
    if (!SignedOver(m, key, chain.get(), i > 1, id, &next))
      Fail("accepted a message that is not signed over the chain", std::to_string(i));
    chain = std::move(next);
  }
  const Transfer& t = reader.transfer();
  if (t.records > kLimits.records || t.messages > kLimits.messages || t.bytes > kLimits.bytes)
    Fail("a limit was exceeded");
  if (reader.done() && t.rcode == 0 && t.sets.empty()) Fail("a complete transfer without records");
  return 0;
}
