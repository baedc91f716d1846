#include "engine/drift_report.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace converge {
namespace {

bool corrects(const PlannedResource& r, bool correct) {
  if (r.action == Action::kBlocked) return false;
  return r.drift == DriftMode::kCorrect || (r.drift == DriftMode::kDefault && correct);
}

std::vector<DriftAttribute> attributes_of(const PlannedResource& r) {
  std::vector<DriftAttribute> out;
  if (r.action == Action::kCreate)
    out.push_back({"ensure", "present", "absent", "present", "absent"});
  if (r.action == Action::kDelete)
    out.push_back({"ensure", "absent", "present", "absent", "present"});
  if (r.action == Action::kUpdate)
    for (const auto& ch : r.changes) {
      if (ch.sensitive)
        out.push_back(
            {ch.attr, "(sensitive)", ch.before.repr(), "(sensitive)", value_to_json(ch.before)});
      else
        out.push_back({ch.attr, ch.after.repr(), ch.before.repr(), value_to_json(ch.after),
                       value_to_json(ch.before)});
    }
  return out;
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string prom_label(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    if (ch == '\\' || ch == '"') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

const char* drift_mode_name(DriftMode m) {
  return m == DriftMode::kMonitor ? "monitor" : m == DriftMode::kCorrect ? "correct" : "default";
}

int DriftReport::correcting() const {
  int n = 0;
  for (const auto& r : resources) n += r.correcting ? 1 : 0;
  return n;
}

DriftReport find_drift(Plan& plan, bool correct) {
  DriftReport rep;
  rep.manifest_hash = plan.manifest_hash;
  rep.checked = plan.resources.size();
  for (size_t k = 0; k < plan.resources.size(); ++k) {
    PlannedResource& r = plan.resources[k];
    if (r.action == Action::kNoop && !r.deferred) continue;
    DriftedResource d;
    d.index = k;
    d.id = r.id;
    d.type = r.type->name;
    d.action = r.action;
    d.drift = r.drift;
    d.cause = r.cause;
    d.reason = r.reason;
    d.attributes = attributes_of(r);
    d.correcting = corrects(r, correct);
    if (r.deferred) {
      // A check that fails now, waiting for changes to its dependencies: drift as it stands.
      // Correcting judges it again once they are applied; reporting, it is failed as observed.
      d.action = Action::kBlocked;
      d.check = true;
      if (!d.correcting) {
        r.deferred = false;
        const std::string now = "(now: ";
        if (auto at = d.reason.find(now); at != std::string::npos && d.reason.back() == ')')
          d.reason = d.reason.substr(at + now.size(), d.reason.size() - at - now.size() - 1);
      }
    }
    if (!d.correcting && r.action != Action::kBlocked) r.action = Action::kNoop;  // reported only
    rep.resources.push_back(std::move(d));
  }
  return rep;
}

void record_corrections(DriftReport& report, const ApplySummary& sum,
                        const std::vector<ResourceOutcome>& outcomes) {
  report.failed = sum.failed + sum.skipped;
  report.corrected = 0;
  for (auto& d : report.resources) {
    // A check is corrected when it passes after the corrections it waited for.
    Outcome done = d.check ? Outcome::kNoop : Outcome::kApplied;
    d.corrected = d.correcting && d.index < outcomes.size() && outcomes[d.index].outcome == done;
    report.corrected += d.corrected ? 1 : 0;
  }
}

std::string drift_report_json(const DriftReport& report) {
  nlohmann::json resources = nlohmann::json::array();
  for (const auto& d : report.resources) {
    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& a : d.attributes)
      attrs.push_back({{"attribute", a.attribute},
                       {"expected", a.expected_json},
                       {"observed", a.observed_json}});
    resources.push_back({{"id", d.id},
                         {"type", d.type},
                         {"action", action_name(d.action)},
                         {"drift", drift_mode_name(d.drift)},
                         {"cause", d.cause},
                         {"attributes", attrs},
                         {"reason", d.reason},
                         {"corrected", d.corrected}});
  }
  nlohmann::json rep = {{"format_version", "2"},  // 2: values are JSON values, not strings
                        {"run_id", report.run_id},
                        {"time", report.time},
                        {"manifest", report.manifest},
                        {"manifest_hash", report.manifest_hash},
                        {"checked", report.checked},
                        {"drifted", report.drifted()},
                        {"corrected", report.corrected},
                        {"failed", report.failed},
                        {"duration_seconds", report.duration_seconds},
                        {"resources", resources}};
  return rep.dump(2) + "\n";
}

std::string drift_metrics(const DriftReport& report, int64_t last_success) {
  std::string m = prom_label(report.manifest);
  std::string text;
  auto metric = [&](const char* name, const char* help, const std::string& value) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
            "{manifest=\"" + m + "\"} " + value + "\n";
  };
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3f", report.duration_seconds);
  metric("converge_resources_checked", "Resources checked by the last drift run.",
         std::to_string(report.checked));
  metric("converge_resources_drifted", "Resources found drifted by the last drift run.",
         std::to_string(report.drifted()));
  metric("converge_resources_corrected", "Drifted resources corrected by the last drift run.",
         std::to_string(report.corrected));
  metric("converge_resources_failed",
         "Corrections that failed or were skipped in the last drift run.",
         std::to_string(report.failed));
  metric("converge_run_duration_seconds", "Wall time of the last drift run.", dur);
  metric("converge_last_success_timestamp_seconds",
         "Unix time of the last drift run that did not fail.", std::to_string(last_success));
  return text;
}

int64_t last_drift_success(const std::vector<RunRecord>& runs, int64_t except) {
  for (const auto& r : runs)
    if (r.kind == "drift" && r.status != "failed" && r.status != "running" && r.id != except)
      return epoch_of(r.finished);
  return 0;
}

int64_t epoch_of(const std::string& iso) {
  std::tm tm{};
  if (!strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace converge
