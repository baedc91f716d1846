// The provider against a scripted server: settings validation, fallback to per-RRset queries
// when transfers are refused, retries of transient failures, multi-message transfers, the UPDATE
// messages it sends, and the group commit of concurrent changes. (dns_bind_test.cpp runs the
// same provider against a real BIND 9.)
#include <doctest/doctest.h>

#include <barrier>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "providers/dns/dns_client.h"
#include "providers/dns/dns_test_util.h"

using namespace converge;
using namespace converge::dns;
using namespace converge::dns::test;

namespace {

const char* kSecretEnv = "CONVERGE_DNS_UNIT_SECRET";

std::unique_ptr<Provider> provider_for(const FakeServer& s,
                                       std::map<std::string, Value> extra = {}) {
  setenv(kSecretEnv, test_key().secret.c_str(), 1);
  std::map<std::string, Value> settings = {
      {"server", Value::Str(s.server())},
      {"tsig_name", Value::Str(test_key().name)},
      {"tsig_secret", Value::Str(std::string("env:") + kSecretEnv)}};
  for (auto& [k, v] : extra) settings[k] = v;
  auto p = make(config(settings));
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? std::string() : p.error().str()));
  return std::move(*p);
}

// A zone "fake.test." with an A and an MX record.
const std::vector<std::string> kZone = {
    "fake.test. 300 IN SOA ns.fake.test. hostmaster.fake.test. 1 3600 600 86400 60",
    "www.fake.test. 600 IN A 192.0.2.1",
    "www.fake.test. 600 IN A 192.0.2.2",
    "fake.test. 300 IN MX 10 MAIL.fake.test.",
};

std::vector<PktPtr> answer_from_zone(const ldns_pkt* q) {
  std::vector<PktPtr> out;
  PktPtr r = reply_to(q, LDNS_RCODE_NOERROR);
  for (const auto& line : kZone) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, line.c_str(), 300, nullptr, nullptr) != LDNS_STATUS_OK) continue;
    RrPtr owned(rr);
    char* o = ldns_rdf2str(ldns_rr_owner(rr));
    bool match = canonical_name(o) == qname(q) && ldns_rr_get_type(rr) == qtype(q);
    std::free(o);
    if (match) ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, owned.release());
  }
  out.push_back(std::move(r));
  return out;
}

// A transfer of kZone in `messages` messages (SOA first and last).
std::vector<PktPtr> transfer(const ldns_pkt* q, size_t messages) {
  std::vector<std::string> rrs = kZone;
  rrs.push_back(kZone.front());
  std::vector<PktPtr> out;
  for (size_t m = 0; m < messages; ++m) out.push_back(reply_to(q, LDNS_RCODE_NOERROR));
  for (size_t i = 0; i < rrs.size(); ++i)
    add_answer(out[std::min(i * messages / rrs.size(), messages - 1)].get(), rrs[i]);
  return out;
}

// Each RR of a message section as one line of presentation text (tabs as spaces).
std::vector<std::string> rr_lines(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t k = 0; list && k < ldns_rr_list_rr_count(list); ++k) {
    char* t = ldns_rr2str(ldns_rr_list_rr(list, k));
    std::string line = t;
    std::free(t);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    for (auto& c : line)
      if (c == '\t') c = ' ';
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace

TEST_SUITE("settings") {
  TEST_CASE("kind") {
    ProviderKind k = kind();
    CHECK(k.type == "dns");
    CHECK(k.serves == std::vector<std::string>{"dns_zone", "dns_record"});
    CHECK(k.secret_settings == std::vector<std::string>{"tsig_secret"});
  }

  TEST_CASE("bad settings are Invalid errors naming the setting") {
    setenv(kSecretEnv, test_key().secret.c_str(), 1);
    setenv("CONVERGE_DNS_UNIT_BAD_SECRET", "not base64 at all!", 1);
    unsetenv("CONVERGE_DNS_UNIT_UNSET");
    std::string dir = "/tmp/converge-dns-unit-" + std::to_string(getpid());
    std::system(("mkdir -p " + dir).c_str());
    std::ofstream(dir + "/two.key") << "key a { algorithm hmac-sha256; secret \"YWJj\"; };\n"
                                       "key b { algorithm hmac-sha256; secret \"ZGVm\"; };\n";
    std::ofstream(dir + "/bad.key") << "key a { algorithm hmac-sha256; secret \"YWJj\"; }\n";
    std::string env_secret = std::string("env:") + kSecretEnv;
    struct Case {
      std::map<std::string, Value> settings;
      const char* error;
    };
    std::vector<Case> cases = {
        {{{"server", Value::Str("127.0.0.1:99999")}, {"allow_unsigned", Value::Bool(true)}},
         "server: server '127.0.0.1:99999' has a port out of range"},
        {{{"server", Value::Int(53)}, {"allow_unsigned", Value::Bool(true)}},
         "server: must be a string"},
        {{{"server", Value::Str("env:CONVERGE_DNS_UNIT_UNSET")},
          {"allow_unsigned", Value::Bool(true)}},
         "server: secret: environment variable CONVERGE_DNS_UNIT_UNSET is not set"},
        {{{"sever", Value::Str("127.0.0.1")}}, "sever: unknown setting of a dns provider"},
        {{}, "no TSIG key: updates are always signed"},
        {{{"allow_unsigned", Value::Str("yes")}}, "allow_unsigned: must be true or false"},
        {{{"tsig_key_file", Value::Str("missing.key")}},
         "tsig_key_file: cannot read /tmp/missing.key"},
        {{{"tsig_key_file", Value::Str(dir + "/two.key")}}, "two.key holds 2 keys"},
        {{{"tsig_key_file", Value::Str(dir + "/two.key")}, {"tsig_name", Value::Str("c")}},
         "tsig_name: no key 'c'"},
        {{{"tsig_key_file", Value::Str(dir + "/bad.key")}},
         "bad.key: line 2: expected ';', found end of file"},
        {{{"tsig_key_file", Value::Str(dir + "/two.key")}, {"tsig_secret", Value::Str(env_secret)}},
         "set either tsig_key_file or tsig_secret"},
        {{{"tsig_secret", Value::Str(env_secret)}}, "tsig_name: is required with tsig_secret"},
        {{{"tsig_name", Value::Str("k")}}, "tsig_secret: is required with tsig_name"},
        {{{"tsig_name", Value::Str("k")},
          {"tsig_secret", Value::Str("env:CONVERGE_DNS_UNIT_BAD_SECRET")}},
         "tsig_secret: is not valid base64"},
        {{{"tsig_name", Value::Str("k")},
          {"tsig_secret", Value::Str("env:CONVERGE_DNS_UNIT_UNSET")}},
         "tsig_secret: secret: environment variable CONVERGE_DNS_UNIT_UNSET is not set"},
        {{{"tsig_name", Value::Str("k")},
          {"tsig_secret", Value::Str(env_secret)},
          {"tsig_algorithm", Value::Str("hmac-sha384")}},
         "tsig_algorithm: unsupported TSIG algorithm 'hmac-sha384'"},
        {{{"allow_unsigned", Value::Bool(true)}, {"timeout", Value::Int(0)}},
         "timeout: must be an integer from 1"},
        {{{"allow_unsigned", Value::Bool(true)}, {"attempts", Value::Str("3")}},
         "attempts: must be an integer"},
    };
    for (const auto& c : cases) {
      auto p = make(config(c.settings));
      INFO(c.error);
      REQUIRE_FALSE(p.ok());
      CHECK(p.error().kind == ErrorKind::kInvalid);
      CHECK(p.error().message.find(c.error) != std::string::npos);
      CHECK(p.error().str().find("not base64 at all") == std::string::npos);  // secrets never shown
      CHECK(p.error().str().find(test_key().secret) == std::string::npos);
    }
    std::system(("rm -rf " + dir).c_str());
  }

  TEST_CASE("good settings; an unreachable server is not a configuration error") {
    setenv(kSecretEnv, test_key().secret.c_str(), 1);
    auto p = make(config({{"server", Value::Str("127.0.0.1:1")},
                          {"tsig_name", Value::Str("k")},
                          {"tsig_secret", Value::Str(std::string("env:") + kSecretEnv)}}));
    REQUIRE(p.ok());
    CHECK((*p)->kind() == "dns");
    CHECK((*p)->serves("dns_record"));
    CHECK((*p)->serves("dns_zone"));
    CHECK_FALSE((*p)->serves("account"));
    CHECK_FALSE((*p)->can_create("dns_zone"));
    CHECK((*p)->can_create("dns_record"));
    CHECK((*p)->max_parallel() > 1);
  }
}

TEST_SUITE("rendering") {
  // Messages are sent as render() gives them, after ldns_pkt_tsig_sign() signed what
  // ldns_pkt2wire() gives: one byte off and the server answers BADSIG.
  TEST_CASE("render() is byte for byte libldns's rendering, compressed names in any case") {
    PktPtr u = make_update("Fake.Test");
    REQUIRE(u);
    const char* forms[] = {"host{}.fake.test. 0 NONE A",
                           "HOST{}.Fake.TEST. 0 NONE CNAME",
                           "host{}.fake.test. 300 IN A 192.0.2.1",
                           "mx{}.FAKE.test. 300 IN MX 10 Host{}.fake.test.",
                           "_sip._tcp.h{}.fake.test. 60 IN SRV 0 5 5060 host{}.FAKE.TEST.",
                           "c{}.fake.test. 60 IN CNAME other.example."};
    size_t added = 0;
    for (int i = 0; i < 400; ++i)
      for (const char* f : forms) {
        std::string line = f;
        for (size_t at; (at = line.find("{}")) != std::string::npos;)
          line.replace(at, 2, std::to_string(i % 250));  // names repeat, also after 16 KiB
        ldns_rr* rr = nullptr;
        if (line.find(" NONE ") != std::string::npos) {  // a prerequisite: no rdata
          rr = ldns_rr_new();
          ldns_rr_set_owner(rr, ldns_dname_new_frm_str(line.substr(0, line.find(' ')).c_str()));
          ldns_rr_set_type(rr, ldns_get_rr_type_by_name(line.substr(line.rfind(' ') + 1).c_str()));
          ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
        } else {
          REQUIRE(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
        }
        ldns_pkt_push_rr(u.get(), (added++ % 3) ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ANSWER, rr);
      }
    REQUIRE(ldns_pkt_tsig_sign(u.get(), test_key().name.c_str(), test_key().secret.c_str(), 300,
                               test_key().algorithm.c_str(), nullptr) == LDNS_STATUS_OK);
    auto ref = render_reference(u.get());
    REQUIRE(ref.ok());
    std::string expected(reinterpret_cast<char*>(ldns_buffer_begin(ref->get())),
                         ldns_buffer_position(ref->get()));
    CHECK(expected.size() > 16384);  // past the offsets compression pointers reach
    CHECK(expected.size() < 65535);
    // What ldns_pkt2wire gives (and so what ldns_pkt_tsig_sign signs) is the same again.
    uint8_t* wire = nullptr;
    size_t wire_size = 0;
    REQUIRE(ldns_pkt2wire(&wire, u.get(), &wire_size) == LDNS_STATUS_OK);
    CHECK(std::string(reinterpret_cast<char*>(wire), wire_size) == expected);
    std::free(wire);
    auto got = render(u.get());
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? std::string() : got.error().str()));
    std::string actual(reinterpret_cast<char*>(ldns_buffer_begin(got->get())),
                       ldns_buffer_position(got->get()));
    CHECK(actual.size() == expected.size());
    CHECK(actual == expected);
  }

  TEST_CASE("render() refuses a message over 64 KiB") {
    PktPtr u = make_update("fake.test");
    for (int i = 0; i < 3000; ++i) {
      ldns_rr* rr = nullptr;
      std::string line =
          "t" + std::to_string(i) + ".fake.test. 60 IN TXT \"" + std::string(40, 'x') + "\"";
      REQUIRE(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
      ldns_pkt_push_rr(u.get(), LDNS_SECTION_AUTHORITY, rr);
    }
    auto got = render(u.get());
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().message == kMessageTooLarge);
  }
}

TEST_SUITE("scripted") {
  TEST_CASE("one transfer per zone, shared by its records; values in the manifest's spelling") {
    FakeServer s(
        [](const ldns_pkt* q) {
          return qtype(q) == LDNS_RR_TYPE_AXFR ? transfer(q, 3) : answer_from_zone(q);
        },
        test_key());
    auto p = provider_for(s);
    Res www = record("www", "fake.test", "A", {"192.0.2.2", "192.0.2.1"}, 600);
    Res mx = record("@", "FAKE.test.", "MX", {"10 mail"}, 300);
    Res none = record("none", "fake.test", "A", {"192.0.2.9"});
    auto resp = observe(*p, {&www, &mx, &none});
    REQUIRE(resp.results.size() == 3);
    CHECK(resp.notes.empty());
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_AXFR) == 1);
    CHECK(s.requests().size() == 1);
    const Observation& a = resp.results[0];
    CHECK_FALSE(a.error);
    CHECK(a.exists);
    CHECK(a.attrs.at("name") == Value::Str("www.fake.test."));
    CHECK(a.attrs.at("ttl") == Value::Int(600));
    CHECK(a.attrs.at("values") == Value::StrList({"192.0.2.1", "192.0.2.2"}));
    CHECK(resp.results[1].exists);
    CHECK(resp.results[1].attrs.at("values") ==
          Value::StrList({"10 mail.fake.test."}));  // derived spelling
    CHECK_FALSE(resp.results[2].exists);
    CHECK_FALSE(resp.results[2].error);
  }

  TEST_CASE("a refused transfer falls back to one query per RRset, said once") {
    FakeServer s(
        [](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          if (qtype(q) == LDNS_RR_TYPE_AXFR)
            out.push_back(reply_to(q, LDNS_RCODE_REFUSED));
          else
            out = answer_from_zone(q);
          return out;
        },
        test_key());
    auto p = provider_for(s);
    Res www = record("www", "fake.test", "A", {"192.0.2.1"}, 600);
    Res mx = record("@", "fake.test", "MX", {"10 mail.fake.test."}, 300);
    Res none = record("none", "fake.test", "A", {"192.0.2.9"});
    auto resp = observe(*p, {&www, &mx, &none});
    REQUIRE(resp.notes.size() == 1);
    CHECK(resp.notes[0].find("zone transfer refused by " + s.server() +
                             " for fake.test. (REFUSED)") == 0);
    CHECK(resp.notes[0].find("observed 3 record set(s) with one query each") != std::string::npos);
    CHECK(resp.results[0].exists);
    CHECK(resp.results[0].attrs.at("values") == Value::StrList({"192.0.2.1", "192.0.2.2"}));
    CHECK(resp.results[1].exists);
    CHECK_FALSE(resp.results[2].exists);
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_AXFR) == 1);
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_SOA) == 1);
    CHECK(s.requests().size() == 5);
  }

  TEST_CASE(
      "fingerprints: SHA-256 of a zone's transfer, the same for the same data; observe() uses "
      "the transfer a fingerprint made; nothing when the transfer is refused") {
    std::mutex mu;
    std::vector<std::string> zone = kZone;
    bool refuse = false;
    FakeServer s(
        [&](const ldns_pkt* q) {
          std::lock_guard<std::mutex> lk(mu);
          std::vector<PktPtr> out;
          if (qtype(q) != LDNS_RR_TYPE_AXFR) return answer_from_zone(q);
          out.push_back(reply_to(q, refuse ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR));
          if (refuse) return out;
          for (const auto& line : zone) add_answer(out.back().get(), line);
          add_answer(out.back().get(), zone.front());
          return out;
        },
        test_key());
    Res www = record("www", "fake.test", "A", {"192.0.2.2", "192.0.2.1"}, 600);
    Res other = record("x", "other.test", "A", {"192.0.2.3"}, 600);
    Res z = zone_res("fake.test");
    auto p = provider_for(s);
    ObserveRequest req;
    req.type = www.view().type;
    req.resources = {www.view(), other.view(), www.view()};
    CHECK(p->observe_scope(req) == "fake.test.\nother.test.");  // sorted, each once
    ObserveRequest zreq;
    zreq.type = z.view().type;
    zreq.resources = {z.view()};
    CHECK(p->observe_scope(zreq) == "fake.test.");

    auto first = p->fingerprint("dns_record", "fake.test.");
    REQUIRE(first.has_value());
    CHECK(first->rfind("fake.test. sha256:", 0) == 0);
    CHECK(first->size() == std::string("fake.test. sha256:\n").size() + 64);
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_AXFR) == 1);
    auto resp = observe(*p, {&www});  // uses that transfer
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_AXFR) == 1);
    CHECK(resp.results[0].exists);
    // After an observe, the fingerprint is of what it read (no transfer).
    CHECK(p->fingerprint("dns_record", "fake.test.") == first);
    CHECK(s.count(LDNS_PACKET_QUERY, LDNS_RR_TYPE_AXFR) == 1);

    auto again = provider_for(s);  // another run, the same data
    CHECK(again->fingerprint("dns_record", "fake.test.") == first);
    {
      std::lock_guard<std::mutex> lk(mu);
      zone.back() = "fake.test. 300 IN MX 20 MAIL.fake.test.";  // one value changed
    }
    auto changed = provider_for(s);
    auto third = changed->fingerprint("dns_record", "fake.test.");
    REQUIRE(third.has_value());
    CHECK(*third != *first);

    auto served = provider_for(s)->fingerprint("dns_zone", "fake.test.");
    CHECK(served == std::optional<std::string>("fake.test. served\n"));
    CHECK_FALSE(provider_for(s)->fingerprint("dns_other", "fake.test.").has_value());
    {
      std::lock_guard<std::mutex> lk(mu);
      refuse = true;
    }
    CHECK_FALSE(provider_for(s)->fingerprint("dns_record", "fake.test.").has_value());
  }

  TEST_CASE("SERVFAIL is retried with backoff inside observe") {
    std::atomic<int> axfrs{0};
    FakeServer s(
        [&](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          if (qtype(q) == LDNS_RR_TYPE_AXFR && ++axfrs <= 2)
            out.push_back(reply_to(q, LDNS_RCODE_SERVFAIL));
          else
            out = transfer(q, 2);
          return out;
        },
        test_key());
    auto p = provider_for(s);
    Res www = record("www", "fake.test", "A", {"192.0.2.1"}, 600);
    auto t0 = std::chrono::steady_clock::now();
    auto resp = observe(*p, {&www});
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    CHECK(axfrs == 3);
    CHECK(ms >= 600);  // 200 ms, then 400 ms
    CHECK_FALSE(resp.results[0].error);
    CHECK(resp.results[0].exists);
  }

  TEST_CASE("no answer: a transient error after the configured attempts") {
    FakeServer s([](const ldns_pkt*) { return std::vector<PktPtr>(); }, test_key());
    auto p = provider_for(s, {{"timeout", Value::Int(1)}, {"attempts", Value::Int(2)}});
    Res www = record("www", "fake.test", "A", {"192.0.2.1"});
    auto resp = observe(*p, {&www});
    REQUIRE(resp.results[0].error);
    CHECK(resp.results[0].error->kind == ErrorKind::kTransient);
    CHECK(resp.results[0].error->resource == "dns_record.www");
    CHECK(resp.results[0].error->message == "cannot transfer zone fake.test.: no answer from " +
                                                s.server() + " within 1 s (2 attempts)");
  }

  TEST_CASE("server down: connection refused, reported per resource, nothing thrown") {
    uint16_t port;
    {
      FakeServer gone([](const ldns_pkt*) { return std::vector<PktPtr>(); }, std::nullopt);
      port = gone.port();
    }
    setenv(kSecretEnv, test_key().secret.c_str(), 1);
    auto p = make(config({{"server", Value::Str("127.0.0.1:" + std::to_string(port))},
                          {"tsig_name", Value::Str(test_key().name)},
                          {"tsig_secret", Value::Str(std::string("env:") + kSecretEnv)},
                          {"attempts", Value::Int(1)}}));
    REQUIRE(p.ok());
    Res z = zone_res("fake.test");
    auto resp = observe(**p, {&z});
    REQUIRE(resp.results[0].error);
    CHECK(resp.results[0].error->message.find("Connection refused") != std::string::npos);
    Res www = record("www", "fake.test", "A", {"192.0.2.1"});
    CHECK(apply(**p, www, Action::kCreate).error().kind == ErrorKind::kTransient);
  }

  TEST_CASE("answers signed with another secret fail verification") {
    FakeServer s([](const ldns_pkt* q) { return transfer(q, 2); },
                 TsigKey{"fake-key", "hmac-sha256.", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldCE="});
    auto p = provider_for(s);
    Res www = record("www", "fake.test", "A", {"192.0.2.1"});
    auto resp = observe(*p, {&www});
    REQUIRE(resp.results[0].error);
    CHECK(resp.results[0].error->kind == ErrorKind::kInvalid);
    CHECK(resp.results[0].error->message.find("does not verify") != std::string::npos);
    CHECK(resp.results[0].error->hint == "check the secret of key 'fake-key'");
  }

  TEST_CASE("a missing zone is a note saying how to create it, not an error") {
    FakeServer s(
        [](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          out.push_back(reply_to(
              q, qtype(q) == LDNS_RR_TYPE_AXFR ? LDNS_RCODE_NOTAUTH : LDNS_RCODE_REFUSED, false));
          return out;
        },
        test_key());
    auto p = provider_for(s);
    Res z = zone_res("nozone.test");
    auto zr = observe(*p, {&z});
    CHECK_FALSE(zr.results[0].error);
    CHECK_FALSE(zr.results[0].exists);
    CHECK(zr.results[0].note.find(
              "zone nozone.test. is not served by " + s.server() +
              " (the SOA query was answered REFUSED); RFC 2136 cannot create zones") == 0);
    CHECK(zr.results[0].note.find("zone \"nozone.test\" { type primary;") != std::string::npos);
    Res www = record("www", "nozone.test", "A", {"192.0.2.1"});
    auto rr = observe(*p, {&www});
    CHECK_FALSE(rr.results[0].error);
    CHECK_FALSE(rr.results[0].exists);
    CHECK(rr.results[0].note.find("zone nozone.test. is not served") == 0);
  }

  TEST_CASE("malformed desired values and foreign names are observation errors") {
    FakeServer s([](const ldns_pkt* q) { return transfer(q, 1); }, test_key());
    auto p = provider_for(s);
    Res bad = record("v6", "fake.test", "AAAA", {"2001:zz::1"});
    Res outside = record("www.other.test.", "fake.test", "A", {"192.0.2.1"});
    auto resp = observe(*p, {&bad, &outside});
    REQUIRE(resp.results[0].error);
    CHECK(resp.results[0].error->message.find("malformed AAAA value '2001:zz::1'") == 0);
    CHECK(resp.results[0].error->resource == "dns_record.v6");
    REQUIRE(resp.results[1].error);
    CHECK(resp.results[1].error->message == "name www.other.test. is not in zone fake.test.");
  }

  TEST_CASE("UPDATE messages: prerequisites that catch concurrent changes") {
    FakeServer s(
        [](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          out.push_back(reply_to(q, LDNS_RCODE_NOERROR));
          return out;
        },
        test_key());
    auto p = provider_for(s);
    auto sections = [&](size_t i) {
      auto reqs = s.requests();
      REQUIRE(i < reqs.size());
      ldns_pkt* u = reqs[i].get();
      CHECK(ldns_pkt_get_opcode(u) == LDNS_PACKET_UPDATE);
      CHECK(qname(u) == "fake.test.");
      CHECK(qtype(u) == LDNS_RR_TYPE_SOA);
      CHECK(ldns_pkt_tsig(u) != nullptr);
      std::vector<std::string> pre = rr_lines(ldns_pkt_answer(u));
      std::vector<std::string> upd = rr_lines(ldns_pkt_authority(u));
      return std::make_pair(pre, upd);
    };
    Res mx = record("target", "fake.test", "MX", {"10 exch1.target.fake.test."}, 3600);
    REQUIRE(apply(*p, mx, Action::kCreate).ok());
    auto [pre, upd] = sections(0);
    CHECK(pre == std::vector<std::string>{"target.fake.test. 0 NONE MX \\# 0",
                                          "target.fake.test. 0 NONE CNAME \\# 0"});
    CHECK(upd ==
          std::vector<std::string>{"target.fake.test. 3600 IN MX 10 exch1.target.fake.test."});

    AttrMap before = {
        {"values", Value::StrList({"10 old.fake.test.", "20 exch1.target.fake.test."})},
        {"ttl", Value::Int(300)}};
    REQUIRE(apply(*p, mx, Action::kUpdate, before).ok());
    std::tie(pre, upd) = sections(1);
    CHECK(pre == std::vector<std::string>{"target.fake.test. 0 IN MX 10 old.fake.test.",
                                          "target.fake.test. 0 IN MX 20 exch1.target.fake.test."});
    CHECK(upd ==
          std::vector<std::string>{"target.fake.test. 0 ANY MX \\# 0",
                                   "target.fake.test. 3600 IN MX 10 exch1.target.fake.test."});

    REQUIRE(apply(*p, mx, Action::kDelete, before).ok());
    std::tie(pre, upd) = sections(2);
    CHECK(pre.size() == 2);
    CHECK(upd == std::vector<std::string>{"target.fake.test. 0 ANY MX \\# 0"});

    Res cname = record("alias", "fake.test", "CNAME", {"www"}, 60);
    REQUIRE(apply(*p, cname, Action::kCreate).ok());
    std::tie(pre, upd) = sections(3);
    // "Name not in use" alone: it implies that no CNAME is there either.
    CHECK(pre == std::vector<std::string>{"alias.fake.test. 0 NONE ANY \\# 0"});
    CHECK(upd == std::vector<std::string>{"alias.fake.test. 60 IN CNAME www.fake.test."});

    Res ns = record("@", "fake.test", "NS", {"ns1.fake.test.", "ns2.fake.test."}, 300);
    REQUIRE(apply(*p, ns, Action::kUpdate,
                  {{"values", Value::StrList({"ns1.fake.test.", "old.fake.test."})}})
                .ok());
    std::tie(pre, upd) = sections(4);
    // The apex NS RRset cannot be deleted as a whole: only the value that goes is removed.
    CHECK(upd == std::vector<std::string>{"fake.test. 0 NONE NS old.fake.test.",
                                          "fake.test. 300 IN NS ns1.fake.test.",
                                          "fake.test. 300 IN NS ns2.fake.test."});

    Res z = zone_res("fake.test");
    auto st = apply(*p, z, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message == "zone fake.test. cannot be created or changed over RFC 2136");
  }

  TEST_CASE(
      "after a transfer, a create at an owner with nothing is guarded by 'name not in use'; "
      "where that fails, the precise prerequisites decide") {
    std::atomic<bool> taken{false};  // someone else added a record at new2 meanwhile
    FakeServer s(
        [&](const ldns_pkt* q) {
          if (qtype(q) == LDNS_RR_TYPE_AXFR) return transfer(q, 1);
          std::vector<PktPtr> out;
          int rcode = LDNS_RCODE_NOERROR;
          const ldns_rr_list* pre = ldns_pkt_answer(q);
          for (size_t k = 0; pre && k < ldns_rr_list_rr_count(pre); ++k) {
            const ldns_rr* rr = ldns_rr_list_rr(pre, k);
            char* o = ldns_rdf2str(ldns_rr_owner(rr));
            bool at_new2 = std::string(o) == "new2.fake.test.";
            std::free(o);
            if (taken && at_new2 && ldns_rr_get_type(rr) == LDNS_RR_TYPE_ANY)
              rcode = LDNS_RCODE_YXDOMAIN;
          }
          out.push_back(reply_to(q, rcode));
          return out;
        },
        test_key());
    auto p = provider_for(s);
    auto prerequisites = [&](size_t i) {
      auto reqs = s.requests();
      REQUIRE(i < reqs.size());
      return rr_lines(ldns_pkt_answer(reqs[i].get()));
    };
    Res fresh = record("new", "fake.test", "A", {"192.0.2.7"});
    Res www6 = record("www", "fake.test", "AAAA", {"2001:db8::1"});  // www has an A record
    Res fresh_mx = record("new", "fake.test", "MX", {"10 www"});     // new gets its A first
    Res fresh2 = record("new2", "fake.test", "A", {"192.0.2.8"});
    auto resp = observe(*p, {&fresh, &www6, &fresh_mx, &fresh2});
    REQUIRE(s.requests().size() == 1);  // the transfer

    REQUIRE(apply(*p, fresh, Action::kCreate).ok());
    CHECK(prerequisites(1) == std::vector<std::string>{"new.fake.test. 0 NONE ANY \\# 0"});
    REQUIRE(apply(*p, www6, Action::kCreate).ok());
    CHECK(prerequisites(2) == std::vector<std::string>{"www.fake.test. 0 NONE AAAA \\# 0",
                                                       "www.fake.test. 0 NONE CNAME \\# 0"});
    REQUIRE(apply(*p, fresh_mx, Action::kCreate).ok());
    CHECK(prerequisites(3) == std::vector<std::string>{"new.fake.test. 0 NONE MX \\# 0",
                                                       "new.fake.test. 0 NONE CNAME \\# 0"});
    // new2 had nothing when observed, but has a record now: "name not in use" fails, the precise
    // prerequisites hold, and the create is applied.
    taken = true;
    REQUIRE(apply(*p, fresh2, Action::kCreate).ok());
    REQUIRE(s.requests().size() == 6);
    CHECK(prerequisites(4) == std::vector<std::string>{"new2.fake.test. 0 NONE ANY \\# 0"});
    CHECK(prerequisites(5) == std::vector<std::string>{"new2.fake.test. 0 NONE A \\# 0",
                                                       "new2.fake.test. 0 NONE CNAME \\# 0"});
  }

  TEST_CASE(
      "concurrent changes to one zone share UPDATE messages; a failed batch is retried one by "
      "one") {
    std::atomic<int> updates{0};
    FakeServer s(
        [&](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          ++updates;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the others queue up
          bool bad = false;
          for (size_t k = 0; k < ldns_pkt_nscount(q); ++k) {
            char* o = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_authority(q), k)));
            bad = bad || std::string(o) == "bad.fake.test.";
            std::free(o);
          }
          if (ldns_pkt_get_opcode(q) != LDNS_PACKET_UPDATE)
            out = answer_from_zone(q);
          else
            out.push_back(reply_to(q, bad ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR));
          return out;
        },
        test_key());
    auto p = provider_for(s);
    constexpr int kN = 8;
    std::vector<Res> rs;
    for (int i = 0; i < kN; ++i)
      rs.push_back(
          record(i == 5 ? "bad" : "h" + std::to_string(i), "fake.test", "A", {"192.0.2.7"}));
    std::vector<Status> results(kN);
    std::barrier sync(kN);
    std::vector<std::thread> threads;
    for (int i = 0; i < kN; ++i)
      threads.emplace_back([&, i] {
        sync.arrive_and_wait();
        if (i > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the first one leads
        results[i] = apply(*p, rs[i], Action::kCreate);
      });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kN; ++i) {
      INFO(i);
      CHECK(results[i].ok() == (i != 5));
    }
    CHECK(results[5].error().message == "the server refused the update (REFUSED)");
    CHECK(results[5].error().hint.find("check that key 'fake-key' may update bad.fake.test.") == 0);
    // Far fewer messages than one per change plus the split: at most 2 batches + 7 singles + 1.
    size_t update_msgs = s.count(LDNS_PACKET_UPDATE);
    CHECK(update_msgs < 2 + kN + 1);
    size_t carried = 0;
    for (const auto& r : s.requests())
      if (ldns_pkt_get_opcode(r.get()) == LDNS_PACKET_UPDATE) carried += ldns_pkt_nscount(r.get());
    CHECK(carried > static_cast<size_t>(kN));  // some changes went in a shared message first
  }
}
