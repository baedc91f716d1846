#include "engine/noop_memo.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/graph.h"
#include "providers/registry.h"
#include "tests/support/map_provider.h"

using namespace converge;

namespace {

// Its fingerprint is a version the test bumps as "someone changed the data".
class VersionedProvider : public test::MapProvider {
 public:
  std::string observe_scope(const ObserveRequest& req) override {
    if (!scoped) return {};
    return req.type->name + ":" + std::to_string(req.resources.size());
  }
  std::optional<std::string> fingerprint(const std::string& type,
                                         const std::string& scope) override {
    asked.push_back(type + "@" + scope);
    if (!reachable) return std::nullopt;
    return "v" + std::to_string(version);
  }

  int version = 1;
  bool scoped = true, reachable = true;
  std::vector<std::string> asked;
};

const char* kManifest = R"(
[group.g]
name = "G"
path = "DC=t"
[ou.o]
name = "O"
path = "DC=t"
)";

struct Fixture {
  LoadResult lr;
  std::unique_ptr<Graph> g;
  ProviderMap providers;
  VersionedProvider* p = nullptr;
  Fixture() {
    lr = load_manifest_string(kManifest, "memo.toml", provider_kinds());
    REQUIRE(lr.ok());
    g = Graph::build(lr.manifest, nullptr);
    auto v = std::make_unique<VersionedProvider>();
    p = v.get();
    providers["lab"] = std::move(v);
    p->world["group.g"] = {{"name", Value::Str("G")},
                           {"path", Value::Str("DC=t")},
                           {"scope", Value::Str("global")},
                           {"category", Value::Str("security")}};
    p->world["ou.o"] = {{"name", Value::Str("O")}, {"path", Value::Str("DC=t")}};
  }
  Plan plan() { return make_plan(lr.manifest, *g, providers, PlanOptions{}); }
};

std::string temp_dir() {
  char tmpl[] = "/tmp/converge-memo-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

}  // namespace

TEST_CASE("a clean no-op plan is remembered with one scope and fingerprint per group") {
  Fixture f;
  Plan plan = f.plan();
  REQUIRE(is_clean_noop(plan));
  auto memo = make_noop_memo(f.lr.manifest, plan, f.providers, PlanOptions{});
  REQUIRE(memo.has_value());
  CHECK(memo->manifest_path == "memo.toml");
  CHECK(memo->manifest_hash == f.lr.manifest.hash);
  CHECK(memo->options == "allow_destroy=0");
  CHECK(memo->unchanged == 2);
  REQUIRE(memo->groups.size() == 2);  // one per (provider, type), as observe_all groups them
  CHECK(memo->groups[0] == NoopMemo::Group{"lab", "group", "group:1", "v1"});
  CHECK(memo->groups[1] == NoopMemo::Group{"lab", "ou", "ou:1", "v1"});

  // It holds while every fingerprint is the same, and only then.
  f.p->asked.clear();
  CHECK(noop_memo_holds(*memo, f.providers));
  CHECK(f.p->asked == std::vector<std::string>{"group@group:1", "ou@ou:1"});
  f.p->version = 2;
  CHECK_FALSE(noop_memo_holds(*memo, f.providers));
  f.p->version = 1;
  f.p->reachable = false;
  CHECK_FALSE(noop_memo_holds(*memo, f.providers));
  ProviderMap none;
  CHECK_FALSE(noop_memo_holds(*memo, none));
  CHECK(plan_options_key(PlanOptions{true}) != memo->options);
}

TEST_CASE("plans with something to show, or data that cannot be fingerprinted, are not kept") {
  Fixture f;
  f.p->world.erase("ou.o");  // ou.o is to be created
  Plan create = f.plan();
  CHECK_FALSE(is_clean_noop(create));
  CHECK_FALSE(make_noop_memo(f.lr.manifest, create, f.providers, PlanOptions{}).has_value());

  Fixture g;
  Plan noted = g.plan();
  noted.notes.push_back("zone transfer refused");
  CHECK_FALSE(is_clean_noop(noted));
  Plan failed = g.plan();
  failed.resources.front().observe_error = Error::Transient("down");
  CHECK_FALSE(is_clean_noop(failed));
  CHECK_FALSE(is_clean_noop(Plan{}));

  Plan clean = g.plan();
  g.p->scoped = false;
  CHECK_FALSE(make_noop_memo(g.lr.manifest, clean, g.providers, PlanOptions{}).has_value());
  g.p->scoped = true;
  g.p->reachable = false;
  CHECK_FALSE(make_noop_memo(g.lr.manifest, clean, g.providers, PlanOptions{}).has_value());
}

TEST_CASE("a memo is read back only by the same build, for the same path; damage is a miss") {
  NoopMemo m;
  m.manifest_path = "dir/m.toml";
  m.manifest_hash = "0123456789abcdef";
  m.options = "allow_destroy=0";
  m.groups = {{"dns", "dns_record", "target.local.\nlocal.", "sha256:00ff"},
              {"dns", "dns_zone", "local.", "served"}};
  m.unchanged = 6001;
  std::string bytes = encode_noop_memo(m, "build-1");
  auto back = decode_noop_memo(bytes, "build-1");
  REQUIRE(back.has_value());
  CHECK(*back == m);
  CHECK_FALSE(decode_noop_memo(bytes, "build-2").has_value());
  for (size_t n = 0; n < bytes.size(); n += 7)
    CHECK_FALSE(decode_noop_memo(bytes.substr(0, n), "build-1").has_value());
  for (const char* field : {"\"groups\"", "\"unchanged\"", "\"manifest_hash\"", "\"scope\""}) {
    std::string broken = bytes;
    broken.replace(broken.find(field), std::string(field).size(), "\"other\"");
    CHECK_FALSE(decode_noop_memo(broken, "build-1").has_value());
  }

  std::string dir = temp_dir();
  write_noop_memo(dir, m);
  REQUIRE(std::filesystem::exists(noop_memo_file(dir, m.manifest_path)));
  auto read = read_noop_memo(dir, m.manifest_path);
  REQUIRE(read.has_value());
  CHECK(*read == m);
  CHECK_FALSE(read_noop_memo(dir, "other.toml").has_value());
  {
    std::ofstream out(noop_memo_file(dir, m.manifest_path), std::ios::trunc);
    out << "{\"format\":";
  }
  CHECK_FALSE(read_noop_memo(dir, m.manifest_path).has_value());
  write_noop_memo(dir, m);
  drop_noop_memo(dir, m.manifest_path);
  CHECK_FALSE(std::filesystem::exists(noop_memo_file(dir, m.manifest_path)));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a plan known from its memo counts its unchanged resources without listing them") {
  Plan p;
  p.elided_noops = 6001;
  CHECK(p.summary().noop == 6001);
  CHECK(p.summary().changes() == 0);
  CHECK(p.to_json(-1, true).find("\"resources\":[]") != std::string::npos);
}
