// `converge lab init WORLD`: recreates the embedded lab from a world file.
#include <iostream>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "providers/lab/lab_provider.h"

namespace converge::cli {

int cmd_lab_init(const Common& c, const std::string& world) {
  std::string path = default_lab_path(c);
  Status st = lab::init_lab(path, world);
  if (!st.ok()) {
    print_errors({st.error()});
    return exit_for(st.error());
  }
  std::cout << "lab " << path << " recreated from " << world << "\n";
  return kOk;
}

}  // namespace converge::cli
