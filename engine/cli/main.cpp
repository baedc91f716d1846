// converge: the command line. Parses arguments (CLI11), sets up logging (spdlog) and hands over to
// one function per subcommand; one top-level handler turns escaped exceptions into exit codes.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>

#include "engine/cli/commands.h"
#include "engine/cli/session.h"
#include "engine/secrets.h"

using namespace converge::cli;

int main(int argc, char** argv) {
  // State, plans and reports are for their owner only (journal, lab, lock, .converge 0700), and
  // secrets never reach a core file.
  umask(077);
  converge::protect_process_memory();
  // A peer or a deadline (ldap_deadline.h) closing a connection makes the next write fail with
  // EPIPE, reported as an error, instead of killing the run: libldap and TLS write with write(2).
  std::signal(SIGPIPE, SIG_IGN);
  // `converge manifest.toml` is `converge run manifest.toml`, also after options: the first word
  // that is neither an option nor an option's value is a command or, if not, the manifest.
  static const std::set<std::string> kCommands = {"run",     "plan",     "apply",  "drift",
                                                  "graph",   "validate", "schema", "lab",
                                                  "history", "show",     "undo"};
  static const std::set<std::string> kValued = {"--lab", "--journal", "--log-file", "--timeout",
                                                "--parallelism"};
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (!a.empty() && a[0] == '-') {
      if (kValued.count(a)) ++i;  // its value is the next word
      continue;
    }
    if (!kCommands.count(a)) args.insert(args.begin() + static_cast<long>(i), "run");
    break;
  }

  CLI::App app{
      "converge: declarative desired state for a target Exchange / Active Directory / DNS "
      "environment"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--lab, -v, ...) may follow the subcommand
  app.set_version_flag("--version", "converge 0.1.0");
  Common c;
  int verbose = 0;
  std::string log_file;
  bool no_color = false;
  if (const char* lab = std::getenv("CONVERGE_LAB")) c.lab_path = lab;
  app.add_option("--lab", c.lab_path,
                 "Lab state file (env CONVERGE_LAB; default .converge/lab.sqlite)");
  app.add_flag("-v,--verbose", verbose, "More diagnostics on stderr (-vv for debug)");
  app.add_option("--log-file", log_file, "Also write diagnostics to this file");
  if (const char* j = std::getenv("CONVERGE_JOURNAL")) c.journal_path = j;
  app.add_option("--journal", c.journal_path,
                 "Journal file (env CONVERGE_JOURNAL; default journal.sqlite beside the lab)");
  app.add_flag("--no-color", no_color, "Never colour output");
  std::string timeout = "30m";
  app.add_option("--timeout", timeout,
                 "Deadline of a run (run, plan, apply, drift, undo; each check of drift --every): "
                 "past it converge stops, names what it was waiting for and exits 124. "
                 "30s, 15m, 1h; 0 for none (default 30m)");

  auto add_apply_opts = [&](CLI::App* sc) {
    sc->add_option("--parallelism", c.parallelism, "Changes applied at once (default 8)")
        ->check(CLI::Range(1, 256));
    sc->add_flag("--allow-destroy", c.allow_destroy,
                 "Allow deleting resources declared ensure = \"absent\"");
    sc->add_flag("--wait", c.wait, "Wait for another run holding the lock instead of failing");
  };

  std::string manifest;
  auto* run = app.add_subcommand(
      "run", "Observe, plan, apply in dependency order, summarise (the default)");
  run->add_option("manifest", manifest, "Manifest file")->required();
  add_apply_opts(run);

  PlanArgs pa;
  auto* plan = app.add_subcommand("plan", "Show what would change (dry run)");
  plan->add_option("manifest", pa.manifest, "Manifest file")->required();
  plan->add_option("--out", pa.out, "Save the plan for `converge apply`");
  plan->add_flag("--json", pa.json, "Print the plan as JSON (format_version 1)");
  plan->add_flag("--detailed-exitcode", pa.detailed_exitcode, "Exit 2 when changes are pending");
  plan->add_flag("--allow-destroy", c.allow_destroy,
                 "Plan deletions of ensure = \"absent\" resources");

  std::string plan_file;
  auto* apply = app.add_subcommand("apply", "Apply exactly a saved plan");
  apply->add_option("plan", plan_file, "Plan file written by `converge plan --out`")->required();
  apply->add_option("--parallelism", c.parallelism, "Changes applied at once (default 8)")
      ->check(CLI::Range(1, 256));
  apply->add_flag("--wait", c.wait, "Wait for another run holding the lock instead of failing");
  apply->add_flag("--allow-destroy", c.allow_destroy,
                  "Allow the plan's deletions (required when it deletes anything)");

  DriftArgs da;
  auto* drift =
      app.add_subcommand("drift", "Detect drift from the manifest (and correct it with --correct)");
  drift->add_option("manifest", da.manifest, "Manifest file")->required();
  drift->add_option("--every", da.every, "Repeat on a schedule, e.g. 15m, 1h");
  drift->add_flag("--correct", da.correct,
                  "Repair drift (resources with drift = \"monitor\" are only reported)");
  drift->add_option("--report", da.report, "Write a JSON drift report");
  drift->add_option("--metrics", da.metrics, "Write Prometheus text-format metrics");
  add_apply_opts(drift);

  std::string format = "dot";
  auto* graph = app.add_subcommand("graph", "Export the dependency graph");
  graph->add_option("manifest", manifest, "Manifest file")->required();
  graph->add_option("--format", format, "dot or json")->check(CLI::IsMember({"dot", "json"}));

  auto* validate = app.add_subcommand("validate", "Check a manifest without observing anything");
  validate->add_option("manifest", manifest, "Manifest file")->required();

  std::string schema_format = "json";
  auto* schema =
      app.add_subcommand("schema", "Print the manifest JSON Schema (or --format markdown docs)");
  schema->add_option("--format", schema_format, "json or markdown")
      ->check(CLI::IsMember({"json", "markdown"}));

  int history_limit = 50;
  auto* history = app.add_subcommand("history", "List recorded runs, newest first");
  history->add_option("-n,--limit", history_limit, "How many runs (default 50)")
      ->check(CLI::Range(1, 100000));
  int64_t run_id = 0;
  auto* show = app.add_subcommand("show", "Show one recorded run and its changes");
  show->add_option("run", run_id, "Run number (see `converge history`)")->required();
  auto* undo = app.add_subcommand("undo", "Undo the changes of a recorded run");
  undo->add_option("run", run_id, "Run number (see `converge history`)")->required();
  undo->add_flag("--yes", c.yes, "Apply without asking for confirmation");
  undo->add_flag("--allow-destroy", c.allow_destroy,
                 "Allow deleting objects that hold data (accounts, mailboxes, ...)");
  undo->add_flag("--wait", c.wait, "Wait for another run holding the lock instead of failing");
  undo->add_option("--parallelism", c.parallelism, "Changes applied at once (default 8)")
      ->check(CLI::Range(1, 256));

  std::string world;
  auto* lab = app.add_subcommand("lab", "Manage the embedded lab");
  lab->require_subcommand(1);
  auto* lab_init = lab->add_subcommand("init", "Recreate the lab from a world file");
  lab_init->add_option("world", world, "World file, e.g. manifests/labs/exchange2007-fresh.toml")
      ->required();
  lab_init->add_option("--lab", c.lab_path, "Lab state file");

  std::vector<const char*> cargv;
  for (auto& a : args) cargv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargv.size()), cargv.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : kUsage;
  }

  c.color = !no_color && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  sinks.back()->set_level(verbose >= 2   ? spdlog::level::debug
                          : verbose == 1 ? spdlog::level::info
                                         : spdlog::level::warn);
  if (!log_file.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file));
      sinks.back()->set_level(spdlog::level::debug);
    } catch (const spdlog::spdlog_ex& e) {
      std::cerr << "error: cannot open log file " << log_file << ": " << e.what() << "\n";
      return kUsage;
    }
  }
  auto logger = std::make_shared<spdlog::logger>("converge", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);

  if (timeout == "0") {
    configure_deadline(std::chrono::milliseconds(0), timeout);
  } else if (auto limit = parse_duration(timeout); limit.ok()) {
    configure_deadline(*limit, timeout);
  } else {
    std::cerr << "error: --timeout: " << limit.error().str() << "\n";
    return kUsage;
  }
  // drift --every arms it for each check itself.
  if (*run || *plan || *apply || *undo || (*drift && da.every.empty())) arm_deadline();

  int rc = kUsage;
  try {
    if (*run)
      rc = cmd_run(c, manifest);
    else if (*plan)
      rc = cmd_plan(c, pa);
    else if (*apply)
      rc = cmd_apply(c, plan_file);
    else if (*drift)
      rc = cmd_drift(c, da);
    else if (*graph)
      rc = cmd_graph(manifest, format);
    else if (*validate)
      rc = cmd_validate(manifest);
    else if (*schema)
      rc = cmd_schema(schema_format);
    else if (*lab_init)
      rc = cmd_lab_init(c, world);
    else if (*history)
      rc = cmd_history(c, history_limit);
    else if (*show)
      rc = cmd_show(c, run_id);
    else if (*undo)
      rc = cmd_undo(c, run_id);
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << "\n";
    rc = kFailed;
  }
  spdlog::shutdown();
  return rc;
}
