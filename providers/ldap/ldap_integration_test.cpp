// Integration tests of the ldap provider against the throw-away Samba AD DC that the CTest
// fixture starts (tools/testenv/samba.sh via tests/ldap/samba_fixture.sh). The fixture's env file
// is named by CONVERGE_TEST_SAMBA_ENV; without it every test case fails.
//
// What is checked here rather than in tests/ldap/run.sh: connection failures (wrong password,
// unreachable server, certificate mismatch, StartTLS), batched observation (request counts),
// ranged retrieval of a 10,000-member group, the DACL compare-and-swap under concurrent changes,
// the SD flags control leaving owner and SACL alone, and a password set at creation that binds.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/provider.h"
#include "engine/secrets.h"
#include "providers/ldap/ldap_conn.h"
#include "providers/ldap/ldap_directory.h"
#include "providers/ldap/ldap_provider.h"
#include "providers/ldap/ldap_text.h"

namespace converge::ldap {
namespace {

// The fixture's env file: export KEY='value' lines. A missing environment fails the test: these
// tests exist to run against a real server.
std::map<std::string, std::string> load_env() {
  std::map<std::string, std::string> out;
  const char* path = std::getenv("CONVERGE_TEST_SAMBA_ENV");
  REQUIRE_MESSAGE(path,
                  "CONVERGE_TEST_SAMBA_ENV is not set: run through ctest (fixture samba), or start "
                  "tools/testenv/samba.sh start DIR and export CONVERGE_TEST_SAMBA_ENV=DIR/env");
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("export ", 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(7, eq - 7), v = line.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
    out[k] = v;
  }
  REQUIRE_MESSAGE(out.count("CONVERGE_TEST_LDAP_URL"), path << " names no CONVERGE_TEST_LDAP_URL");
  return out;
}

const std::map<std::string, std::string>& env() {
  static const auto e = load_env();
  return e;
}

std::string password() {
  std::ifstream in(env().at("CONVERGE_TEST_LDAP_PASSWORD_FILE"));
  std::string pw;
  std::getline(in, pw);
  return pw;
}

const std::string kBase = "DC=target,DC=local";
// Names made unique per run, so that the tests also pass against a domain they ran on before.
const std::string kRun = std::to_string(std::time(nullptr) % 1000000);

ProviderConfig config(std::map<std::string, Value> overrides = {}) {
  ProviderConfig c;
  c.name = "ad";
  c.type = "ldap";
  c.settings = {{"type", Value::Str("ldap")},
                {"url", Value::Str(env().at("CONVERGE_TEST_LDAP_URL"))},
                {"base_dn", Value::Str(kBase)},
                {"bind_dn", Value::Str(env().at("CONVERGE_TEST_LDAP_BIND_DN"))},
                {"password", Value::Str("file:" + env().at("CONVERGE_TEST_LDAP_PASSWORD_FILE"))},
                {"ca_file", Value::Str(env().at("CONVERGE_TEST_LDAP_CA"))}};
  for (auto& [k, v] : overrides) {
    if (v.is_null())
      c.settings.erase(k);
    else
      c.settings[k] = v;
  }
  c.resolve_secret = [](const std::string& ref) { return resolve_secret(ref, ""); };
  return c;
}

std::unique_ptr<Provider> provider(std::map<std::string, Value> overrides = {}) {
  auto p = make(config(std::move(overrides)));
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? std::string() : p.error().str()));
  return std::move(*p);
}

ConnSettings conn_settings() {
  ConnSettings s;
  s.provider = "test";
  s.url = env().at("CONVERGE_TEST_LDAP_URL");
  s.ca_file = env().at("CONVERGE_TEST_LDAP_CA");
  s.bind_dn = env().at("CONVERGE_TEST_LDAP_BIND_DN");
  s.password = password();
  return s;
}

std::unique_ptr<Conn> connect() {
  auto c = Conn::open(conn_settings());
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().str()));
  return std::move(*c);
}

// A resource as the engine hands it over: defaults applied, derived attributes computed.
struct Res {
  std::string id;
  AttrMap attrs;
  const TypeSpec* type;
  Res(const std::string& type_name, std::string name, AttrMap a)
      : id(type_name + "." + name), attrs(std::move(a)) {
    type = find_type(type_name);
    REQUIRE(type != nullptr);
    for (const auto& spec : type->attrs)
      if (spec.def && !attrs.count(spec.name)) attrs[spec.name] = *spec.def;
    derive_computed(*type, attrs);
  }
  ResourceView view() const { return {&id, type, &attrs}; }
};

std::vector<Observation> observe(Provider& p, const std::vector<Res>& rs) {
  ObserveRequest req;
  req.type = rs.front().type;
  for (const auto& r : rs) req.resources.push_back(r.view());
  auto resp = p.observe(req);
  REQUIRE(resp.results.size() == rs.size());
  return resp.results;
}

Status apply(Provider& p, const Res& r, Action a, std::map<std::string, std::string> secrets = {},
             std::vector<std::string> changed = {}) {
  ApplyRequest req;
  req.resource = r.view();
  req.action = a;
  req.secrets = std::move(secrets);
  req.changed = std::move(changed);
  return p.apply(req).status;
}

Value S(const std::string& s) { return Value::Str(s); }

void ensure_ou(const std::string& name) {
  auto c = connect();
  auto st =
      c->add("OU=" + name + "," + kBase, {{Mod::kAdd, "objectClass", {"organizationalUnit"}}});
  REQUIRE_MESSAGE((st.ok() || st.code == 68), st.text);
}

TEST_CASE("ldap integration: connection failures are clear errors naming the resource") {
  Res acct("account", "probe", {{"name", S("Administrator")}, {"path", S("CN=Users," + kBase)}});

  SUBCASE("the configured server works, over LDAPS and over StartTLS") {
    for (const char* key : {"CONVERGE_TEST_LDAP_URL", "CONVERGE_TEST_LDAP_STARTTLS_URL"}) {
      auto p = provider({{"url", S(env().at(key))}});
      auto o = observe(*p, {acct});
      REQUIRE_MESSAGE(!o[0].error, o[0].error->str());
      CHECK(o[0].exists);
    }
  }
  SUBCASE("wrong password") {
    const char* tmp = "/tmp/converge-ldap-wrong-password";
    std::ofstream(tmp) << "not-the-password\n";
    auto p = provider({{"password", S(std::string("file:") + tmp)}});
    auto o = observe(*p, {acct});
    REQUIRE(o[0].error);
    CHECK(o[0].error->resource == "account.probe");
    CHECK(o[0].error->kind == ErrorKind::kInvalid);
    CHECK(o[0].error->message.find("bind as") != std::string::npos);
    CHECK(o[0].error->message.find("refused") != std::string::npos);
    CHECK(o[0].error->message.find("not-the-password") == std::string::npos);
    std::remove(tmp);
  }
  SUBCASE("unreachable server") {
    auto p = provider({{"url", S("ldaps://127.0.0.1:1")}});
    auto t0 = std::chrono::steady_clock::now();
    auto o = observe(*p, {acct});
    REQUIRE(o[0].error);
    CHECK(o[0].error->kind == ErrorKind::kTransient);
    CHECK(o[0].error->message.find("cannot reach the server") != std::string::npos);
    CHECK(o[0].error->message.find("ldaps://127.0.0.1:1") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  }
  SUBCASE("certificate not signed by the configured CA") {
    std::string decoy = env().at("CONVERGE_TEST_LDAP_CA");
    decoy = decoy.substr(0, decoy.rfind('/')) + "/decoy-ca.pem";
    for (const char* key : {"CONVERGE_TEST_LDAP_URL", "CONVERGE_TEST_LDAP_STARTTLS_URL"}) {
      CAPTURE(key);
      auto p = provider({{"url", S(env().at(key))}, {"ca_file", S(decoy)}});
      auto o = observe(*p, {acct});
      REQUIRE(o[0].error);
      CHECK(o[0].error->kind == ErrorKind::kInvalid);
      CHECK(o[0].error->message.find("TLS certificate verification failed") != std::string::npos);
    }
  }
  SUBCASE("bad settings are refused before connecting") {
    CHECK_FALSE(make(config({{"url", S("http://127.0.0.1")}})).ok());
    CHECK_FALSE(
        make(config({{"url", S("ldap://127.0.0.1")}, {"starttls", Value::Bool(false)}})).ok());
    CHECK_FALSE(make(config({{"password", S("literal")}})).ok());
    CHECK_FALSE(make(config({{"ca_file", S("/nonexistent/ca.pem")}})).ok());
    CHECK_FALSE(make(config({{"base_dn", S("not a dn")}})).ok());
    CHECK_FALSE(make(config({{"colour", S("blue")}})).ok());
    CHECK_FALSE(make(config({{"bind_dn", Value()}})).ok());
    CHECK(make(config({{"url", S("ldap://127.0.0.1")},
                       {"starttls", Value::Bool(false)},
                       {"allow_insecure", Value::Bool(true)}}))
              .ok());
  }
}

TEST_CASE("ldap integration: accounts get their password, and observation is batched") {
  const std::string ou = "Integration-" + kRun;
  ensure_ou(ou);
  auto p = provider();
  const std::string pw = "Integr-Ation-Pw-9!";
  std::vector<Res> accounts;
  for (int i = 0; i < 30; ++i)
    accounts.emplace_back(
        "account", "a" + std::to_string(i),
        AttrMap{{"name", S("it" + kRun + "_" + std::to_string(i))},
                {"path", S("OU=" + ou + "," + kBase)},
                {"upn", S("it" + kRun + "_" + std::to_string(i) + "@target.local")},
                {"password", S("env:UNUSED")}});
  for (const auto& a : accounts) {
    auto st = apply(*p, a, Action::kCreate, {{"password", pw}});
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? std::string() : st.error().str()));
  }
  // The password works: bind as the new (enabled) account.
  ConnSettings s = conn_settings();
  s.bind_dn = "CN=it" + kRun + "_0,OU=" + ou + "," + kBase;
  s.password = pw;
  auto as_user = Conn::open(s);
  CHECK_MESSAGE(as_user.ok(), (as_user.ok() ? "" : as_user.error().str()));

  uint64_t before = Conn::requests();
  auto p2 = provider();
  auto o = observe(*p2, accounts);
  uint64_t used = Conn::requests() - before;
  for (const auto& ob : o) {
    REQUIRE_MESSAGE(!ob.error, ob.error->str());
    CHECK(ob.exists);
    CHECK(ob.attrs.at("enabled") == Value::Bool(true));
  }
  CHECK(used <= 3);  // the root DSE, the domain's crossRef, one search for all 30 accounts
}

TEST_CASE("ldap integration: many accounts in one container are listed, moved ones still found") {
  const char* sdtool = std::getenv("CONVERGE_TEST_SDTOOL");
  REQUIRE_MESSAGE(sdtool, "CONVERGE_TEST_SDTOOL names tests/ldap/sdtool.py");
  const int n = 300;
  const std::string prefix = "ls" + kRun;
  const std::string ou = "OU=List-" + kRun + "," + kBase;
  std::string cmd = std::string(sdtool) + " '" + env().at("SAMBA_SMB_CONF") +
                    "' - bulk-group List-" + kRun + " " + prefix + " " + std::to_string(n);
  REQUIRE(std::system(cmd.c_str()) == 0);
  // One of them has moved to CN=Users since the manifest was written.
  auto c = connect();
  REQUIRE(c->rename("CN=" + prefix + "00007," + ou, "CN=" + prefix + "00007", "CN=Users," + kBase)
              .ok());
  std::vector<Res> accounts;
  for (int i = 0; i < n; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%05d", i);
    accounts.emplace_back(
        "account", "l" + std::to_string(i),
        AttrMap{{"name", S(prefix + buf)}, {"path", S(ou)}, {"enabled", Value::Bool(false)}});
  }
  uint64_t before = Conn::requests();
  auto o = observe(*provider(), accounts);
  uint64_t used = Conn::requests() - before;
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    REQUIRE_MESSAGE(!o[i].error, o[i].error->str());
    CHECK(o[i].exists);
    CHECK(satisfies(accounts[i].attrs.at("path"), o[i].attrs.at("path"), Compare::kDn) == (i != 7));
  }
  CHECK(used <= 4);  // root DSE, the domain's crossRef, the listing of the OU, one lookup of
                     // the missing name
}

TEST_CASE("ldap integration: a 10,000-member group is read completely (ranged retrieval)") {
  const char* sdtool = std::getenv("CONVERGE_TEST_SDTOOL");
  REQUIRE_MESSAGE(sdtool, "CONVERGE_TEST_SDTOOL names tests/ldap/sdtool.py");
  // 10,000 users and their group, written locally in large transactions (10,000 LDAP adds would
  // cost a disk sync each): the data, not what is under test.
  const int n = 10000;
  const std::string prefix = "bg" + kRun;
  const std::string ou = "OU=Big-" + kRun + "," + kBase;
  const std::string group_name = prefix + "-group";
  const std::string group = "CN=" + group_name + "," + ou;
  std::string cmd = std::string(sdtool) + " '" + env().at("SAMBA_SMB_CONF") +
                    "' - bulk-group Big-" + kRun + " " + prefix + " " + std::to_string(n);
  REQUIRE(std::system(cmd.c_str()) == 0);

  auto c = connect();
  RootDse root = *Directory::read_root(*c, "test");
  Directory d(*c, &root, kBase, "test");
  uint64_t before_read = Conn::requests();
  auto members = d.members({group});
  REQUIRE(members.ok());
  auto& list = members->at(dn_key(group));
  CHECK(list.size() == static_cast<size_t>(n));
  CHECK(std::set<std::string>(list.begin(), list.end()).size() == static_cast<size_t>(n));
  // Read in windows of at most 1500 values: member;range=0-1499, 1500-2999, ...
  CHECK(Conn::requests() - before_read >= static_cast<uint64_t>((n + 1499) / 1500));

  // group_member observes members anywhere in the list, batched: one read of the group.
  auto name = [&](int i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%05d", i);
    return prefix + buf;
  };
  std::vector<Res> rs;
  for (int i : {0, 1499, 1500, 5000, n - 1})
    rs.emplace_back("group_member", "m" + std::to_string(i),
                    AttrMap{{"group", S(group_name)}, {"member", S(name(i))}});
  rs.emplace_back("group_member", "admin",
                  AttrMap{{"group", S(group_name)}, {"member", S("Administrator")}});
  auto p = provider();
  auto o = observe(*p, rs);
  for (size_t i = 0; i + 1 < rs.size(); ++i) {
    CAPTURE(rs[i].id);
    REQUIRE_MESSAGE(!o[i].error, o[i].error->str());
    CHECK(o[i].exists);
  }
  CHECK_FALSE(o.back().exists);
  // Adding one more member leaves the other 10,000 alone.
  REQUIRE(apply(*p, rs.back(), Action::kCreate).ok());
  auto again = d.members({group});
  REQUIRE(again.ok());
  CHECK(again->at(dn_key(group)).size() == static_cast<size_t>(n + 1));
  CHECK(observe(*provider(), {rs.back()})[0].exists);
}

TEST_CASE("ldap integration: DACL writes never lose a concurrent change") {
  ensure_ou("Acl-" + kRun);
  const std::string ou = "OU=Acl-" + kRun + "," + kBase;
  auto c = connect();
  RootDse root = *Directory::read_root(*c, "test");
  std::atomic<bool> no_value_delete{false};
  Directory d(*c, &root, kBase, "test", &no_value_delete);

  SUBCASE("a write based on a stale read is refused, and the other change survives") {
    auto prev = d.read_dacl(ou);
    REQUIRE(prev.ok());
    REQUIRE(*prev);
    // Another administrator adds an ACE after our read.
    auto other = connect();
    RootDse root2 = *Directory::read_root(*other, "test");
    Directory d2(*other, &root2, kBase, "test");
    auto theirs = d2.read_dacl(ou);
    sd::SecurityDescriptor their_sd = (**theirs).sd;
    sd::Ace everyone = sd::Ace::make(false, *sd::Sid::parse("S-1-1-0"), sd::kReadProperty);
    sd::upsert_explicit(*their_sd.dacl, everyone);
    REQUIRE(*d2.write_dacl(ou, **theirs, their_sd));
    // Our write, based on the old read, must not go through.
    sd::SecurityDescriptor ours = (**prev).sd;
    sd::upsert_explicit(*ours.dacl,
                        sd::Ace::make(false, *sd::Sid::parse("S-1-5-11"), sd::kWriteProperty));
    auto written = d.write_dacl(ou, **prev, ours);
    REQUIRE(written.ok());
    CHECK_FALSE(*written);
    auto now = d.read_dacl(ou);
    CHECK(find_explicit(*(**now).sd.dacl, everyone).count == 1);
  }

  // Samba refuses the by-value compare-and-swap, so the write is compare-then-replace: another
  // administrator's write that lands just before the compare or just after the replace (the
  // seam runs it there) must leave both ACEs, theirs and ours, in the DACL.
  for (DaclWindow window : {DaclWindow::kBeforeCompare, DaclWindow::kAfterReplace}) {
    bool after = window == DaclWindow::kAfterReplace;
    SUBCASE(after ? "another writer just after the replace: both ACEs stay"
                  : "another writer just before the compare: both ACEs stay") {
      const std::string race_ou =
          "OU=Race" + std::string(after ? "A" : "B") + "-" + kRun + "," + kBase;
      ensure_ou(std::string("Race") + (after ? "A" : "B") + "-" + kRun);
      // The other administrator read the DACL before converge did, and writes it back blindly
      // (as an editor that replaces nTSecurityDescriptor does) with one ACE added.
      auto other = connect();
      auto stale = d.read_dacl(race_ou);
      REQUIRE(stale.ok());
      REQUIRE(*stale);
      sd::SecurityDescriptor theirs = (**stale).sd;
      sd::Ace their_ace = sd::Ace::make(false, *sd::Sid::parse("S-1-5-32-548"), sd::kListChildren);
      sd::upsert_explicit(*theirs.dacl, their_ace);
      std::vector<uint8_t> raw = sd::serialize(sd::dacl_only(theirs));
      int fired = 0;
      set_dacl_window_hook([&](DaclWindow w, const std::string& dn) {
        if (w != window || dn != race_ou || fired++) return;
        auto st = other->modify(
            dn, {{Mod::kReplace, "nTSecurityDescriptor", {std::string(raw.begin(), raw.end())}}},
            kDaclSecurityInformation);
        CHECK_MESSAGE(st.ok(), st.text);
      });
      Res ours("ace", "race",
               {{"object", S(race_ou)},
                {"principal", S("Authenticated Users")},
                {"rights", Value::StrList({"WriteProperty"})},
                {"applies_to", S("children_only")}});
      Status st = apply(*provider(), ours, Action::kCreate);
      set_dacl_window_hook(nullptr);
      REQUIRE_MESSAGE(fired >= 1, "the other writer never ran: the seam is not on the write path");
      CHECK_MESSAGE(st.ok(), (st.ok() ? "" : st.error().str()));
      auto now = d.read_dacl(race_ou);
      REQUIRE(now.ok());
      CHECK_MESSAGE(find_explicit(*(**now).sd.dacl, their_ace).count == 1,
                    "the other administrator's ACE was overwritten");
      CHECK_MESSAGE(observe(*provider(), {ours})[0].exists, "converge's ACE was overwritten");
    }
  }

  SUBCASE("parallel ace applies on one object all land") {
    auto p = provider();
    const char* rights[] = {"ReadProperty", "WriteProperty", "CreateChild", "DeleteChild",
                            "ListChildren", "DeleteTree",    "ListObject",  "Self"};
    const char* principals[] = {"Everyone",      "Authenticated Users", "SELF",
                                "SYSTEM",        "Interactive",         "Network Service",
                                "Local Service", "Administrators"};
    std::vector<Res> aces;
    for (int i = 0; i < 8; ++i)
      aces.emplace_back("ace", "p" + std::to_string(i),
                        AttrMap{{"object", S(ou)},
                                {"principal", S(principals[i])},
                                {"rights", Value::StrList({rights[i]})},
                                {"applies_to", S("children_only")}});
    std::vector<std::thread> threads;
    std::vector<Status> results(aces.size());
    for (size_t i = 0; i < aces.size(); ++i)
      threads.emplace_back([&, i] { results[i] = apply(*p, aces[i], Action::kCreate); });
    for (auto& t : threads) t.join();
    for (const auto& st : results) CHECK_MESSAGE(st.ok(), (st.ok() ? "" : st.error().str()));
    auto o = observe(*provider(), aces);
    for (size_t i = 0; i < o.size(); ++i) {
      CAPTURE(i);
      CHECK(o[i].exists);
    }
  }

  SUBCASE("a CREATOR OWNER ACE that the directory would rewrite is refused up front") {
    Res co("ace", "co",
           {{"object", S(ou)},
            {"principal", S("Creator Owner")},
            {"rights", Value::StrList({"ListChildren"})},
            {"applies_to", S("this_and_descendants")}});
    auto o = observe(*provider(), {co});
    REQUIRE(o[0].error);
    CHECK(o[0].error->message.find("CREATOR OWNER") != std::string::npos);
    Res ok("ace", "co2",
           {{"object", S(ou)},
            {"principal", S("Creator Owner")},
            {"rights", Value::StrList({"ListChildren"})},
            {"applies_to", S("descendants_only")}});
    auto p = provider();
    REQUIRE(apply(*p, ok, Action::kCreate).ok());
    CHECK(observe(*provider(), {ok})[0].exists);
  }
}

TEST_CASE("ldap integration: ACE writes leave owner, group and SACL alone") {
  ensure_ou("Owner-" + kRun);
  const std::string ou = "OU=Owner-" + kRun + "," + kBase;
  auto c = connect();
  auto full = [&] {
    std::string raw;
    auto st = c->search(
        ou, Conn::kBase, "(objectClass=*)", {"nTSecurityDescriptor"},
        [&](Entry&& e) { raw = e.first("ntsecuritydescriptor"); }, 0xF, 0);
    REQUIRE(st.ok());
    auto sdv = sd::parse({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
    REQUIRE(sdv.ok());
    return *sdv;
  };
  sd::SecurityDescriptor before = full();
  REQUIRE(before.owner);
  auto p = provider();
  Res ace("ace", "owner",
          {{"object", S(ou)},
           {"principal", S("Authenticated Users")},
           {"rights", Value::StrList({"GenericRead"})},
           {"object_type", S("user")},
           {"applies_to", S("descendants_only")}});
  REQUIRE(apply(*p, ace, Action::kCreate).ok());
  sd::SecurityDescriptor after = full();
  CHECK(after.owner == before.owner);
  CHECK(after.group == before.group);
  CHECK(after.sacl == before.sacl);
  CHECK(after.dacl != before.dacl);
  // Absent removes exactly that ACE again.
  REQUIRE(apply(*p, ace, Action::kDelete).ok());
  sd::SecurityDescriptor removed = full();
  CHECK(removed.dacl == before.dacl);
}

}  // namespace
}  // namespace converge::ldap
