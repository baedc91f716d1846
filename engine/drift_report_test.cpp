#include "engine/drift_report.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using namespace converge;

namespace {

PlannedResource res(const std::string& id, Action a, DriftMode d = DriftMode::kDefault) {
  PlannedResource r;
  r.id = id;
  r.type = find_type("account");
  r.action = a;
  r.drift = d;
  return r;
}

// One resource of every kind of drift, and one that did not drift.
Plan drifted_plan() {
  Plan p;
  p.manifest_hash = "h1";
  auto upd = res("account.upd", Action::kUpdate);
  upd.cause = "corrective";
  upd.changes = {{"description", Value::Str("was"), Value::Str("want"), false},
                 {"password", Value::Str("a"), Value::Str("b"), true}};
  auto mon = res("account.mon", Action::kCreate, DriftMode::kMonitor);
  auto always = res("account.always", Action::kDelete, DriftMode::kCorrect);
  auto blocked = res("account.blk", Action::kBlocked, DriftMode::kCorrect);
  blocked.reason = "blocked by x";
  p.resources = {res("account.same", Action::kNoop), upd, mon, always, blocked};
  return p;
}

}  // namespace

TEST_CASE("drift: every resource that is not a no-op drifted; only the corrected stay changes") {
  Plan p = drifted_plan();
  DriftReport rep = find_drift(p, /*correct=*/false);
  CHECK(rep.checked == 5);
  CHECK(rep.drifted() == 4);
  CHECK(rep.manifest_hash == "h1");
  REQUIRE(rep.resources.size() == 4);
  CHECK(rep.resources[0].id == "account.upd");
  CHECK(rep.resources[0].index == 1);
  CHECK_FALSE(rep.resources[0].correcting);  // default without --correct: reported only
  CHECK(rep.resources[2].correcting);        // drift = "correct"
  CHECK_FALSE(rep.resources[3].correcting);  // blocked: never
  CHECK(rep.correcting() == 1);
  // Reported-only drift becomes a no-op in the plan; the corrected and the blocked stay.
  CHECK(p.resources[1].action == Action::kNoop);
  CHECK(p.resources[2].action == Action::kNoop);
  CHECK(p.resources[3].action == Action::kDelete);
  CHECK(p.resources[4].action == Action::kBlocked);
  // ...but the report keeps what correcting would do.
  CHECK(rep.resources[1].action == Action::kCreate);

  Plan q = drifted_plan();
  DriftReport all = find_drift(q, /*correct=*/true);
  CHECK(all.resources[0].correcting);
  CHECK_FALSE(all.resources[1].correcting);  // monitor: never
  CHECK(all.correcting() == 2);
}

TEST_CASE("drift: expected and observed per attribute, secrets not shown") {
  Plan p = drifted_plan();
  DriftReport rep = find_drift(p, false);
  const auto& upd = rep.resources[0].attributes;
  REQUIRE(upd.size() == 2);
  CHECK(upd[0].attribute == "description");
  CHECK(upd[0].expected == "\"want\"");
  CHECK(upd[0].observed == "\"was\"");
  CHECK(upd[1].expected == "(sensitive)");
  REQUIRE(rep.resources[1].attributes.size() == 1);
  CHECK(rep.resources[1].attributes[0].expected == "present");
  CHECK(rep.resources[2].attributes[0].expected == "absent");
  CHECK(rep.resources[3].attributes.empty());
}

TEST_CASE("drift: corrections are counted from the outcomes") {
  Plan p = drifted_plan();
  DriftReport rep = find_drift(p, true);
  std::vector<ResourceOutcome> out(p.resources.size());
  out[1].outcome = Outcome::kApplied;  // account.upd
  out[3].outcome = Outcome::kFailed;   // account.always
  ApplySummary sum;
  sum.applied = 1;
  sum.failed = 1;
  record_corrections(rep, sum, out);
  CHECK(rep.corrected == 1);
  CHECK(rep.failed == 1);
  CHECK(rep.resources[0].corrected);
  CHECK_FALSE(rep.resources[2].corrected);
  CHECK_FALSE(rep.clean());
}

TEST_CASE("drift: the JSON report has the documented shape") {
  Plan p = drifted_plan();
  DriftReport rep = find_drift(p, false);
  rep.run_id = 7;
  rep.manifest = "m.toml";
  rep.time = "2026-01-02T03:04:05Z";
  rep.duration_seconds = 1.5;
  auto j = nlohmann::json::parse(drift_report_json(rep));
  CHECK(j["format_version"] == "2");
  CHECK(j["run_id"] == 7);
  CHECK(j["manifest_hash"] == "h1");
  CHECK(j["checked"] == 5);
  CHECK(j["drifted"] == 4);
  CHECK(j["corrected"] == 0);
  CHECK(j["duration_seconds"] == 1.5);
  REQUIRE(j["resources"].size() == 4);
  const auto& upd = j["resources"][0];
  CHECK(upd["id"] == "account.upd");
  CHECK(upd["type"] == "account");
  CHECK(upd["action"] == "update");
  CHECK(upd["drift"] == "default");
  CHECK(upd["cause"] == "corrective");
  CHECK(upd["corrected"] == false);
  CHECK(upd["attributes"][0] ==
        nlohmann::json{{"attribute", "description"}, {"expected", "want"}, {"observed", "was"}});
  CHECK(j["resources"][1]["action"] == "create");
  CHECK(j["resources"][1]["drift"] == "monitor");
  CHECK(j["resources"][3]["reason"] == "blocked by x");
}

TEST_CASE("drift: metrics are Prometheus text, the manifest label escaped") {
  Plan p = drifted_plan();
  DriftReport rep = find_drift(p, false);
  rep.manifest = "a \"b\"\\c\n";
  rep.duration_seconds = 0.25;
  std::string m = drift_metrics(rep, 1700000000);
  const std::string label = "{manifest=\"a \\\"b\\\"\\\\c\\n\"}";
  CHECK(m.find("# TYPE converge_resources_checked gauge\nconverge_resources_checked" + label +
               " 5\n") != std::string::npos);
  CHECK(m.find("converge_resources_drifted" + label + " 4\n") != std::string::npos);
  CHECK(m.find("converge_run_duration_seconds" + label + " 0.250\n") != std::string::npos);
  CHECK(m.find("converge_last_success_timestamp_seconds" + label + " 1700000000\n") !=
        std::string::npos);
  CHECK(m.find("# HELP converge_resources_failed ") != std::string::npos);
}

TEST_CASE("drift: the last successful drift run, from the journal's runs") {
  CHECK(epoch_of("1970-01-02T00:00:00Z") == 86400);
  CHECK(epoch_of("garbage") == 0);
  auto run = [](int64_t id, std::string kind, std::string status, std::string finished) {
    RunRecord r;
    r.id = id;
    r.kind = std::move(kind);
    r.status = std::move(status);
    r.finished = std::move(finished);
    return r;
  };
  std::vector<RunRecord> runs = {run(9, "drift", "failed", "1970-01-01T00:00:09Z"),
                                 run(8, "run", "succeeded", "1970-01-01T00:00:08Z"),
                                 run(7, "drift", "drifted", "1970-01-01T00:00:07Z"),
                                 run(6, "drift", "succeeded", "1970-01-01T00:00:06Z")};
  CHECK(last_drift_success(runs, 0) == 7);
  CHECK(last_drift_success(runs, 7) == 6);
  CHECK(last_drift_success({}, 0) == 0);
}

TEST_CASE("drift: a failing check waiting for corrections is drift, judged again when corrected") {
  auto plan_with_check = [] {
    Plan p;
    auto probe = res("smtp_probe.p", Action::kNoop);
    probe.type = find_type("smtp_probe");
    probe.deferred = true;
    probe.reason = "checked after its dependencies are applied (now: check failed: no MX)";
    p.resources = {res("dns_record.mx", Action::kCreate), probe};
    return p;
  };
  Plan p = plan_with_check();
  DriftReport rep = find_drift(p, /*correct=*/false);
  REQUIRE(rep.drifted() == 2);
  CHECK(rep.resources[1].action == Action::kBlocked);
  CHECK(rep.resources[1].reason == "check failed: no MX");  // as it stands: nothing is corrected
  CHECK_FALSE(p.resources[1].deferred);                     // and nothing judges it later

  Plan q = plan_with_check();
  DriftReport fix = find_drift(q, /*correct=*/true);
  CHECK(fix.resources[1].correcting);
  CHECK(q.resources[1].deferred);  // the executor judges it after the record is created
  std::vector<ResourceOutcome> outcomes(2);
  outcomes[0].outcome = Outcome::kApplied;
  outcomes[1].outcome = Outcome::kNoop;  // the check passed
  ApplySummary sum;
  record_corrections(fix, sum, outcomes);
  CHECK(fix.corrected == 2);
  CHECK(fix.clean());
  outcomes[1].outcome = Outcome::kFailed;
  record_corrections(fix, sum, outcomes);
  CHECK(fix.corrected == 1);
}
