// Zone transfers checked message by message (TransferReader): the limits on records, messages
// and octets over crafted streams; the chain of TSIG signatures over streams signed in-process
// and over transfers recorded from BIND (tests/dns/fuzz_corpus_tsig, the TSIG fuzz target's seeds).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "providers/dns/dns_answer.h"
#include "providers/dns/dns_replay_test_support.h"
#include "providers/dns/dns_test_util.h"

using namespace converge;
using namespace converge::dns;
using namespace converge::dns::test;

namespace {

using Wire = std::vector<uint8_t>;

Wire wire_of(const ldns_pkt* p) {
  uint8_t* raw = nullptr;
  size_t n = 0;
  REQUIRE(ldns_pkt2wire(&raw, p, &n) == LDNS_STATUS_OK);
  Wire w(raw, raw + n);
  std::free(raw);
  return w;
}

PktPtr signed_query(const std::string& zone, const std::optional<TsigKey>& key) {
  PktPtr q = make_query(zone, LDNS_RR_TYPE_AXFR);
  if (key)
    REQUIRE(ldns_pkt_tsig_sign(q.get(), key->name.c_str(), key->secret.c_str(), 300,
                               key->algorithm.c_str(), nullptr) == LDNS_STATUS_OK);
  return q;
}

// An answer to `q` as a server streams it: the SOA, `records` A records, the SOA again,
// `per_message` records to a message. With a key, signed as a server signs: the first message
// over the request's MAC, each later one over the previous MAC with the timers only; the message
// at index `unsigned_at` is left unsigned.
std::vector<Wire> stream(const ldns_pkt* q, size_t records, size_t per_message,
                         const std::optional<TsigKey>& key = std::nullopt,
                         size_t unsigned_at = SIZE_MAX) {
  std::vector<std::string> rrs = {"fake.test. 300 IN SOA ns.fake.test. h.fake.test. 1 2 3 4 5"};
  for (size_t i = 0; i < records; ++i)
    rrs.push_back("h" + std::to_string(i) + ".fake.test. 300 IN A 192.0.2." +
                  std::to_string(i % 250 + 1));
  rrs.push_back(rrs.front());
  std::vector<PktPtr> msgs;
  for (size_t i = 0; i < rrs.size(); ++i) {
    if (i % per_message == 0) msgs.push_back(reply_to(q, LDNS_RCODE_NOERROR));
    add_answer(msgs.back().get(), rrs[i]);
  }
  RdfPtr mac;
  if (const ldns_rr* t = ldns_pkt_tsig(q)) mac.reset(ldns_rdf_clone(ldns_rr_rdf(t, 3)));
  std::vector<Wire> out;
  for (size_t i = 0; i < msgs.size(); ++i) {
    ldns_pkt* m = msgs[i].get();
    if (key && i != unsigned_at) {
      if (i == 0)
        ldns_pkt_tsig_sign(m, key->name.c_str(), key->secret.c_str(), 300, key->algorithm.c_str(),
                           mac.get());
      else
        ldns_pkt_tsig_sign_next(m, key->name.c_str(), key->secret.c_str(), 300,
                                key->algorithm.c_str(), mac.get(), 1);
      mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(m), 3)));
    }
    out.push_back(wire_of(m));
  }
  return out;
}

ClientOptions options(const std::optional<TsigKey>& key, TransferLimits limits = {}) {
  ClientOptions opt;
  opt.server.text = "127.0.0.1:53";
  opt.key = key;
  opt.limits = limits;
  return opt;
}

// Feeds `msgs` until done or rejected: the rejection, if any; `accepted` counts the others.
std::optional<Error> feed(TransferReader& r, const std::vector<Wire>& msgs, size_t* accepted) {
  *accepted = 0;
  for (const auto& m : msgs) {
    if (r.done()) break;
    Status s = r.add(m.data(), m.size());
    if (!s.ok()) return s.error();
    ++*accepted;
  }
  return std::nullopt;
}

Recording recorded(const std::string& name) {
  std::string path = std::string(CONVERGE_SOURCE_DIR) + "/tests/dns/fuzz_corpus_tsig/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  Wire data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_recording(data.data(), data.size());
}

}  // namespace

TEST_SUITE("transfers") {
  TEST_CASE(
      "a transfer within the limits is read whole, its records, messages and octets counted") {
    PktPtr q = signed_query("fake.test", std::nullopt);
    auto msgs = stream(q.get(), 10, 3);  // 12 records: 4 messages
    ClientOptions opt = options(std::nullopt);
    TransferReader r(opt, "fake.test.", q.get());
    size_t accepted = 0;
    CHECK_FALSE(feed(r, msgs, &accepted));
    CHECK(r.done());
    CHECK(accepted == 4);
    size_t bytes = 0;
    for (const auto& m : msgs) bytes += m.size() + 2;
    CHECK(r.transfer().messages == 4);
    CHECK(r.transfer().records == 11);  // the closing SOA is not a record of the zone
    CHECK(r.transfer().bytes == bytes);
  }

  TEST_CASE("each limit stops a transfer that exceeds it, naming the setting; it stays stopped") {
    PktPtr q = signed_query("fake.test", std::nullopt);
    auto msgs = stream(q.get(), 10, 3);
    size_t bytes = 0;
    for (const auto& m : msgs) bytes += m.size() + 2;
    struct Case {
      TransferLimits limits;
      const char* message;
      const char* setting;
      size_t accepted;
    };
    const std::vector<Case> cases = {
        {{1'000'000, 10, uint64_t{1} << 28},
         "is larger than 10 records",
         "max_transfer_records",
         3},
        {{3, 1'000'000, uint64_t{1} << 28},
         "is larger than 3 messages",
         "max_transfer_messages",
         3},
        {{1'000'000, 1'000'000, bytes - 1}, "octets", "max_transfer_bytes", 3},
    };
    for (const auto& c : cases) {
      INFO(c.setting);
      ClientOptions opt = options(std::nullopt, c.limits);
      TransferReader r(opt, "fake.test.", q.get());
      size_t accepted = 0;
      auto e = feed(r, msgs, &accepted);
      REQUIRE(e);
      CHECK(e->kind == ErrorKind::kInvalid);
      CHECK(e->message.rfind("the transfer of fake.test. from 127.0.0.1:53 is larger than", 0) ==
            0);
      CHECK(e->message.find(c.message) != std::string::npos);
      CHECK(e->hint.find(c.setting) != std::string::npos);
      CHECK(accepted == c.accepted);
      CHECK_FALSE(r.done());
      CHECK_FALSE(r.add(msgs.back().data(), msgs.back().size()).ok());  // stays failed
    }
  }

  TEST_CASE("a provider's transfer limits come from its settings; bad ones are named") {
    FakeServer s(
        [](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          PktPtr r = reply_to(q, LDNS_RCODE_NOERROR);
          add_answer(r.get(), "fake.test. 300 IN SOA ns.fake.test. h.fake.test. 1 2 3 4 5");
          for (int i = 1; i <= 5; ++i)
            add_answer(r.get(), "h" + std::to_string(i) + ".fake.test. 300 IN A 192.0.2.1");
          add_answer(r.get(), "fake.test. 300 IN SOA ns.fake.test. h.fake.test. 1 2 3 4 5");
          out.push_back(std::move(r));
          return out;
        },
        test_key());
    setenv("CONVERGE_DNS_TRANSFER_SECRET", test_key().secret.c_str(), 1);
    std::map<std::string, Value> settings = {
        {"server", Value::Str(s.server())},
        {"tsig_name", Value::Str(test_key().name)},
        {"tsig_secret", Value::Str("env:CONVERGE_DNS_TRANSFER_SECRET")},
        {"max_transfer_records", Value::Int(4)}};
    auto p = make(config(settings));
    REQUIRE(p.ok());
    Res www = record("h1", "fake.test", "A", {"192.0.2.1"});
    auto resp = observe(**p, {&www});
    REQUIRE(resp.results[0].error);
    CHECK(resp.results[0].error->message ==
          "cannot transfer zone fake.test.: the transfer of fake.test. from " + s.server() +
              " is larger than 4 records");
    CHECK(resp.results[0].error->hint.find("max_transfer_records") != std::string::npos);

    settings["max_transfer_records"] = Value::Int(6);
    p = make(config(settings));
    REQUIRE(p.ok());
    resp = observe(**p, {&www});
    CHECK_FALSE(resp.results[0].error);
    CHECK(resp.results[0].exists);

    for (const auto& [k, v, msg] : std::vector<std::tuple<std::string, Value, std::string>>{
             {"max_transfer_bytes", Value::Int(100), "must be an integer from 512"},
             {"max_transfer_messages", Value::Int(0), "must be an integer from 1"},
             {"max_transfer_records", Value::Str("many"), "must be an integer from 1"},
             {"transfer_timeout", Value::Int(0), "must be an integer from 1 to 3600"}}) {
      auto bad = settings;
      bad[k] = v;
      auto e = make(config(bad));
      REQUIRE_FALSE(e.ok());
      CHECK(e.error().message.find(k + ": " + msg) == 0);
    }
  }

  TEST_CASE("signed transfers: every message must be signed over the chain of MACs") {
    const TsigKey key = test_key();
    PktPtr q = signed_query("fake.test", key);
    ClientOptions opt = options(key);
    size_t accepted = 0;
    {
      TransferReader r(opt, "fake.test.", q.get());
      CHECK_FALSE(feed(r, stream(q.get(), 6, 2, key), &accepted));
      CHECK(r.done());
      CHECK(accepted == 4);
    }
    {  // an unsigned message after the first: RFC 8945 allows it, ldns cannot verify it
      TransferReader r(opt, "fake.test.", q.get());
      auto e = feed(r, stream(q.get(), 6, 2, key, 2), &accepted);
      REQUIRE(e);
      CHECK(e->message ==
            "the transfer from 127.0.0.1:53 contains an unsigned message; cannot "
            "verify it");
      CHECK(accepted == 2);
    }
    {  // an unsigned first message
      TransferReader r(opt, "fake.test.", q.get());
      auto e = feed(r, stream(q.get(), 6, 2, key, 0), &accepted);
      REQUIRE(e);
      CHECK(e->message.find("without a TSIG signature") != std::string::npos);
      CHECK(accepted == 0);
    }
    {  // any octet the signature covers changed on the way, or the key name in the TSIG record
      const auto msgs = stream(q.get(), 6, 2, key);
      const size_t covered = stream(q.get(), 6, 2, key, 1)[1].size();  // before the TSIG record
      const size_t owner = key.name.size() + 1;                        // "fake-key." in wire form
      for (size_t k = 0; k < covered + owner; ++k) {
        auto bad = msgs;
        bad[1][k] ^= 0x01;
        TransferReader r(opt, "fake.test.", q.get());
        auto e = feed(r, bad, &accepted);
        INFO("octet " << k);
        REQUIRE(e);
        CHECK(accepted == 1);
      }
    }
    {  // messages swapped: each is signed, but not over the MAC before it
      auto msgs = stream(q.get(), 6, 2, key);
      std::swap(msgs[1], msgs[2]);
      TransferReader r(opt, "fake.test.", q.get());
      auto e = feed(r, msgs, &accepted);
      REQUIRE(e);
      CHECK(e->message.find("does not verify") != std::string::npos);
      CHECK(accepted == 1);
    }
    {  // later messages signed with another secret
      auto good = stream(q.get(), 6, 2, key);
      auto other = stream(q.get(), 6, 2,
                          TsigKey{key.name, key.algorithm, "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldCE="});
      good[2] = other[2];
      TransferReader r(opt, "fake.test.", q.get());
      auto e = feed(r, good, &accepted);
      REQUIRE(e);
      CHECK(e->message.find("does not verify") != std::string::npos);
      CHECK(e->str().find(key.secret) == std::string::npos);
      CHECK(accepted == 2);
    }
  }

  TEST_CASE("transfers recorded from BIND verify as the provider reads them") {
    const TsigKey key = recording_key();
    const TransferLimits limits;
    {
      Recording rec = recorded("axfr_one_answer.bin");
      REQUIRE(rec.messages.size() > 4);  // one record per message: a chain of signatures
      Replay r = replay(rec, key, limits);
      CHECK_FALSE(r.error);
      CHECK(r.done);
      CHECK(r.accepted == rec.messages.size() - 1);
      CHECK(r.transfer.rcode == 0);
      CHECK(r.transfer.records == 9);  // SOA, NS, ns A, h1..h4 A, MX, TXT
      // The same messages an hour later: the signature is a replay.
      rec.now += 3600;
      Replay late = replay(rec, key, limits);
      REQUIRE(late.error);
      CHECK(late.error->message.find("s away from this host's clock") != std::string::npos);
    }
    {
      Replay r = replay(recorded("axfr_many_answers.bin"), key, limits);
      CHECK_FALSE(r.error);
      CHECK(r.done);
      CHECK(r.accepted == 1);
      CHECK(r.transfer.records == 9);
    }
    {
      Replay r = replay(recorded("axfr_refused.bin"), key, limits);
      CHECK_FALSE(r.error);
      CHECK(r.done);
      CHECK(r.transfer.rcode == LDNS_RCODE_REFUSED);
    }
    struct Bad {
      const char* file;
      const char* message;
      size_t accepted;
    };
    for (const Bad& b : std::vector<Bad>{
             {"axfr_badkey.bin", "BADKEY", 0},
             {"axfr_badsig.bin", "BADSIG", 0},
             {"unsigned_first.bin", "without a TSIG signature", 0},
             {"unsigned_second.bin", "contains an unsigned message", 1},
             {"badmac_second.bin", "does not verify", 1},
             {"swapped.bin", "does not verify", 1},
             {"replayed_first.bin", "does not verify", 1},
         }) {
      INFO(b.file);
      Replay r = replay(recorded(b.file), key, limits);
      REQUIRE(r.error);
      CHECK(r.error->message.find(b.message) != std::string::npos);
      CHECK(r.accepted == b.accepted);
      CHECK(r.error->str().find(key.secret) == std::string::npos);
    }
    Replay cut = replay(recorded("truncated.bin"), key, limits);
    CHECK_FALSE(cut.error);
    CHECK_FALSE(cut.done);
  }
}
