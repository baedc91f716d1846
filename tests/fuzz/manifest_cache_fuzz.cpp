// libFuzzer target: decoding a compiled-manifest cache entry (engine/manifest_cache.h), and a
// no-op memo (engine/noop_memo.h), from arbitrary bytes. Both sit in the state directory, where
// anything may have damaged them: decoding must reject them (a miss) or give a well-formed value
// whose encoding decodes again to the same value — never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/manifest_cache.h"
#include "engine/noop_memo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto memo = converge::decode_noop_memo(bytes, "")) {
    if (memo->groups.empty() || memo->unchanged < 0) std::abort();
    for (const auto& g : memo->groups)
      if (g.scope.empty() || g.fingerprint.empty()) std::abort();
    auto again = converge::decode_noop_memo(converge::encode_noop_memo(*memo, ""), "");
    if (!again || !(*again == *memo)) std::abort();
  }
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
