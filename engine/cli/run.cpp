// `converge MANIFEST` (`converge run`): load, validate, lock, observe, plan, print, apply,
// journal — in that order.
#include <iostream>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/render.h"

namespace converge::cli {

int cmd_run(const Common& c, const std::string& manifest) {
  Planned p;
  Session session;
  if (int rc = make(c, manifest, p, &session, "converge " + manifest)) return rc;
  RenderOptions ro;
  ro.color = c.color;
  std::cout << render_plan(p.plan, ro);
  if (observe_failed(p.plan)) {
    std::cerr << "error: some resources could not be observed; nothing was changed.\n";
    return kFailed;
  }
  int64_t run = begin_run(session, "run", p.plan);
  if (!run) {
    std::cerr << "error: the journal cannot record this run (see above). Nothing was changed.\n";
    return finish(kFailed, &p.providers);
  }
  ApplySummary s = apply_plan(p.plan, p.providers, c, p.loaded.m().dir, session, run);
  end_run(session, run, p.plan, s);
  print_applied(s, session, run);
  session.journal.reset();
  return finish(s.failed || s.skipped || s.blocked ? kFailed : kOk, &p.providers);
}

}  // namespace converge::cli
