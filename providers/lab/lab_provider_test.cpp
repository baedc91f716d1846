#include "providers/lab/lab_provider.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/api/names.h"

using namespace converge;
using namespace converge::lab;

namespace {
// A fresh lab from the real world file in a temp dir.
struct Lab {
  std::string dir, path;
  std::unique_ptr<LabProvider> p;
  std::vector<std::unique_ptr<std::string>> ids;
  std::vector<std::unique_ptr<AttrMap>> attrs;
  Lab() {
    char tmpl[] = "/tmp/converge-lab-test-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/lab.sqlite";
    ProviderConfig cfg;
    cfg.lab_path = path;
    cfg.settings["world"] =
        Value::Str(std::string(CONVERGE_SOURCE_DIR) + "/manifests/labs/exchange2007-fresh.toml");
    auto r = LabProvider::open(cfg);
    if (!r.ok()) FAIL(r.error().str());
    p = std::move(*r);
  }
  ~Lab() { std::filesystem::remove_all(dir); }
  ResourceView view(const std::string& type, AttrMap a) {
    const TypeSpec* t = find_type(type);
    for (const auto& s : t->attrs)
      if (!a.count(s.name) && s.def) a[s.name] = *s.def;
    derive_computed(*t, a);
    ids.push_back(std::make_unique<std::string>(type + ".t"));
    attrs.push_back(std::make_unique<AttrMap>(std::move(a)));
    return {ids.back().get(), t, attrs.back().get()};
  }
  Status create(const std::string& type, AttrMap a,
                std::map<std::string, std::string> secrets = {}) {
    ApplyRequest req;
    req.resource = view(type, std::move(a));
    req.action = Action::kCreate;
    req.secrets = std::move(secrets);
    return p->apply(req).status;
  }
  Observation observe(const std::string& type, AttrMap a) {
    ObserveRequest req;
    req.type = find_type(type);
    req.resources.push_back(view(type, std::move(a)));
    return p->observe(req).results.at(0);
  }
};
AttrMap account_attrs(const std::string& name,
                      const std::string& path = "CN=Users,DC=target,DC=local") {
  return {{"name", Value::Str(name)}, {"path", Value::Str(path)}, {"enabled", Value::Bool(false)}};
}
std::string msg(const Status& s) { return s.ok() ? "" : s.error().message; }
}  // namespace

TEST_CASE("lab: accounts need an existing container and a unique sAMAccountName") {
  Lab lab;
  CHECK(lab.create("account", account_attrs("QMM_Trg_Ex")).ok());
  CHECK(lab.observe("account", account_attrs("qmm_trg_ex")).exists);
  CHECK(msg(lab.create("account",
                       account_attrs("qmm_trg_ex",
                                     "OU=Microsoft Exchange System Objects,DC=target,DC=local")))
            .find("already in use") != std::string::npos);
  CHECK(msg(lab.create("group", {{"name", Value::Str("Domain Admins")},
                                 {"path", Value::Str("CN=Users,DC=target,DC=local")}}))
            .find("already in use") != std::string::npos);
  CHECK(msg(lab.create("account", account_attrs("x", "OU=Nowhere,DC=target,DC=local")))
            .find("does not exist") != std::string::npos);
  AttrMap enabled = account_attrs("y");
  enabled["enabled"] = Value::Bool(true);
  CHECK(msg(lab.create("account", enabled)).find("needs a password") != std::string::npos);
  CHECK(lab.create("account", enabled, {{"password", "s3cret!"}}).ok());
}

TEST_CASE("lab: unknown principals and object types are refused") {
  Lab lab;
  AttrMap ace{{"object", Value::Str("DC=target,DC=local")},
              {"principal", Value::Str("Nobody")},
              {"rights", Value::StrList({"GenericRead"})}};
  CHECK(msg(lab.create("ace", ace)).find("unknown principal 'Nobody'") != std::string::npos);
  ace["principal"] = Value::Str("Domain Admins");
  ace["object_type"] = Value::Str("Send-Ass");
  CHECK(msg(lab.create("ace", ace)).find("neither an extended right nor a schema class") !=
        std::string::npos);
  ace["object_type"] = Value::Str("Send-As");
  CHECK(lab.create("ace", ace).ok());
  ace["object"] = Value::Str("OU=Missing,DC=target,DC=local");
  CHECK(msg(lab.create("ace", ace)).find("does not exist") != std::string::npos);
  CHECK(msg(lab.create("group_member",
                       {{"group", Value::Str("Domain Admins")}, {"member", Value::Str("ghost")}}))
            .find("unknown principal") != std::string::npos);
}

TEST_CASE("lab: an ACE with other rights is replaced, GenericAll stored expanded") {
  Lab lab;
  AttrMap ace{{"object", Value::Str("DC=target,DC=local")},
              {"principal", Value::Str("Domain Admins")},
              {"rights", Value::StrList({"FullControl"})}};
  CHECK(lab.create("ace", ace).ok());
  Observation o = lab.observe("ace", ace);
  REQUIRE(o.exists);
  CHECK(o.attrs["rights"].strings() == std::vector<std::string>{"GenericAll"});
  ApplyRequest upd;
  ace["rights"] = Value::StrList({"GenericRead"});
  upd.resource = lab.view("ace", ace);
  upd.action = Action::kUpdate;
  upd.changed = {"rights"};
  CHECK(lab.p->apply(upd).status.ok());
  CHECK(lab.observe("ace", ace).attrs["rights"].strings() ==
        std::vector<std::string>{"GenericRead"});
}

TEST_CASE("lab: MX to an in-zone name without an address record is refused") {
  Lab lab;
  CHECK(lab.create("dns_zone", {{"name", Value::Str("local")}}).ok());
  AttrMap mx{{"zone", Value::Str("local")},
             {"name", Value::Str("target")},
             {"type", Value::Str("MX")},
             {"values", Value::StrList({"10 exch1.target.local."})}};
  CHECK(msg(lab.create("dns_record", mx)).find("has no A/AAAA record") != std::string::npos);
  CHECK(lab.create("dns_record", {{"zone", Value::Str("local")},
                                  {"name", Value::Str("exch1.target")},
                                  {"type", Value::Str("A")},
                                  {"values", Value::StrList({"192.0.2.11"})}})
            .ok());
  CHECK(lab.create("dns_record", mx).ok());
  CHECK(msg(lab.create("dns_record", {{"zone", Value::Str("nozone")},
                                      {"name", Value::Str("a")},
                                      {"type", Value::Str("A")},
                                      {"values", Value::StrList({"192.0.2.1"})}}))
            .find("zone 'nozone' does not exist") != std::string::npos);
}

TEST_CASE("lab: mailboxes need a mounted database; DCs have no local groups") {
  Lab lab;
  CHECK(lab.create("account", account_attrs("mbx")).ok());
  AttrMap mbx{{"account", Value::Str("mbx")}, {"database", Value::Str("EXCH9\\SG\\DB")}};
  CHECK(msg(lab.create("mailbox", mbx)).find("does not exist") != std::string::npos);
  mbx["database"] = Value::Str("EXCH1\\First Storage Group\\Mailbox Database");
  CHECK(lab.create("mailbox", mbx).ok());
  CHECK(msg(lab.create("local_group_member",
                       {{"host", Value::Str("DC1")}, {"member", Value::Str("mbx")}}))
            .find("domain controller") != std::string::npos);
  CHECK(lab.create("local_group_member",
                   {{"host", Value::Str("EXCH1")}, {"member", Value::Str("mbx")}})
            .ok());
}

TEST_CASE("lab: checks read the world's facts") {
  Lab lab;
  Observation sw = lab.observe("software", {{"host", Value::Str("EXCH1")},
                                            {"product", Value::Str("MAPI CDO")},
                                            {"min_version", Value::Str("6.5.8353.0")}});
  CHECK(sw.exists);
  CHECK(sw.attrs["min_version"].as_string() == "6.5.8211.0");
  Observation missing =
      lab.observe("software", {{"host", Value::Str("EXCH2")}, {"product", Value::Str("MAPI CDO")}});
  CHECK(missing.note.find("not installed") != std::string::npos);
  Observation host = lab.observe("host_requirement", {{"host", Value::Str("EXCH1")}});
  CHECK(host.attrs["min_os_version"].as_string() == "6.0");
  Observation dbattr = lab.observe(
      "ldap_attribute",
      {{"object",
        Value::Str(
            "CN=Mailbox Database,CN=First Storage Group,CN=InformationStore,CN=EXCH1,"
            "CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative "
            "Groups,CN=Target Organization,CN=Microsoft Exchange,CN=Services,CN="
            "Configuration,DC=target,DC=local")},
       {"attribute", Value::Str("displayName")},
       {"copy_from", Value::Str("adminDisplayName")}});
  CHECK(dbattr.exists);
  CHECK(dbattr.attrs["source_value"].text() == "Mailbox Database EXCH1");
}

TEST_CASE("lab: a failed write leaves nothing behind; fault injection") {
  Lab lab;
  auto f = Faults::parse("fail_nth=2,latency_ms=0");
  REQUIRE(f.ok());
  CHECK(f->fail_nth == 2);
  CHECK_FALSE(Faults::parse("bogus=1").ok());
  CHECK_FALSE(lab.create("account", account_attrs("z", "OU=Nowhere,DC=target,DC=local")).ok());
  CHECK_FALSE(lab.observe("account", account_attrs("z")).exists);
}

TEST_CASE("lab: the attribute encoding round-trips and rejects garbage") {
  AttrMap m{{"a", Value::Str("x")},
            {"b", Value::Int(-5)},
            {"c", Value::List({Value::Str("1"), Value::Bool(true)})},
            {"d", Value()}};
  auto back = decode_attrs(encode_attrs(m));
  REQUIRE(back.ok());
  CHECK(*back == m);
  CHECK_FALSE(decode_attrs(std::string("a\0s\xff\xff\xff\x7f", 8)).ok());
}

TEST_CASE("lab: an explicit ACE beside an inherited one with the same identity leaves it alone") {
  Lab lab;
  AttrMap ace{{"object", Value::Str("OU=Microsoft Exchange System Objects,DC=target,DC=local")},
              {"principal", Value::Str("Exchange Servers")},
              {"rights", Value::StrList({"GenericRead"})},
              {"applies_to", Value::Str("this_and_descendants")}};
  // The world holds only the inherited one: the explicit ACE does not exist yet.
  CHECK_FALSE(lab.observe("ace", ace).exists);
  ace["rights"] = Value::StrList({"GenericAll"});
  CHECK(lab.create("ace", ace).ok());
  CHECK(lab.observe("ace", ace).attrs["rights"].strings() ==
        std::vector<std::string>{"GenericAll"});
  ApplyRequest del;
  del.resource = lab.view("ace", ace);
  del.action = Action::kDelete;
  CHECK(lab.p->apply(del).status.ok());
  CHECK_FALSE(lab.observe("ace", ace).exists);
  // The inherited ACE is still in the store, untouched.
  auto store = LabStore::open(lab.path);
  REQUIRE(store.ok());
  auto rows = (*store)->all("ace");
  REQUIRE(rows.ok());
  int inherited = 0;
  for (auto& [k, a] : *rows)
    if (a["inherited"].as_bool()) ++inherited;
  CHECK(inherited == 1);
}
