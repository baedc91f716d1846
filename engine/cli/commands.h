// The subcommands of the converge command line, one file each (engine/cli/<command>.cpp). Each
// takes parsed options, does its work through the engine and providers, prints for people
// (stdout) or logs diagnostics (spdlog, stderr/file), and returns the process exit code (see
// README.md, "Exit codes"); main.cpp turns anything that escapes into exit code 1.
#pragma once

#include <cstdint>
#include <string>

namespace converge::cli {

enum Exit { kOk = 0, kFailed = 1, kChangesPending = 2, kUsage = 64, kInvalid = 65 };

struct Common {
  std::string lab_path;  // --lab / CONVERGE_LAB
  int parallelism = 8;
  bool allow_destroy = false;
  bool color = false;
  std::string journal_path;  // --journal / CONVERGE_JOURNAL; default beside the lab
  bool wait = false;         // --wait: queue behind another run instead of failing
  bool yes = false;          // --yes: no confirmation prompt (undo)
};

struct PlanArgs {
  std::string manifest;
  std::string out;
  bool json = false;
  bool detailed_exitcode = false;
};

struct DriftArgs {
  std::string manifest;
  std::string every;
  bool correct = false;
  std::string report;
  std::string metrics;
};

int cmd_run(const Common& c, const std::string& manifest);
int cmd_plan(const Common& c, const PlanArgs& a);
int cmd_apply(const Common& c, const std::string& plan_file);
int cmd_drift(const Common& c, const DriftArgs& a);
int cmd_graph(const std::string& manifest, const std::string& format);
int cmd_validate(const std::string& manifest);
int cmd_schema(const std::string& format);
int cmd_lab_init(const Common& c, const std::string& world);
int cmd_history(const Common& c, int limit);
int cmd_show(const Common& c, int64_t run);
int cmd_undo(const Common& c, int64_t run);

}  // namespace converge::cli
