#include "engine/journal.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

using namespace converge;

namespace {
struct TempDir {
  std::filesystem::path p = std::filesystem::temp_directory_path() /
                            ("converge-journal-test-" + std::to_string(::getpid()));
  TempDir() {
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
  }
  ~TempDir() { std::filesystem::remove_all(p); }
};

Plan small_plan() {
  Plan p;
  p.manifest_path = "m.toml";
  p.manifest_hash = "abc";
  PlannedResource r;
  r.id = "ou.x";
  r.type = find_type("ou");
  r.provider = "lab";
  r.action = Action::kCreate;
  r.desired = {{"name", Value::Str("X")}, {"path", Value::Str("DC=t")}};
  p.resources.push_back(r);
  r.id = "ou.same";
  r.action = Action::kNoop;
  p.resources.push_back(r);
  return p;
}
}  // namespace

// SQL run on a connection of its own: what it sees was committed.
std::string query_one(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string out;
  auto row = [](void* o, int, char** v, char**) {
    *static_cast<std::string*>(o) = v[0] ? v[0] : "NULL";
    return 0;
  };
  char* e = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), row, &out, &e);
  std::string why = e ? e : "";
  sqlite3_free(e);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, why);
  return out;
}

TEST_CASE("journal: begin_run commits the run and its plan before anything is applied") {
  TempDir d;
  std::string path = (d.p / "j.sqlite").string();
  auto j = Journal::open(path);
  REQUIRE(j.ok());
  auto run = (*j)->begin_run("run", small_plan());
  REQUIRE(run.ok());
  // Seen from another connection, as a process after a crash of this one would see it.
  std::string id = std::to_string(*run);
  CHECK(query_one(path, "SELECT status FROM runs WHERE id=" + id) == "running");
  CHECK(query_one(path, "SELECT count(*) FROM plans WHERE run=" + id) == "1");
  CHECK(query_one(path, "PRAGMA journal_mode") == "wal");
  auto back = (*j)->plan_of(*run);
  REQUIRE(back.ok());
  REQUIRE(back->resources.size() == 1);
  CHECK(back->resources[0].id == "ou.x");
}

TEST_CASE("journal: a run's plan (its changes) is stored beside the run and read back") {
  TempDir d;
  auto j = Journal::open((d.p / "j.sqlite").string());
  REQUIRE(j.ok());
  auto run = (*j)->begin_run("run", small_plan());
  REQUIRE(run.ok());
  REQUIRE((*j)->end_run(*run, "succeeded", "1 applied").ok());
  auto back = (*j)->plan_of(*run);
  REQUIRE(back.ok());
  REQUIRE(back->resources.size() == 1);  // the no-op is not stored
  CHECK(back->resources[0].id == "ou.x");
  CHECK_FALSE((*j)->plan_of(*run + 1).ok());
}

TEST_CASE("journal: a journal written before the plans table still gives its runs' plans") {
  TempDir d;
  std::string path = (d.p / "old.sqlite").string();
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string plan = small_plan().to_json(-1, true);
  std::string sql =
      "CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, manifest TEXT,"
      " manifest_hash TEXT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL, host TEXT,"
      " pid INTEGER, summary TEXT, undoes INTEGER DEFAULT 0, plan TEXT);"
      "CREATE TABLE changes(run INTEGER NOT NULL, seq INTEGER NOT NULL, resource TEXT NOT NULL,"
      " type TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, error TEXT, changes TEXT,"
      " started TEXT, finished TEXT, PRIMARY KEY(run, seq));"
      "CREATE INDEX changes_by_resource ON changes(resource, run);"
      "INSERT INTO runs(kind, started, status, plan) VALUES('run', 'then', 'succeeded', '" +
      plan +
      "');"
      "INSERT INTO runs(kind, started, status) VALUES('run', 'then', 'interrupted');";
  REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::open(path);
  REQUIRE(j.ok());
  auto back = (*j)->plan_of(1);
  REQUIRE(back.ok());
  REQUIRE(back->resources.size() == 1);
  CHECK(back->resources[0].id == "ou.x");
  auto none = (*j)->plan_of(2);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message ==
        "run 2 has no recorded plan (it was stopped before the plan was written)");
}

TEST_CASE(
    "journal: outcomes are rows of their own; journals that kept them in the change rows "
    "read the same") {
  TempDir d;
  std::string path = (d.p / "j.sqlite").string();
  {
    auto j = Journal::open(path);
    REQUIRE(j.ok());
    Plan plan = small_plan();
    auto run = (*j)->begin_run("run", plan);
    REQUIRE(run.ok());
    REQUIRE((*j)->begin_batch().ok());
    REQUIRE((*j)->intent(*run, plan.resources[0]).ok());
    REQUIRE((*j)->commit_batch().ok());
    ResourceOutcome o;
    o.outcome = Outcome::kApplied;
    REQUIRE((*j)->outcome(*run, plan.resources[0], o).ok());
    REQUIRE((*j)->end_run(*run, "succeeded", "1 applied").ok());
  }
  // A run that died after its intent, and one written the old way (status in the change row).
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const char* sql =
      "INSERT INTO runs(kind, started, status, pid, host) VALUES('run', 'then', 'running', 0, 'x');"
      "INSERT INTO changes(run, seq, resource, type, action, status, changes)"
      " VALUES(2, 1, 'ou.y', 'ou', 'create', 'intent', '[]');"
      "INSERT INTO runs(kind, started, status) VALUES('run', 'then', 'succeeded');"
      "INSERT INTO changes(run, seq, resource, type, action, status, error, changes)"
      " VALUES(3, 1, 'ou.z', 'ou', 'create', 'failed', 'refused', '[]');"
      "INSERT INTO changes(run, seq, resource, type, action, status, changes)"
      " VALUES(3, 2, 'ou.w', 'ou', 'create', 'applied', '[]');";
  REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  auto j = Journal::open(path);
  REQUIRE(j.ok());
  auto first = (*j)->changes(1);
  REQUIRE(first.ok());
  REQUIRE(first->size() == 1);
  CHECK((*first)[0].resource == "ou.x");
  CHECK((*first)[0].status == "applied");
  auto gone = (*j)->recover_interrupted();
  REQUIRE(gone.ok());
  REQUIRE(gone->size() == 1);
  auto second = (*j)->changes(2);
  REQUIRE(second.ok());
  CHECK((*second)[0].status == "interrupted");
  auto old = (*j)->changes(3);
  REQUIRE(old.ok());
  REQUIRE(old->size() == 2);
  CHECK((*old)[0].status == "failed");
  CHECK((*old)[0].error == "refused");
  CHECK((*old)[1].status == "applied");
  auto later = (*j)->changed_after(0, {"ou.x", "ou.y", "ou.z", "ou.w"});
  REQUIRE(later.ok());
  CHECK(*later == std::set<std::string>{"ou.x", "ou.w"});
}

namespace {
// Counts apply() calls; every change succeeds.
class CountingProvider : public Provider {
 public:
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse r;
    r.results.resize(req.resources.size());
    return r;
  }
  ApplyResponse apply(const ApplyRequest&) override {
    ++calls;
    return {};
  }
  std::atomic<int> calls{0};
};

struct ObservedRun {
  ProviderMap providers;
  CountingProvider* provider = nullptr;
  ApplySummary sum;
  std::vector<ResourceOutcome> out;
  ObservedRun(Journal& j, int64_t run, const Plan& plan) {
    auto p = std::make_unique<CountingProvider>();
    provider = p.get();
    providers["lab"] = std::move(p);
    ApplyObserver quiet;
    JournalObserver obs(j, run, quiet);
    sum = execute(plan, providers, obs, ExecOptions{}, &out);
  }
};

Plan two_changes() {
  Plan p = small_plan();
  PlannedResource r = p.resources[0];
  r.id = "ou.y";
  r.depends_on = {"ou.x"};
  p.resources.push_back(r);
  return p;
}
}  // namespace

TEST_CASE("journal observer: intents before the provider call, outcomes after") {
  TempDir d;
  auto j = Journal::open((d.p / "j.sqlite").string());
  REQUIRE(j.ok());
  Plan plan = two_changes();
  auto run = (*j)->begin_run("run", plan);
  REQUIRE(run.ok());
  ObservedRun r(**j, *run, plan);
  CHECK(r.provider->calls == 2);
  CHECK(r.sum.applied == 2);
  auto ch = (*j)->changes(*run);
  REQUIRE(ch.ok());
  REQUIRE(ch->size() == 2);
  CHECK((*ch)[0].resource == "ou.x");
  CHECK((*ch)[0].status == "applied");
  CHECK((*ch)[1].resource == "ou.y");
  CHECK((*ch)[1].status == "applied");
}

TEST_CASE("journal observer: an intent the journal cannot commit stops the run, no provider call") {
  TempDir d;
  std::string path = (d.p / "j.sqlite").string();
  auto j = Journal::open(path);
  REQUIRE(j.ok());
  Plan plan = two_changes();
  auto run = (*j)->begin_run("run", plan);
  REQUIRE(run.ok());
  // From now on the database refuses every change row (as a full disk would).
  query_one(path,
            "CREATE TRIGGER refuse BEFORE INSERT ON changes BEGIN"
            " SELECT RAISE(ABORT, 'database or disk is full'); END;");
  ObservedRun r(**j, *run, plan);
  CHECK(r.provider->calls == 0);
  CHECK(r.sum.failed == 2);
  CHECK(r.sum.applied == 0);
  CHECK(r.sum.noop == 1);
  for (const auto& o : r.out) {
    if (o.outcome == Outcome::kNoop) continue;
    REQUIRE(o.error);
    CHECK(o.error->message.find("not applied, the run stopped: journal " + path) == 0);
    CHECK(o.error->message.find("database or disk is full") != std::string::npos);
  }
  // Nothing half-written: the batch was rolled back; the run and its plan stay for `show`.
  CHECK(query_one(path, "SELECT count(*) FROM changes") == "0");
  CHECK((*j)->plan_of(*run).ok());
  CHECK((*j)->end_run(*run, "failed", "0 applied, 2 failed").ok());
}

TEST_CASE("journal: plan files are known by their SHA-256, others are not") {
  TempDir d;
  std::string path = (d.p / "j.sqlite").string();
  auto j = Journal::open(path);
  REQUIRE(j.ok());
  auto run = (*j)->begin_run("plan", small_plan());
  REQUIRE(run.ok());
  std::string digest(64, 'a');
  REQUIRE((*j)->remember_plan_file(*run, digest, "plan.json").ok());
  auto made = (*j)->plan_file(digest);
  REQUIRE(made.ok());
  REQUIRE(made->has_value());
  CHECK((*made)->run == *run);
  CHECK((*made)->path.find("plan.json") != std::string::npos);
  CHECK_FALSE((*made)->written.empty());
  auto other = (*j)->plan_file(std::string(64, 'b'));
  REQUIRE(other.ok());
  CHECK_FALSE(other->has_value());
  // Committed: another connection sees it.
  CHECK(query_one(path, "SELECT run FROM plan_files WHERE sha256='" + digest + "'") ==
        std::to_string(*run));
}

TEST_CASE("journal: a stored plan nested too deep is an error, not a crash") {
  TempDir d;
  std::string path = (d.p / "j.sqlite").string();
  auto j = Journal::open(path);
  REQUIRE(j.ok());
  auto run = (*j)->begin_run("run", small_plan());
  REQUIRE(run.ok());
  std::string deep = "{\"format_version\": \"1\", \"x\": " + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  query_one(path, "UPDATE plans SET plan='" + deep + "' WHERE run=" + std::to_string(*run) +
                      "; SELECT 1");
  auto p = (*j)->plan_of(*run);
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().message.find("nested deeper than") != std::string::npos);
}
