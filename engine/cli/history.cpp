// `converge history` and `converge show RUN`: the journal read back for people.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"

namespace converge::cli {

int cmd_history(const Common& c, int limit) {
  Session session;
  if (int rc = open_session(c, false, "", session)) return rc;
  auto runs = session.journal->runs(limit);
  if (!runs.ok()) {
    print_errors({runs.error()});
    return kFailed;
  }
  if (runs->empty()) {
    std::cout << "No runs recorded in " << session.journal->path() << ".\n";
    return kOk;
  }
  std::printf("%-6s %-7s %-12s %-21s %s\n", "RUN", "KIND", "STATUS", "STARTED",
              "MANIFEST / SUMMARY");
  for (const auto& r : *runs) {
    std::string summary = r.summary.empty() ? "" : "  (" + r.summary + ")";
    std::string what = r.kind == "undo" ? "undo of run " + std::to_string(r.undoes) + summary
                                        : r.manifest + summary;
    std::printf("%-6lld %-7s %-12s %-21s %s\n", static_cast<long long>(r.id), r.kind.c_str(),
                r.status.c_str(), r.started.c_str(), what.c_str());
  }
  return kOk;
}

int cmd_show(const Common& c, int64_t id) {
  Session session;
  if (int rc = open_session(c, false, "", session)) return rc;
  auto r = session.journal->run(id);
  if (!r.ok()) {
    print_errors({r.error()});
    return kUsage;
  }
  std::cout << "run " << r->id << ": " << r->kind << ", " << r->status << "\n"
            << "  manifest: " << r->manifest << " (" << r->manifest_hash << ")\n"
            << "  started:  " << r->started << " on " << r->host << " (pid " << r->pid << ")\n"
            << "  finished: " << (r->finished.empty() ? "-" : r->finished) << "\n";
  if (!r->summary.empty()) std::cout << "  summary:  " << r->summary << "\n";
  if (r->undoes) std::cout << "  undoes:   run " << r->undoes << "\n";
  auto changes = session.journal->changes(id);
  if (!changes.ok()) {
    print_errors({changes.error()});
    return kFailed;
  }
  if (changes->empty()) std::cout << "  no changes\n";
  for (const auto& ch : *changes) {
    std::cout << "  " << ch.seq << ". " << ch.action << " " << ch.resource << ": " << ch.status
              << (ch.error.empty() ? "" : " (" + ch.error + ")") << "\n";
    auto j = nlohmann::json::parse(ch.changes_json, nullptr, false);
    if (j.is_array())
      for (const auto& a : j)
        std::cout << "       " << a.value("attribute", "") << ": " << a["before"].dump() << " -> "
                  << a["after"].dump() << "\n";
  }
  return kOk;
}

}  // namespace converge::cli
