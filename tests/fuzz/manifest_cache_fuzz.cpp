// libFuzzer target: decoding a compiled-manifest cache entry (engine/manifest_cache.h) from
// arbitrary bytes. The entry sits in the state directory, where anything may have damaged it:
// decoding must reject it (a miss) or give a well-formed manifest whose encoding decodes again to
// the same encoding — never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/manifest_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = converge::decode_manifest(bytes, "", "");
  if (!m) return 0;
  for (const auto& r : m->resources)
    if (!r.type || m->find(r.id) != &r) std::abort();
  for (const auto& [g, members] : m->groups)
    for (size_t i : members)
      if (i >= m->resources.size()) std::abort();
  std::string again = converge::encode_manifest(*m, "", "");
  auto m2 = converge::decode_manifest(again, "", "");
  if (!m2 || converge::encode_manifest(*m2, "", "") != again) std::abort();
  return 0;
}
