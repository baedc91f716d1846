// `converge apply PLAN.json`: applies exactly a saved plan, and only what its manifest says
// (engine/saved_plan.h). In order, changing nothing until the last step: the plan file loads; the
// manifest it names has the digest it recorded; planning that manifest against the plan's
// recorded observations gives exactly the plan's changes; deletions are allowed on this command
// line too; the target has not moved since. Providers, desired state and the base directory of
// { file } secrets come from the manifest, never from the plan file.
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/saved_plan.h"

namespace converge::cli {
namespace {

bool read_all(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

std::string again(const Plan& p, const std::string& plan_file) {
  return "Make a new plan: converge plan " + p.manifest_path + " --out " + plan_file + "\n";
}

// Says whether this state directory wrote the plan file (by the SHA-256 of its bytes).
void say_where_made(Journal& j, const std::string& plan_bytes) {
  auto made = j.plan_file(sha256_hex(plan_bytes));
  if (made.ok() && *made)
    std::cout << "note: plan made here on " << (*made)->written
              << ((*made)->run ? " (run " + std::to_string((*made)->run) + ")" : "") << ".\n";
  else
    std::cout << "note: plan not made by this state directory (the journal " << j.path()
              << " has no record of this plan file).\n";
}

}  // namespace

int cmd_apply(const Common& c, const std::string& plan_file) {
  std::string text;
  if (!read_all(plan_file, text)) {
    std::cerr << "error: cannot read plan file " << plan_file << "\n";
    return kUsage;
  }
  auto plan = load_plan(text, plan_file);
  if (!plan.ok()) {
    print_errors({plan.error()});
    return kInvalid;
  }
  std::string bytes;
  if (!read_all(plan->manifest_path, bytes)) {
    std::cerr << "error: cannot read the manifest " << plan->manifest_path
              << " that the plan was made from (apply takes everything it does from it). "
                 "Nothing was changed.\n";
    return kUsage;
  }
  if (std::string digest = manifest_digest(bytes); plan->manifest_hash != digest) {
    std::cerr << "error: the manifest " << plan->manifest_path
              << " is not the one the plan was made from: digest mismatch (the plan records "
              << (plan->manifest_hash.empty() ? "none" : plan->manifest_hash)
              << ", the manifest is " << digest << "). Nothing was changed.\n"
              << again(*plan, plan_file);
    return kInvalid;
  }
  Loaded loaded;
  if (int rc = load(plan->manifest_path, loaded)) return rc;
  const Manifest& m = loaded.m();
  if (m.hash != content_hash(bytes)) {
    std::cerr << "error: the manifest " << m.path
              << " changed while it was read. Nothing was changed.\n";
    return kFailed;
  }
  Session session;
  if (int rc = open_session(c, true, "converge apply " + plan_file, session)) return rc;
  auto providers = open_providers(m.providers, m.dir, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  Plan mine = replan(*plan, m, *loaded.graph, *providers);
  if (auto diffs = plan_differences(*plan, mine); !diffs.empty()) {
    std::cerr << "error: the plan file was edited: it is not what " << m.path
              << " plans against the observations the plan recorded:\n";
    for (const auto& d : diffs) std::cerr << "  " << d << "\n";
    std::cerr << "Nothing was changed. " << again(*plan, plan_file);
    return kInvalid;
  }
  if (!c.allow_destroy) {
    std::vector<std::string> deletes;
    for (const auto& r : mine.resources)
      if (r.action == Action::kDelete) deletes.push_back(r.id);
    if (!deletes.empty()) {
      std::cerr << "error: the plan deletes " << deletes.size()
                << " resource(s); pass --allow-destroy to apply it:\n";
      for (const auto& id : deletes) std::cerr << "  " << id << "\n";
      std::cerr << "Nothing was changed.\n";
      return kUsage;
    }
  }
  say_where_made(*session.journal, text);
  auto stale = stale_resources(mine, *providers);
  if (!stale.empty()) {
    std::cerr << "error: the plan is stale: these resources changed since it was made ("
              << plan->created_at << "):\n";
    for (const auto& s : stale) std::cerr << "  " << s << "\n";
    std::cerr << "Nothing was changed. " << again(*plan, plan_file);
    return kFailed;
  }
  auto secret_errors = check_secrets(mine, m.dir);
  if (!secret_errors.empty()) {
    print_errors(secret_errors);
    return kInvalid;
  }
  classify_changes(*session.journal, mine);
  int64_t run = begin_run(session, "apply", mine);
  if (!run) {
    std::cerr << "error: the journal cannot record this run (see above). Nothing was changed.\n";
    return kFailed;
  }
  ApplySummary s = apply_plan(mine, *providers, c, m.dir, session, run);
  end_run(session, run, mine, s);
  print_applied(s, session, run);
  return s.failed || s.skipped ? kFailed : kOk;
}

}  // namespace converge::cli
