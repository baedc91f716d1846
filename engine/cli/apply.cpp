// `converge apply PLAN.json`: applies exactly a saved plan, after refusing it if the target moved
// since it was made (engine/saved_plan.h).
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/saved_plan.h"

namespace converge::cli {

int cmd_apply(const Common& c, const std::string& plan_file) {
  std::ifstream in(plan_file, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read plan file " << plan_file << "\n";
    return kUsage;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto plan = Plan::from_json(ss.str(), plan_file);
  if (!plan.ok()) {
    print_errors({plan.error()});
    return kInvalid;
  }
  std::string base = dirname_of(plan->manifest_path);
  Session session;
  if (int rc = open_session(c, true, "converge apply " + plan_file, session)) return rc;
  auto providers = open_providers(plan->providers, base, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  auto stale = stale_resources(*plan, *providers);
  if (!stale.empty()) {
    std::cerr << "error: the plan is stale: these resources changed since it was made ("
              << plan->created_at << "):\n";
    for (const auto& s : stale) std::cerr << "  " << s << "\n";
    std::cerr << "Nothing was changed. Make a new plan: converge plan " << plan->manifest_path
              << " --out " << plan_file << "\n";
    return kFailed;
  }
  auto secret_errors = check_secrets(*plan, base);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  int64_t run = begin_run(session, "apply", *plan);
  ApplySummary s = apply_plan(*plan, *providers, c, base, session, run);
  end_run(session, run, *plan, s);
  print_applied(s, session, run);
  return s.failed || s.skipped ? kFailed : kOk;
}

}  // namespace converge::cli
