// libFuzzer target: manifest loading, validation and graph building on arbitrary bytes.
// Whatever the input, loading must return errors (never crash, hang or leak), and a manifest
// that loads must give a graph whose cycle check and order agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/graph.h"
#include "engine/manifest.h"
#include "tests/support/kinds.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto lr = converge::load_manifest_string(text, "fuzz.toml", converge::test::kinds());
  if (!lr.ok()) {
    for (const auto& e : lr.errors)
      if (e.message.empty()) std::abort();  // every error says something
    return 0;
  }
  std::vector<converge::Error> errors;
  auto g = converge::Graph::build(lr.manifest, &errors);
  auto cycle = g->find_cycle();
  if (!cycle) {
    if (g->topo_order().size() != lr.manifest.resources.size()) std::abort();
  } else {
    (void)converge::describe_cycle(lr.manifest, *cycle);
  }
  (void)g->to_dot(lr.manifest);
  return 0;
}
