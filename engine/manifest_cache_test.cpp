#include "engine/manifest_cache.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "providers/registry.h"

using namespace converge;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool same_loc(const Loc& a, const Loc& b) {
  return a.file == b.file && a.line == b.line && a.column == b.column;
}

// Everything load_manifest() produces, compared field by field.
void check_same(const Manifest& a, const Manifest& b) {
  CHECK(a.path == b.path);
  CHECK(a.dir == b.dir);
  CHECK(a.hash == b.hash);
  CHECK(a.vars == b.vars);
  REQUIRE(a.providers.size() == b.providers.size());
  for (size_t i = 0; i < a.providers.size(); ++i) {
    CHECK(a.providers[i].name == b.providers[i].name);
    CHECK(a.providers[i].type == b.providers[i].type);
    CHECK(a.providers[i].settings == b.providers[i].settings);
    CHECK(same_loc(a.providers[i].loc, b.providers[i].loc));
  }
  REQUIRE(a.resources.size() == b.resources.size());
  for (size_t i = 0; i < a.resources.size(); ++i) {
    const Resource& x = a.resources[i];
    const Resource& y = b.resources[i];
    CAPTURE(x.id);
    CHECK(x.id == y.id);
    CHECK(x.type == y.type);
    CHECK(x.name == y.name);
    CHECK(x.key == y.key);
    CHECK(x.attrs == y.attrs);
    REQUIRE(x.attr_locs.size() == y.attr_locs.size());
    for (size_t k = 0; k < x.attr_locs.size(); ++k) {
      CHECK(x.attr_locs[k].attr == y.attr_locs[k].attr);
      CHECK(x.attr_locs[k].line == y.attr_locs[k].line);
      CHECK(x.attr_locs[k].column == y.attr_locs[k].column);
    }
    CHECK(same_loc(x.loc, y.loc));
    CHECK(x.absent == y.absent);
    CHECK(x.provider == y.provider);
    CHECK(x.drift == y.drift);
    REQUIRE(x.deps.size() == y.deps.size());
    for (size_t k = 0; k < x.deps.size(); ++k) {
      CHECK(x.deps[k].target == y.deps[k].target);
      CHECK(x.deps[k].kind == y.deps[k].kind);
      CHECK(same_loc(x.deps[k].loc, y.deps[k].loc));
    }
    CHECK(x.identity == y.identity);
  }
  CHECK(a.index == b.index);
  CHECK(a.groups == b.groups);
}

}  // namespace

TEST_CASE("the compiled manifest round-trips every shipped manifest exactly") {
  std::string src = CONVERGE_SOURCE_DIR;
  int seen = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(src + "/manifests")) {
    if (e.path().extension() != ".toml" || e.path().string().find("/labs/") != std::string::npos)
      continue;
    CAPTURE(e.path().string());
    std::string text = slurp(e.path().string());
    LoadResult lr = load_manifest_string(text, e.path().string(), provider_kinds());
    REQUIRE(lr.ok());
    std::string bytes = encode_manifest(lr.manifest, text, "build-1");
    auto back = decode_manifest(bytes, text, "build-1");
    REQUIRE(back.has_value());
    check_same(lr.manifest, *back);
    ++seen;
  }
  CHECK(seen >= 5);
}

TEST_CASE("a large manifest is encoded in two chunks and decoded on two threads, in order") {
  std::string text = "[ou.o]\nname = \"${each.value}\"\npath = \"DC=t\"\nfor_each = [";
  for (int i = 0; i < 4001; ++i) text += "\"o" + std::to_string(i) + "\", ";
  text += "]\n";
  LoadResult lr = load_manifest_string(text, "big.toml", provider_kinds());
  REQUIRE(lr.ok());
  REQUIRE(lr.manifest.resources.size() == 4001);
  std::string bytes = encode_manifest(lr.manifest, text, "b");
  auto back = decode_manifest(bytes, text, "b");
  REQUIRE(back.has_value());
  check_same(lr.manifest, *back);
  CHECK_FALSE(decode_manifest(bytes.substr(0, bytes.size() / 2), text, "b").has_value());
}

TEST_CASE(
    "while decoding, the header and the first resource of each provider and type come first") {
  std::string text =
      "[provider.dns]\ntype = \"dns\"\nserver = \"127.0.0.1:1\"\nallow_unsigned = true\n"
      "[dns_record.a]\nzone = \"z.test\"\nname = \"a\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n"
      "provider = \"dns\"\n"
      "[dns_record.b]\nzone = \"y.test\"\nname = \"b\"\ntype = \"A\"\nvalues = [\"192.0.2.2\"]\n"
      "provider = \"dns\"\n"
      "[ou.x]\nname = \"X\"\npath = \"DC=t\"\n[ou.y]\nname = \"Y\"\npath = \"DC=t\"\n";
  LoadResult lr = load_manifest_string(text, "h.toml", provider_kinds());
  REQUIRE(lr.ok());
  std::string bytes = encode_manifest(lr.manifest, text, "b");
  std::vector<std::string> ids;
  size_t providers = 0, resources_then = 99;
  auto m =
      decode_manifest(bytes, text, "b", [&](const Manifest& h, const std::vector<Resource>& f) {
        providers = h.providers.size();
        resources_then = h.resources.size();
        for (const auto& r : f) ids.push_back(r.id);
        return false;
      });
  REQUIRE(m.has_value());
  CHECK(providers == lr.manifest.providers.size());
  CHECK(resources_then == 0);
  CHECK(ids == std::vector<std::string>{"dns_record.a", "ou.x"});
}

TEST_CASE("a cache entry is used only for the same bytes and the same build; damage is a miss") {
  std::string text =
      "[vars]\nou = \"OU=T,DC=t\"\n"
      "[account.a]\nname = \"a\"\npath = \"${var.ou}\"\npassword = { env = \"PW\" }\n"
      "[group.g]\nname = \"G\"\npath = \"DC=t\"\n"
      "[group_member.m]\nfor_each = [\"a\"]\ngroup = \"G\"\nmember = \"${each.value}\"\n";
  LoadResult lr = load_manifest_string(text, "m.toml", provider_kinds());
  REQUIRE(lr.ok());
  std::string bytes = encode_manifest(lr.manifest, text, "build-1");
  REQUIRE(decode_manifest(bytes, text, "build-1").has_value());
  CHECK_FALSE(decode_manifest(bytes, text, "build-2").has_value());
  CHECK_FALSE(decode_manifest(bytes, text + " ", "build-1").has_value());
  // The secret is a reference in the manifest, and so in the entry; never a value.
  CHECK(bytes.find("env:PW") != std::string::npos);
  // Every truncation and every flipped byte is rejected or decodes to something well-formed.
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK_FALSE(decode_manifest(bytes.substr(0, n), text, "build-1").has_value());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    auto m = decode_manifest(bad, text, "build-1");
    if (m)
      for (const auto& [g, members] : m->groups)
        for (size_t k : members) CHECK(k < m->resources.size());
  }
}

TEST_CASE(
    "load_manifest_cached: a miss parses and stores, a hit returns the same, an edit misses") {
  auto dir = std::filesystem::temp_directory_path() /
             ("converge-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.toml").string();
  std::ofstream(path) << "[ou.x]\nname = \"X\"\npath = \"DC=t\"\n";
  bool hit = true;
  LoadResult first = load_manifest_cached(path, provider_kinds(), dir.string(), &hit);
  REQUIRE(first.ok());
  CHECK_FALSE(hit);
  CHECK(std::filesystem::exists(manifest_cache_file(dir.string(), path)));
  LoadResult second = load_manifest_cached(path, provider_kinds(), dir.string(), &hit);
  CHECK(hit);
  check_same(first.manifest, second.manifest);
  std::ofstream(path) << "[ou.x]\nname = \"Y\"\npath = \"DC=t\"\n";
  LoadResult third = load_manifest_cached(path, provider_kinds(), dir.string(), &hit);
  CHECK_FALSE(hit);
  CHECK(third.manifest.resources.at(0).attrs.at("name").as_string() == "Y");
  // An invalid manifest is reported as always and leaves no entry behind.
  std::ofstream(path) << "[ou.x]\nname = 1\n";
  std::filesystem::remove(manifest_cache_file(dir.string(), path));
  LoadResult bad = load_manifest_cached(path, provider_kinds(), dir.string(), &hit);
  CHECK_FALSE(bad.ok());
  CHECK_FALSE(hit);
  CHECK_FALSE(std::filesystem::exists(manifest_cache_file(dir.string(), path)));
  std::filesystem::remove_all(dir);
}
