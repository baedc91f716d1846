// `converge undo RUN`: applies the inverse of what a recorded run applied (engine/undo.h), after
// showing it and asking; refuses, changing nothing, when later runs changed the same resources,
// when the target moved since, or when any part of the undo is blocked. Its providers are the ones
// the run's manifest declares now.
#include "engine/undo.h"

#include <unistd.h>

#include <iostream>
#include <set>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/render.h"

namespace converge::cli {
namespace {

// Asks on the terminal; true for "yes". No terminal without --yes is a usage error (`*rc`).
bool confirmed(const Common& c, int* rc) {
  if (c.yes) return true;
  if (!isatty(STDIN_FILENO)) {
    std::cerr << "error: undo needs confirmation: pass --yes to apply it without asking. Nothing "
                 "was changed.\n";
    *rc = kUsage;
    return false;
  }
  std::cout << "\nApply this undo? Only 'yes' is accepted: " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "yes") return true;
  std::cout << "Undo cancelled. Nothing was changed.\n";
  *rc = kOk;
  return false;
}

}  // namespace

int cmd_undo(const Common& c, int64_t id) {
  Session session;
  if (int rc = open_session(c, true, "converge undo " + std::to_string(id), session)) return rc;
  Journal& j = *session.journal;
  auto run = j.run(id);
  if (!run.ok()) {
    print_errors({run.error()});
    return kUsage;
  }
  auto stored = j.plan_of(id);
  auto changes = j.changes(id);
  if (!stored.ok() || !changes.ok()) {
    print_errors({stored.ok() ? changes.error() : stored.error()});
    return kFailed;
  }
  auto applied = applied_changes(*stored, *changes);
  if (applied.empty()) {
    std::cout << "Run " << id << " applied no change: nothing to undo.\n";
    return kOk;
  }
  std::set<std::string> ids;
  for (const auto* r : applied) ids.insert(r->id);
  auto later = j.changed_after(id, ids);
  if (!later.ok()) {
    print_errors({later.error()});
    return kFailed;
  }
  if (!later->empty()) {
    std::cerr << "error: cannot undo run " << id << ": later runs changed these resources again:\n";
    for (const auto& r : *later) std::cerr << "  " << r << "\n";
    std::cerr << "Undo the later runs first (see `converge history`). Nothing was changed.\n";
    return kFailed;
  }
  // Providers and their settings come from the manifest as it is now, never from the stored
  // plan: the journal's copy of a provider block is not what the operator reviews today.
  std::string manifest = run->manifest.empty() ? stored->manifest_path : run->manifest;
  Loaded loaded;
  if (int rc = load(manifest, loaded)) {
    std::cerr << "error: undo opens the providers that the manifest " << manifest << " of run "
              << id << " declares, and it does not load (see above).\n";
    return rc;
  }
  const Manifest& m = loaded.m();
  for (const auto* r : applied)
    if (!m.provider(r->provider)) {
      std::cerr << "error: cannot undo run " << id << ": " << r->id
                << " was changed through provider '" << r->provider << "', which " << manifest
                << " no longer declares. Nothing was changed.\n";
      return kFailed;
    }
  auto providers = open_providers(m.providers, m.dir, c);
  if (!providers.ok()) {
    print_errors({providers.error()});
    return exit_for(providers.error());
  }
  Plan inverse = inverse_plan(*stored, applied, c.allow_destroy);
  inverse.providers = m.providers;  // what it is applied with, as the journal records it
  auto moved = moved_since(applied, inverse, *providers);
  if (!moved.empty()) {
    std::cerr << "error: cannot undo run " << id << ": these resources changed since it ran:\n";
    for (const auto& m : moved) std::cerr << "  " << m << "\n";
    std::cerr << "Nothing was changed.\n";
    return kFailed;
  }
  RenderOptions ro;
  ro.color = c.color;
  std::cout << "Undo of run " << id << " (" << run->kind << ", " << run->started << "):\n"
            << render_plan(inverse, ro);
  if (inverse.summary().blocked > 0) {
    std::cerr << "error: part of this undo is blocked (see '!' above); nothing was changed.\n";
    return kFailed;
  }
  if (int rc = kOk; !confirmed(c, &rc)) return rc;
  int64_t urun = begin_run(session, "undo", inverse, id);
  if (!urun) {
    std::cerr << "error: the journal cannot record this undo (see above). Nothing was changed.\n";
    return kFailed;
  }
  ApplySummary s = apply_plan(inverse, *providers, c, m.dir, session, urun);
  end_run(session, urun, inverse, s);
  std::cout << "\n" << render_apply_summary(s) << "\n";
  std::cout << "Recorded as run " << urun << ".\n";
  return s.failed || s.skipped || s.blocked ? kFailed : kOk;
}

}  // namespace converge::cli
