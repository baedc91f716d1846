// The provider against a real BIND 9 (suite "bind"): the ctest fixture starts it with
// tools/testenv/bind.sh and passes its env file in CONVERGE_TEST_BIND_ENV. Out-of-band changes are
// made with nsupdate and results checked with dig, independently of the provider. Every test uses
// its own names under zone target.local, so reruns against one server do not interfere.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "providers/dns/dns_test_util.h"

using namespace converge;
using namespace converge::dns;
using namespace converge::dns::test;

namespace {

struct Bind {
  std::string server, key_file, key_name, dir;
  std::string host() const { return server.substr(0, server.find(':')); }
  std::string port() const { return server.substr(server.find(':') + 1); }
};

const Bind& bind_env() {
  static const Bind b = [] {
    Bind out;
    const char* path = std::getenv("CONVERGE_TEST_BIND_ENV");
    REQUIRE_MESSAGE(path,
                    "CONVERGE_TEST_BIND_ENV is not set: run through ctest, or start "
                    "tools/testenv/bind.sh start DIR and export CONVERGE_TEST_BIND_ENV=DIR/env");
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot read " << path);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (line.rfind("export ", 0) != 0 || eq == std::string::npos) continue;
      std::string k = line.substr(7, eq - 7), v = line.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
      if (k == "CONVERGE_TEST_DNS_SERVER") out.server = v;
      if (k == "CONVERGE_TEST_TSIG_KEY_FILE") out.key_file = v;
      if (k == "CONVERGE_TEST_TSIG_KEY_NAME") out.key_name = v;
    }
    std::string p(path);
    out.dir = p.substr(0, p.find_last_of('/'));
    return out;
  }();
  return b;
}

std::string run(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (rc) *rc = WEXITSTATUS(st);
  return out;
}

// Runs nsupdate with the test key against zone target.local.
void nsupdate(const std::string& lines) {
  const Bind& b = bind_env();
  std::string file = "/tmp/converge-dns-it-" + std::to_string(getpid()) + ".nsupdate";
  std::ofstream(file) << "server " << b.host() << " " << b.port() << "\nzone target.local\n"
                      << lines << "\nsend\n";
  int rc = 0;
  std::string out = run("nsupdate -t 5 -k " + b.key_file + " " + file, &rc);
  std::remove(file.c_str());
  REQUIRE_MESSAGE(rc == 0, "nsupdate failed: " << out);
}

// The answer to a query, one record per line, sorted (servers rotate RRset order).
std::string dig(const std::string& name, const std::string& type) {
  const Bind& b = bind_env();
  return run("dig +short +time=2 +tries=1 -p " + b.port() + " @" + b.host() + " " + name + " " +
             type + " | sort");
}

size_t axfr_count(const std::string& zone) {
  std::ifstream in(bind_env().dir + "/named.log");
  std::string line;
  size_t n = 0;
  std::string needle = "transfer of '" + zone + "/IN': AXFR started";
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

std::unique_ptr<Provider> bind_provider(std::map<std::string, Value> extra = {}) {
  std::map<std::string, Value> s = {{"server", Value::Str(bind_env().server)},
                                    {"tsig_key_file", Value::Str(bind_env().key_file)}};
  for (auto& [k, v] : extra) {
    if (v.is_null())
      s.erase(k);
    else
      s[k] = v;
  }
  auto p = make(config(s));
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? std::string() : p.error().str()));
  return std::move(*p);
}

// A unique owner name for this test process.
std::string uniq(const std::string& base) { return base + "-it" + std::to_string(getpid()); }

// n A records BASE-it<pid>-<i> in target.local with addresses 10.NET.x.y.
std::vector<Res> address_records(const std::string& base, int n, int net, int64_t ttl) {
  std::vector<Res> rs;
  for (int i = 0; i < n; ++i)
    rs.push_back(record(uniq(base) + "-" + std::to_string(i), "target.local", "A",
                        {"10." + std::to_string(net) + "." + std::to_string(i / 256) + "." +
                         std::to_string(i % 256)},
                        ttl));
  return rs;
}

Observation observe_one(Provider& p, const Res& r) {
  auto resp = observe(p, {&r});
  REQUIRE(resp.results.size() == 1);
  return resp.results[0];
}

// What the engine's diff would find between desired and observed.
bool converged(const Res& r, const Observation& o) {
  if (!o.exists) return false;
  for (const auto& a : r.type->attrs) {
    if (a.computed || a.identity) continue;
    auto d = r.attrs.find(a.name);
    if (d == r.attrs.end()) continue;
    auto ob = o.attrs.find(a.name);
    if (ob == o.attrs.end() || !satisfies(d->second, ob->second, a.compare)) return false;
  }
  return true;
}

}  // namespace

TEST_SUITE("bind") {
  TEST_CASE("create, observe, change the TTL, add a value, delete: each observed exactly") {
    auto p = bind_provider();
    std::string n = uniq("rt");
    Res a = record(n, "target.local", "A", {"192.0.2.21", "192.0.2.20"}, 300);
    Observation o = observe_one(*p, a);
    REQUIRE_FALSE(o.error);
    CHECK_FALSE(o.exists);
    REQUIRE(apply(*p, a, Action::kCreate).ok());
    CHECK(dig(n + ".target.local", "A") == "192.0.2.20\n192.0.2.21\n");

    o = observe_one(*p, a);
    CHECK(o.exists);
    CHECK(o.attrs.at("name") == Value::Str(n + ".target.local."));
    CHECK(o.attrs.at("zone") == Value::Str("target.local."));
    CHECK(o.attrs.at("type") == Value::Str("A"));
    CHECK(o.attrs.at("ttl") == Value::Int(300));
    CHECK(converged(a, o));

    Res ttl = record(n, "target.local", "A", {"192.0.2.20", "192.0.2.21"}, 900);
    CHECK_FALSE(converged(ttl, o));
    REQUIRE(apply(*p, ttl, Action::kUpdate, o.attrs).ok());
    o = observe_one(*p, ttl);
    CHECK(o.attrs.at("ttl") == Value::Int(900));
    CHECK(converged(ttl, o));

    Res more = record(n, "target.local", "A", {"192.0.2.20", "192.0.2.21", "192.0.2.22"}, 900);
    REQUIRE(apply(*p, more, Action::kUpdate, o.attrs).ok());
    o = observe_one(*p, more);
    CHECK(converged(more, o));
    CHECK(dig(n + ".target.local", "A") == "192.0.2.20\n192.0.2.21\n192.0.2.22\n");

    REQUIRE(apply(*p, more, Action::kDelete, o.attrs).ok());
    CHECK_FALSE(observe_one(*p, more).exists);
    CHECK(dig(n + ".target.local", "A").empty());
  }

  TEST_CASE("every supported type round-trips without a perpetual difference") {
    auto p = bind_provider();
    std::string n = uniq("types");
    std::vector<Res> rs = {
        record(n + "-a", "target.local", "A", {"192.0.2.30"}),
        record(n + "-aaaa", "target.local", "AAAA", {"2001:DB8:0:0::30"}),
        record(n + "-mx", "target.local", "MX", {"10 " + n + "-a", "20 mail.example.com."}),
        record(n + "-txt", "target.local", "TXT", {"\"v=spf1 mx -all\"", "plain"}),
        record(n + "-srv", "target.local", "SRV", {"0 5 5060 " + n + "-a.target.local."}),
        record(n + "-cname", "target.local", "CNAME", {n + "-a"}),
        record(n + "-ptr", "target.local", "PTR", {"Host.Example."}),
        record(n + "-ns", "target.local", "NS", {"ns.local."}),
    };
    for (const auto& r : rs) {
      INFO(r.id);
      auto st = apply(*p, r, Action::kCreate);
      CHECK_MESSAGE(st.ok(), (st.ok() ? "" : st.error().str()));
    }
    std::vector<const Res*> all;
    for (const auto& r : rs) all.push_back(&r);
    auto resp = observe(*p, all);
    for (size_t i = 0; i < rs.size(); ++i) {
      INFO(rs[i].id << " observed " << resp.results[i].attrs["values"].repr());
      CHECK_FALSE(resp.results[i].error);
      CHECK(converged(rs[i], resp.results[i]));
    }
    CHECK(dig(n + "-txt.target.local", "TXT") == "\"plain\"\n\"v=spf1 mx -all\"\n");
    for (size_t i = rs.size(); i-- > 0;)
      CHECK(apply(*p, rs[i], Action::kDelete, resp.results[i].attrs).ok());
  }

  TEST_CASE("one zone transfer per zone per observe, shared by all its records") {
    auto p = bind_provider();
    std::vector<Res> rs;
    for (int i = 0; i < 20; ++i)
      rs.push_back(record(uniq("share") + std::to_string(i), "target.local", "A", {"192.0.2.1"}));
    std::vector<const Res*> all;
    for (const auto& r : rs) all.push_back(&r);
    size_t before = axfr_count("target.local");
    auto resp = observe(*p, all);
    CHECK(resp.results.size() == 20);
    CHECK(axfr_count("target.local") == before + 1);
  }

  TEST_CASE("a change made since the plan makes the update fail instead of overwriting it") {
    auto p = bind_provider();
    std::string n = uniq("race");
    std::string fq = n + ".target.local.";
    Res mx = record(n, "target.local", "MX", {"10 mail.example.com."}, 600);
    REQUIRE(apply(*p, mx, Action::kCreate).ok());
    Observation planned = observe_one(*p, mx);
    Res want = record(n, "target.local", "MX", {"20 mail.example.com."}, 600);

    nsupdate("update add " + fq + " 600 IN MX 30 other.example.com.");  // someone else, meanwhile
    auto st = apply(*p, want, Action::kUpdate, planned.attrs);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().kind == ErrorKind::kConflict);
    CHECK(st.error().message ==
          "changed since planned, plan again: MX " + fq +
              " now holds [\"10 mail.example.com.\", \"30 other.example.com.\"] (ttl 600), "
              "held [\"10 mail.example.com.\"] when planned");
    CHECK(dig(fq, "MX") == "10 mail.example.com.\n30 other.example.com.\n");  // untouched

    // Creating what someone else created meanwhile: a conflict, unless it is exactly what we want.
    Res other = record(n + "-b", "target.local", "A", {"192.0.2.40"}, 600);
    nsupdate("update add " + n + "-b.target.local. 600 IN A 192.0.2.41");
    st = apply(*p, other, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find("changed since planned, plan again: A " + n +
                                  "-b.target.local. now holds "
                                  "[\"192.0.2.41\"] (ttl 600), did not exist when planned") == 0);
    Res same = record(n + "-c", "target.local", "A", {"192.0.2.42"}, 600);
    nsupdate("update add " + n + "-c.target.local. 600 IN A 192.0.2.42");
    CHECK(apply(*p, same, Action::kCreate).ok());

    // Deleting what someone else deleted meanwhile is done.
    Observation c = observe_one(*p, same);
    nsupdate("update delete " + n + "-c.target.local. A");
    CHECK(apply(*p, same, Action::kDelete, c.attrs).ok());
    nsupdate("update delete " + fq + " MX\nupdate delete " + n + "-b.target.local. A");
  }

  TEST_CASE("server-side refusals are explained") {
    auto p = bind_provider();
    std::string n = uniq("refuse");
    Res mx = record(n, "target.local", "MX", {"10 " + n + "-nohost"});
    auto st = apply(*p, mx, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message ==
          "the server refused the update (REFUSED): MX target " + n +
              "-nohost.target.local. is in zone target.local. but has no A/AAAA record");
    CHECK(st.error().hint == "declare the target's address record");

    Res a = record(n + "-x", "target.local", "A", {"192.0.2.50"});
    REQUIRE(apply(*p, a, Action::kCreate).ok());
    Res cname = record(n + "-x", "target.local", "CNAME", {"elsewhere.example."});
    st = apply(*p, cname, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message ==
          n + "-x.target.local. already has other records; a CNAME cannot coexist with them");
    REQUIRE(apply(*p, a, Action::kDelete, observe_one(*p, a).attrs).ok());
  }

  TEST_CASE("a zone the server does not serve: a note, and NOTAUTH when written to") {
    auto p = bind_provider();
    Res z = zone_res("nozone.test");
    Observation o = observe_one(*p, z);
    CHECK_FALSE(o.error);
    CHECK_FALSE(o.exists);
    CHECK(o.note.find("zone nozone.test. is not served by " + bind_env().server) == 0);
    Res served = zone_res("Target.Local.");
    o = observe_one(*p, served);
    CHECK(o.exists);
    CHECK(o.attrs.at("name") == Value::Str("target.local."));
    CHECK(o.attrs.at("kind") == Value::Str("primary"));

    Res r = record("www", "nozone.test", "A", {"192.0.2.1"});
    o = observe_one(*p, r);
    CHECK_FALSE(o.error);
    CHECK_FALSE(o.exists);
    CHECK(o.note.find("zone nozone.test. is not served") == 0);
    auto st = apply(*p, r, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message == "the server is not authoritative for zone nozone.test. (NOTAUTH)");
  }

  TEST_CASE("a wrong secret or key name is a clear error that shows no secret") {
    const std::string wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
    setenv("CONVERGE_DNS_IT_SECRET", wrong.c_str(), 1);
    auto p = bind_provider({{"tsig_key_file", Value()},
                            {"tsig_name", Value::Str(bind_env().key_name)},
                            {"tsig_secret", Value::Str("env:CONVERGE_DNS_IT_SECRET")}});
    Res r = record(uniq("badkey"), "target.local", "A", {"192.0.2.1"});
    Observation o = observe_one(*p, r);
    REQUIRE(o.error);
    CHECK(o.error->kind == ErrorKind::kInvalid);
    CHECK(o.error->message.find("the server rejected TSIG key 'converge-test': BADSIG") !=
          std::string::npos);
    CHECK(o.error->hint == "the secret does not match the server's");
    CHECK(o.error->str().find(wrong) == std::string::npos);
    auto st = apply(*p, r, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find("BADSIG") != std::string::npos);
    CHECK(dig(uniq("badkey") + ".target.local", "A").empty());

    auto q = bind_provider({{"tsig_key_file", Value()},
                            {"tsig_name", Value::Str("no-such-key")},
                            {"tsig_secret", Value::Str("env:CONVERGE_DNS_IT_SECRET")}});
    Res z = zone_res("target.local");
    o = observe_one(*q, z);
    REQUIRE(o.error);
    CHECK(o.error->message.find("the server rejected TSIG key 'no-such-key': BADKEY") !=
          std::string::npos);
  }

  TEST_CASE("unsigned: transfers refused, per-RRset queries with one note; updates refused") {
    auto p = bind_provider({{"tsig_key_file", Value()}, {"allow_unsigned", Value::Bool(true)}});
    Res ns = record("@", "target.local", "NS", {"ns.local."}, 300);
    Res none = record(uniq("unsigned"), "target.local", "A", {"192.0.2.1"});
    auto resp = observe(*p, {&ns, &none});
    REQUIRE(resp.notes.size() == 1);
    CHECK(resp.notes[0].find("zone transfer refused by " + bind_env().server +
                             " for target.local. (REFUSED)") == 0);
    CHECK_FALSE(resp.results[0].error);
    CHECK(resp.results[0].exists);
    CHECK(converged(ns, resp.results[0]));
    CHECK_FALSE(resp.results[1].exists);
    auto st = apply(*p, none, Action::kCreate);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message == "the server refused the unsigned update (REFUSED)");
  }

  TEST_CASE("concurrent creates and deletes in one zone: all applied") {
    auto p = bind_provider();
    constexpr int kN = 300;
    std::vector<Res> rs = address_records("bulk", kN, 9, 120);
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> threads;
    auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < p->max_parallel(); ++t)
      threads.emplace_back([&] {
        for (int i; (i = next++) < kN;)
          if (!apply(*p, rs[i], Action::kCreate).ok()) ++failed;
      });
    for (auto& t : threads) t.join();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    MESSAGE(kN << " creates in " << ms << " ms");
    CHECK(failed == 0);
    std::vector<const Res*> all;
    for (const auto& r : rs) all.push_back(&r);
    auto resp = observe(*p, all);
    int ok = 0;
    for (size_t i = 0; i < rs.size(); ++i) ok += converged(rs[i], resp.results[i]);
    CHECK(ok == kN);
    std::atomic<int> del{0};
    threads.clear();
    next = 0;
    for (int t = 0; t < p->max_parallel(); ++t)
      threads.emplace_back([&] {
        for (int i; (i = next++) < kN;)
          if (apply(*p, rs[i], Action::kDelete, resp.results[i].attrs).ok()) ++del;
      });
    for (auto& t : threads) t.join();
    CHECK(del == kN);
  }

  TEST_CASE("a batch of 2000 changes: few UPDATE messages; only the conflicting ones fail") {
    auto p = bind_provider();
    REQUIRE(p->max_batch() >= 2000);
    constexpr int kN = 2000;
    std::vector<Res> rs = address_records("batch", kN, 8, 300);
    std::vector<const Res*> all;
    for (const auto& r : rs) all.push_back(&r);
    auto planned = observe(*p, all);  // nothing at any of the owners
    for (const auto& o : planned.results) REQUIRE_FALSE(o.exists);
    // Someone else creates two of them, differently, after our plan, and adds a TXT record at a
    // third owner (which does not stop our A record there).
    const std::string txt_owner = rs[100].attrs.at("name").as_string();
    nsupdate("update add " + rs[7].attrs.at("name").as_string() + " 300 IN A 192.0.2.7\n" +
             "update add " + rs[1500].attrs.at("name").as_string() + " 300 IN A 192.0.2.8\n" +
             "update add " + txt_owner + " 300 IN TXT \"theirs\"");
    std::vector<ApplyRequest> reqs(kN);
    for (int i = 0; i < kN; ++i) {
      reqs[i].resource = rs[i].view();
      reqs[i].action = Action::kCreate;
    }
    auto out = p->apply_batch(reqs);
    REQUIRE(out.size() == static_cast<size_t>(kN));
    int applied = 0;
    for (int i = 0; i < kN; ++i) {
      if (i == 7 || i == 1500) {
        REQUIRE_FALSE(out[i].status.ok());
        CHECK(out[i].status.error().message.find("changed since planned, plan again: A " +
                                                 rs[i].attrs.at("name").as_string()) == 0);
      } else {
        applied += out[i].status.ok();
      }
    }
    CHECK(applied == kN - 2);
    CHECK(dig(txt_owner, "TXT") == "\"theirs\"\n");
    auto resp = observe(*p, all);
    int ok = 0;
    for (int i = 0; i < kN; ++i) ok += converged(rs[i], resp.results[i]);
    CHECK(ok == kN - 2);
    CHECK(dig(rs[7].attrs.at("name").as_string(), "A") == "192.0.2.7\n");  // not overwritten
    for (int i = 0; i < kN; ++i) {
      reqs[i].action = Action::kDelete;
      reqs[i].before = resp.results[i].attrs;
    }
    out = p->apply_batch(reqs);
    int deleted = 0;
    for (const auto& o : out) deleted += o.status.ok();
    CHECK(deleted == kN);
    nsupdate("update delete " + txt_owner + " TXT");
  }
}
