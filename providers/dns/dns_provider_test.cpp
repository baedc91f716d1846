// The provider against a scripted server: settings validation, fallback to per-RRset queries
// when transfers are refused, retries of transient failures, multi-message transfers, the UPDATE
// messages it sends, and batches of changes split where they fail. (dns_bind_test.cpp runs the
// same provider against a real BIND 9.)
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>

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
    bool match = canonical_dns_name(o) == qname(q) && ldns_rr_get_type(rr) == qtype(q);
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
    CHECK_FALSE((*p)->can_create("dns_zone"));
    CHECK((*p)->can_create("dns_record"));
    CHECK((*p)->max_parallel() > 1);
    CHECK((*p)->max_batch() > 1);
  }
}

TEST_SUITE("messages") {
  TEST_CASE("a message over 64 KiB is refused before anything is sent") {
    FakeServer s([](const ldns_pkt* q) { return answer_from_zone(q); }, test_key());
    PktPtr u = make_update("fake.test");
    REQUIRE(u);
    for (int i = 0; i < 3000; ++i) {
      ldns_rr* rr = nullptr;
      std::string line =
          "t" + std::to_string(i) + ".fake.test. 60 IN TXT \"" + std::string(40, 'x') + "\"";
      REQUIRE(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
      ldns_pkt_push_rr(u.get(), LDNS_SECTION_AUTHORITY, rr);
    }
    ClientOptions opt;
    auto server = parse_server(s.server());
    REQUIRE(server.ok());
    auto ep = resolve_endpoint(*server);
    REQUIRE(ep.ok());
    opt.server = *ep;
    opt.key = test_key();
    auto got = exchange(opt, u.get());
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().message == kMessageTooLarge);
    CHECK(s.requests().empty());
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
    CHECK(s.verified() == 1);  // the request's TSIG signature verifies with the server's key
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
    CHECK(s.verified() == s.requests().size());
  }

  TEST_CASE("a batch goes out in one UPDATE; a refused one is halved until each failure is alone") {
    FakeServer s(
        [&](const ldns_pkt* q) {
          std::vector<PktPtr> out;
          if (ldns_pkt_get_opcode(q) != LDNS_PACKET_UPDATE) return answer_from_zone(q);
          bool bad = false;
          for (size_t k = 0; k < ldns_pkt_nscount(q); ++k)
            bad = bad || owner_name(ldns_rr_list_rr(ldns_pkt_authority(q), k)) == "bad.fake.test.";
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
    Res other = record("x", "other.test", "A", {"192.0.2.8"});  // another zone: its own message
    std::vector<ApplyRequest> reqs(kN + 1);
    for (int i = 0; i <= kN; ++i) {
      reqs[i].resource = i < kN ? rs[i].view() : other.view();
      reqs[i].action = Action::kCreate;
    }
    auto out = p->apply_batch(reqs);
    REQUIRE(out.size() == kN + 1);
    for (int i = 0; i <= kN; ++i) {
      INFO(i);
      CHECK(out[i].status.ok() == (i != 5));
    }
    CHECK(out[5].status.error().message == "the server refused the update (REFUSED)");
    CHECK(out[5].status.error().hint.find("check that key 'fake-key' may update bad.fake.test.") ==
          0);
    // fake.test: all 8, 0-3, 4-7, 4-5, 4, 5, 6-7; then other.test.
    std::vector<size_t> changes;
    std::vector<std::string> zones;
    for (const auto& r : s.requests()) {
      REQUIRE(ldns_pkt_get_opcode(r.get()) == LDNS_PACKET_UPDATE);
      changes.push_back(ldns_pkt_nscount(r.get()));
      zones.push_back(qname(r.get()));
    }
    CHECK(changes == std::vector<size_t>{8, 4, 4, 2, 1, 1, 2, 1});
    CHECK(zones == std::vector<std::string>{"fake.test.", "fake.test.", "fake.test.", "fake.test.",
                                            "fake.test.", "fake.test.", "fake.test.",
                                            "other.test."});
  }
}
