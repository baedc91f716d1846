// `converge plan MANIFEST`: what would change, printed for people or as JSON, optionally saved
// for `converge apply`. Recorded in the journal as a "plan" run; takes no lock. A saved plan
// records the SHA-256 of the manifest bytes it was made from (engine/saved_plan.h), and the
// journal records the SHA-256 of the plan file, so that apply can say whether it was made here.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/render.h"
#include "engine/saved_plan.h"

namespace converge::cli {

int cmd_plan(const Common& c, const PlanArgs& a) {
  // The manifest's bytes, read before planning; the plan is bound to them only if planning read
  // the same bytes (its content hash says so), so an edit made meanwhile cannot slip in.
  std::stringstream manifest_bytes;
  {
    std::ifstream in(a.manifest, std::ios::binary);
    if (in) manifest_bytes << in.rdbuf();
  }
  Planned p;
  Session session;
  if (int rc = make(c, a.manifest, p, &session, "", /*exclusive=*/false)) return rc;
  std::string bytes = manifest_bytes.str();
  if (content_hash(bytes) != p.loaded.m().hash) {
    std::cerr << "error: the manifest " << a.manifest
              << " changed while it was planned; make the plan again.\n";
    return finish(kFailed, &p.providers);
  }
  int64_t run = begin_run(session, "plan", p.plan);
  if (run) {
    PlanSummary ps = p.plan.summary();
    Status st = session.journal->end_run(
        run, "succeeded",
        std::to_string(ps.create) + " to create, " + std::to_string(ps.update) + " to update, " +
            std::to_string(ps.del) + " to delete, " + std::to_string(ps.blocked) + " blocked");
    if (!st.ok()) spdlog::error("{}", st.error().str());
  }
  // The plan file names the manifest by the SHA-256 of its bytes; the journal keeps the content
  // hash it knows manifest versions by (recorded above).
  // Written only when asked for: a large plan is mostly no-ops, and its JSON is as large.
  std::string text;
  if (a.json || !a.out.empty()) {
    std::string journal_hash = std::exchange(p.plan.manifest_hash, manifest_digest(bytes));
    text = p.plan.to_json();
    p.plan.manifest_hash = std::move(journal_hash);
  }
  if (a.json) {
    std::cout << text;
  } else {
    RenderOptions ro;
    ro.color = c.color;
    std::cout << render_plan(p.plan, ro);
  }
  if (!a.out.empty()) {
    if (!write_file(a.out, text)) {
      std::cerr << "error: cannot write plan to " << a.out << "\n";
      return finish(kFailed, &p.providers);
    }
    Status st = session.journal->remember_plan_file(run, sha256_hex(text), a.out);
    if (!st.ok())
      std::cerr << "warning: the journal did not record the plan file (apply will say it was not "
                   "made here): "
                << st.error().str() << "\n";
    if (!a.json)
      std::cout << "\nSaved the plan to " << a.out << ". Apply exactly it with: converge apply "
                << a.out << "\n";
  }
  session.journal.reset();
  int rc = observe_failed(p.plan)                                  ? kFailed
           : a.detailed_exitcode && p.plan.summary().changes() > 0 ? kChangesPending
                                                                   : kOk;
  return finish(rc, &p.providers);
}

}  // namespace converge::cli
