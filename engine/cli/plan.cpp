// `converge plan MANIFEST`: what would change, printed for people or as JSON, optionally saved
// for `converge apply`. Recorded in the journal as a "plan" run; takes no lock.
#include <spdlog/spdlog.h>

#include <iostream>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/render.h"

namespace converge::cli {

int cmd_plan(const Common& c, const PlanArgs& a) {
  Planned p;
  Session session;
  if (int rc = make(c, a.manifest, p, &session, "", /*exclusive=*/false)) return rc;
  if (int64_t run = begin_run(session, "plan", p.plan)) {
    PlanSummary ps = p.plan.summary();
    Status st = session.journal->end_run(
        run, "succeeded",
        std::to_string(ps.create) + " to create, " + std::to_string(ps.update) + " to update, " +
            std::to_string(ps.del) + " to delete, " + std::to_string(ps.blocked) + " blocked");
    if (!st.ok()) spdlog::error("{}", st.error().str());
  }
  session.journal.reset();
  if (a.json) {
    std::cout << p.plan.to_json();
  } else {
    RenderOptions ro;
    ro.color = c.color;
    std::cout << render_plan(p.plan, ro);
  }
  if (!a.out.empty()) {
    if (!write_file(a.out, p.plan.to_json())) {
      std::cerr << "error: cannot write plan to " << a.out << "\n";
      return kFailed;
    }
    if (!a.json)
      std::cout << "\nSaved the plan to " << a.out << ". Apply exactly it with: converge apply "
                << a.out << "\n";
  }
  int rc = observe_failed(p.plan)                                  ? kFailed
           : a.detailed_exitcode && p.plan.summary().changes() > 0 ? kChangesPending
                                                                   : kOk;
  return finish(rc, &p.providers);
}

}  // namespace converge::cli
