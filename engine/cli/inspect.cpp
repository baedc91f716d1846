// `converge graph`, `converge validate`, `converge schema`: the manifest and its types looked at
// without observing anything.
#include <iostream>

#include "engine/cli/commands.h"
#include "engine/cli/providers.h"
#include "engine/cli/session.h"
#include "engine/schema_export.h"

namespace converge::cli {

int cmd_graph(const std::string& manifest, const std::string& format) {
  Loaded l;
  if (int rc = load(manifest, l, /*allow_cycle=*/true)) return rc;
  std::cout << (format == "json" ? l.graph->to_json(l.m()) : l.graph->to_dot(l.m()));
  if (auto cycle = l.graph->find_cycle()) {
    std::cerr << "error: dependency cycle: " << describe_cycle(l.m(), *cycle) << "\n";
    return kInvalid;
  }
  return kOk;
}

int cmd_validate(const std::string& manifest) {
  Loaded l;
  if (int rc = load(manifest, l)) return rc;
  std::cout << manifest << ": valid (" << l.m().resources.size() << " resources, "
            << l.graph->edges().size() << " dependencies)\n";
  return finish(kOk);
}

int cmd_schema(const std::string& format) {
  std::vector<std::string> kinds;
  for (const auto& k : provider_kinds()) kinds.push_back(k.type);
  std::cout << (format == "markdown" ? types_markdown() : manifest_json_schema(kinds));
  return kOk;
}

}  // namespace converge::cli
