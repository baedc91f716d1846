// Loading a manifest: the stages of engine/manifest_load.h, each run once, in order.
#include "engine/manifest.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/manifest_load.h"

namespace converge {

std::string content_hash(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

LoadResult load_manifest_string(std::string_view text, const std::string& path,
                                const std::vector<ProviderKind>& kinds) {
  using namespace manifest_load;
  LoadResult out;
  Manifest& m = out.manifest;
  m.path = path;
  auto slash = path.find_last_of('/');
  m.dir = slash == std::string::npos ? "." : path.substr(0, slash);
  m.hash = content_hash(text);
  LoadContext cx(path, kinds);
  if (auto raw = parse_manifest(text, m, cx)) {
    expand_resources(std::move(*raw), m, cx);
    resolve_references(m, cx);
    check_manifest(m, cx);
  }
  out.errors = std::move(cx.errors);
  return out;
}

LoadResult load_manifest_file(const std::string& path, const std::vector<ProviderKind>& kinds) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult out;
    out.manifest.path = path;
    out.errors.push_back(
        Error::Io("cannot read manifest '" + path + "'", "check the path").at(Loc{path, 0, 0}));
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_manifest_string(text.str(), path, kinds);
}

}  // namespace converge
