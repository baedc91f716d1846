#include "engine/journal.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/manifest.h"
#include "engine/saved_plan.h"
#include "engine/values.h"

namespace converge {

using json = nlohmann::json;

namespace {

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// Small RAII statement wrapper: prepare, bind, step.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    ok_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) == SQLITE_OK;
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return ok_; }
  Stmt& bind(int i, const std::string& s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(st_); }
  std::string text(int i) const {
    const unsigned char* p = sqlite3_column_text(st_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t integer(int i) const { return sqlite3_column_int64(st_, i); }
  sqlite3_stmt* raw() const { return st_; }

 private:
  sqlite3_stmt* st_ = nullptr;
  bool ok_ = false;
};

RunRecord read_run(const Stmt& s) {
  RunRecord r;
  r.id = s.integer(0);
  r.kind = s.text(1);
  r.manifest = s.text(2);
  r.manifest_hash = s.text(3);
  r.started = s.text(4);
  r.finished = s.text(5);
  r.status = s.text(6);
  r.host = s.text(7);
  r.pid = s.integer(8);
  r.summary = s.text(9);
  r.undoes = s.integer(10);
  return r;
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
// Without a copy: `v` must stay alive and unchanged until the statement has been stepped.
void bind_text_static(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

const char* kRunColumns =
    "id, kind, manifest, manifest_hash, started, finished, status, host, pid, summary, undoes";

}  // namespace

// Runs of one manifest are found by its absolute path, however it was spelled on the command line.
std::string canonical_manifest(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

std::string desired_fingerprint(const AttrMap& desired) {
  std::string enc;
  for (const auto& [k, v] : desired) {
    enc += k;
    enc += '=';
    enc += v.repr();
    enc += '\n';
  }
  return content_hash(enc);
}

std::string default_journal_path(const std::string& lab_path) {
  if (const char* env = std::getenv("CONVERGE_JOURNAL"); env && *env) return env;
  std::string lab = lab_path.empty() ? ".converge/lab.sqlite" : lab_path;
  std::filesystem::path dir = std::filesystem::path(lab).parent_path();
  return (dir.empty() ? std::filesystem::path(".") : dir).append("journal.sqlite").string();
}

Journal::~Journal() {
  for (auto& [sql, st] : cache_) sqlite3_finalize(st);
  if (db_) sqlite3_close(db_);
}

// A prepared statement kept for the journal's lifetime (intents and outcomes are written once per
// change, so they are prepared once), reset and ready to bind.
sqlite3_stmt* Journal::cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
      return nullptr;
    it = cache_.emplace(sql, st).first;
  }
  sqlite3_reset(it->second);
  sqlite3_clear_bindings(it->second);
  return it->second;
}

Error Journal::err(const std::string& what) const {
  return Error::Io(
      "journal " + path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "not open"),
      "check the file, or pass --journal PATH");
}

Status Journal::exec(const char* sql) {
  char* e = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &e) != SQLITE_OK) {
    std::string m = e ? e : "?";
    sqlite3_free(e);
    return Error::Io("journal " + path_ + ": " + m);
  }
  return {};
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = path;
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (sqlite3_open_v2(path.c_str(), &j->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return j->err("cannot open");
  sqlite3_busy_timeout(j->db_, 10000);
  // Durability as journal.h states it. journal_size_limit: a log that one large run grew is
  // truncated back to 16 MiB when it is next reset.
  CONVERGE_TRY(j->exec(
      "PRAGMA journal_size_limit=16777216;"
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
      "manifest TEXT,"
      " manifest_hash TEXT, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL, host TEXT, "
      "pid INTEGER,"
      " summary TEXT, undoes INTEGER DEFAULT 0, plan TEXT);"
      "CREATE TABLE IF NOT EXISTS changes(run INTEGER NOT NULL, seq INTEGER NOT NULL, resource "
      "TEXT NOT NULL,"
      " type TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, error TEXT, changes TEXT,"
      " started TEXT, finished TEXT, PRIMARY KEY(run, seq)) WITHOUT ROWID;"
      // No index by resource: no query needs it, and every intent would write a random page of
      // it (journals made before kept it; it is dropped).
      "DROP INDEX IF EXISTS changes_by_resource;"
      // A change's outcome in a row of its own, appended: updating the change's row would
      // rewrite it, with its attributes, once more. (Journals made before hold outcomes in the
      // change rows; the queries read both.)
      "CREATE TABLE IF NOT EXISTS outcomes(run INTEGER NOT NULL, seq INTEGER NOT NULL, status "
      "TEXT NOT NULL, error TEXT, finished TEXT, PRIMARY KEY(run, seq)) WITHOUT ROWID;"
      // A run's plan beside its row: updating the row (status, summary) does not rewrite it.
      "CREATE TABLE IF NOT EXISTS plans(run INTEGER PRIMARY KEY, plan TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS desired(manifest_hash TEXT PRIMARY KEY, fingerprints TEXT NOT "
      "NULL);"
      "CREATE TABLE IF NOT EXISTS plan_files(sha256 TEXT PRIMARY KEY, run INTEGER, path TEXT,"
      " written TEXT NOT NULL);"));
  return j;
}

Result<std::vector<RunRecord>> Journal::runs(int limit) {
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id DESC LIMIT ?1";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return err("query");
  s.bind(1, static_cast<int64_t>(limit));
  std::vector<RunRecord> out;
  while (s.step() == SQLITE_ROW) out.push_back(read_run(s));
  return out;
}

Result<RunRecord> Journal::run(int64_t id) {
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?1";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return err("query");
  s.bind(1, id);
  if (s.step() != SQLITE_ROW)
    return Error::NotFound("no run " + std::to_string(id) + " in the journal " + path_,
                           "see `converge history`");
  return read_run(s);
}

Result<std::vector<RunRecord>> Journal::recover_interrupted() {
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE status='running'";
  std::vector<RunRecord> gone;
  {
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return err("query");
    std::string me = hostname();
    while (s.step() == SQLITE_ROW) {
      RunRecord r = read_run(s);
      bool alive = r.host == me && r.pid > 0 &&
                   (::kill(static_cast<pid_t>(r.pid), 0) == 0 || errno == EPERM);
      if (!alive) gone.push_back(r);
    }
  }
  for (auto& r : gone) {
    Stmt u(db_, "UPDATE runs SET status='interrupted', finished=?2 WHERE id=?1");
    u.bind(1, r.id).bind(2, now_iso());
    if (u.step() != SQLITE_DONE) return err("update");
    Stmt c(db_,
           "UPDATE changes SET status='interrupted' WHERE run=?1 AND status='intent' AND NOT "
           "EXISTS(SELECT 1 FROM outcomes o WHERE o.run=changes.run AND o.seq=changes.seq)");
    c.bind(1, r.id);
    if (c.step() != SQLITE_DONE) return err("update");
    r.status = "interrupted";
  }
  return gone;
}

Result<int64_t> Journal::begin_run(const std::string& kind, const Plan& plan, int64_t undoes) {
  CONVERGE_TRY(exec("BEGIN IMMEDIATE"));
  auto written = [&]() -> Result<int64_t> {
    sqlite3_stmt* s = cached(
        "INSERT INTO runs(kind, manifest, manifest_hash, started, status, host, pid, undoes)"
        " VALUES(?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7)");
    if (!s) return err("insert");
    bind_text(s, 1, kind);
    bind_text(s, 2, canonical_manifest(plan.manifest_path));
    bind_text(s, 3, plan.manifest_hash);
    bind_text(s, 4, now_iso());
    bind_text(s, 5, hostname());
    sqlite3_bind_int64(s, 6, static_cast<int64_t>(getpid()));
    sqlite3_bind_int64(s, 7, undoes);
    if (sqlite3_step(s) != SQLITE_DONE) return err("insert run");
    auto run = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    // Without its no-ops (a large plan is mostly no-ops), on one line.
    std::string json = plan.to_json(-1, true);
    s = cached("INSERT INTO plans(run, plan) VALUES(?1, ?2)");
    if (!s) return err("insert");
    sqlite3_bind_int64(s, 1, run);
    bind_text_static(s, 2, json);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);  // lets go of the bound text before `json` goes
    if (rc != SQLITE_DONE) return err("insert plan");
    return run;
  }();
  if (written.ok()) {
    Status commit = exec("COMMIT");
    if (commit.ok()) return written;
    written = commit.error();
  }
  if (!sqlite3_get_autocommit(db_)) (void)exec("ROLLBACK");
  return written;
}

Status Journal::intent(int64_t run, const PlannedResource& r) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : r.changes)
    changes.push_back(
        {{"after", c.sensitive ? nlohmann::json("(sensitive)") : value_to_json(c.after)},
         {"attribute", c.attr},
         {"before", value_to_json(c.before)}});
  std::string ch = changes.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  int64_t seq = static_cast<int64_t>(seq_.size()) + 1;
  std::string key = std::to_string(run) + "|" + r.id;
  if (seq_.count(key)) return Error::Internal("journal: " + r.id + " started twice");
  sqlite3_stmt* s = cached(
      "INSERT INTO changes(run, seq, resource, type, action, status, changes, started)"
      " VALUES(?1, ?2, ?3, ?4, ?5, 'intent', ?6, ?7)");
  if (!s) return err("insert");
  sqlite3_bind_int64(s, 1, run);
  sqlite3_bind_int64(s, 2, seq);
  bind_text_static(s, 3, r.id);
  bind_text_static(s, 4, r.type->name);
  bind_text(s, 5, action_name(r.action));
  bind_text_static(s, 6, ch);
  std::string at = now_iso();
  bind_text_static(s, 7, at);
  if (sqlite3_step(s) != SQLITE_DONE) return err("insert change");
  seq_.emplace(key, seq);
  batch_keys_.push_back(std::move(key));
  return {};
}

Status Journal::outcome(int64_t run, const PlannedResource& r, const ResourceOutcome& o) {
  const char* status = o.outcome == Outcome::kApplied  ? "applied"
                       : o.outcome == Outcome::kFailed ? "failed"
                                                       : "skipped";
  auto it = seq_.find(std::to_string(run) + "|" + r.id);
  if (it == seq_.end()) {  // skipped without an intent: record it as one line
    CONVERGE_TRY(intent(run, r));
    it = seq_.find(std::to_string(run) + "|" + r.id);
  }
  sqlite3_stmt* s = cached(
      "INSERT OR REPLACE INTO outcomes(run, seq, status, error, finished)"
      " VALUES(?1, ?2, ?3, ?4, ?5)");
  if (!s) return err("update");
  std::string e = o.error             ? o.error->message
                  : o.because.empty() ? ""
                                      : "dependency " + o.because + " did not apply";
  sqlite3_bind_int64(s, 1, run);
  sqlite3_bind_int64(s, 2, it->second);
  bind_text(s, 3, status);
  bind_text_static(s, 4, e);
  std::string at = now_iso();
  bind_text_static(s, 5, at);
  if (sqlite3_step(s) != SQLITE_DONE) return err("update change");
  return {};
}

Status Journal::end_run(int64_t run, const std::string& status, const std::string& summary) {
  Stmt s(db_, "UPDATE runs SET status=?2, finished=?3, summary=?4 WHERE id=?1");
  if (!s.ok()) return err("update");
  s.bind(1, run).bind(2, status).bind(3, now_iso()).bind(4, summary);
  if (s.step() != SQLITE_DONE) return err("update run");
  return {};
}

Status Journal::begin_batch() {
  batch_keys_.clear();
  return exec("BEGIN IMMEDIATE");
}

Status Journal::commit_batch() {
  Status commit = exec("COMMIT");
  if (commit.ok())
    batch_keys_.clear();
  else
    rollback_batch();
  return commit;
}

void Journal::rollback_batch() {
  if (!sqlite3_get_autocommit(db_)) (void)exec("ROLLBACK");
  forget_batch();
}

// The intents of a batch that was rolled back were never written: outcome() writes them anew.
void Journal::forget_batch() {
  for (const auto& k : batch_keys_) seq_.erase(k);
  batch_keys_.clear();
}

Result<std::vector<ChangeRecord>> Journal::changes(int64_t run) {
  Stmt s(db_,
         "SELECT c.run, c.seq, c.resource, c.type, c.action, COALESCE(o.status, c.status),"
         " COALESCE(o.error, c.error), c.changes FROM changes c LEFT JOIN outcomes o"
         " ON o.run=c.run AND o.seq=c.seq WHERE c.run=?1 ORDER BY c.seq");
  if (!s.ok()) return err("query");
  s.bind(1, run);
  std::vector<ChangeRecord> out;
  while (s.step() == SQLITE_ROW)
    out.push_back({s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5),
                   s.text(6), s.text(7)});
  return out;
}

Result<Plan> Journal::plan_of(int64_t run) {
  // Journals written before the plans table hold the plan in the run's row.
  Stmt s(db_, "SELECT COALESCE((SELECT plan FROM plans WHERE run=?1), plan) FROM runs WHERE id=?1");
  if (!s.ok()) return err("query");
  s.bind(1, run);
  if (s.step() != SQLITE_ROW)
    return Error::NotFound("no run " + std::to_string(run) + " in the journal",
                           "see `converge history`");
  if (sqlite3_column_type(s.raw(), 0) == SQLITE_NULL)
    return Error::NotFound("run " + std::to_string(run) +
                               " has no recorded plan (it was stopped before the plan was written)",
                           "see `converge show " + std::to_string(run) + "` for what it changed");
  return load_plan(s.text(0), path_ + "#run" + std::to_string(run));
}

Result<std::set<std::string>> Journal::changed_after(int64_t run,
                                                     const std::set<std::string>& ids) {
  Stmt s(db_,
         "SELECT DISTINCT c.resource FROM changes c LEFT JOIN outcomes o ON o.run=c.run AND "
         "o.seq=c.seq WHERE c.run > ?1 AND COALESCE(o.status, c.status)='applied'");
  if (!s.ok()) return err("query");
  s.bind(1, run);
  std::set<std::string> out;
  while (s.step() == SQLITE_ROW) {
    std::string id = s.text(0);
    if (ids.count(id)) out.insert(id);
  }
  return out;
}

Status Journal::remember_desired(const Plan& plan) {
  {
    Stmt q(db_, "SELECT 1 FROM desired WHERE manifest_hash=?1");
    q.bind(1, plan.manifest_hash);
    if (q.step() == SQLITE_ROW) return {};
  }
  std::string fps;
  fps.reserve(plan.resources.size() * 40);
  for (const auto& r : plan.resources) {
    fps += r.id;
    fps += '\t';
    fps += desired_fingerprint(r.desired);
    fps += '\n';
  }
  Stmt s(db_, "INSERT OR REPLACE INTO desired(manifest_hash, fingerprints) VALUES(?1, ?2)");
  s.bind(1, plan.manifest_hash).bind(2, fps);
  if (s.step() != SQLITE_DONE) return err("insert desired");
  return {};
}

Status Journal::remember_plan_file(int64_t run, const std::string& sha256,
                                   const std::string& path) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO plan_files(sha256, run, path, written) VALUES(?1, ?2, ?3, ?4)");
  if (!s.ok()) return err("insert");
  s.bind(1, sha256).bind(2, run).bind(3, canonical_manifest(path)).bind(4, now_iso());
  if (s.step() != SQLITE_DONE) return err("insert plan file");
  return {};
}

Result<std::optional<Journal::PlanFileRecord>> Journal::plan_file(const std::string& sha256) {
  Stmt s(db_, "SELECT run, path, written FROM plan_files WHERE sha256=?1");
  if (!s.ok()) return err("query");
  s.bind(1, sha256);
  if (s.step() != SQLITE_ROW) return std::optional<PlanFileRecord>();
  return std::optional<PlanFileRecord>(PlanFileRecord{s.integer(0), s.text(1), s.text(2)});
}

Result<std::optional<std::string>> Journal::last_success_hash(const std::string& path) {
  Stmt s(
      db_,
      "SELECT manifest_hash FROM runs WHERE status='succeeded' AND kind IN ('run','apply','drift')"
      " AND manifest=?1 ORDER BY id DESC LIMIT 1");
  if (!s.ok()) return err("query");
  s.bind(1, canonical_manifest(path));
  if (s.step() != SQLITE_ROW) return std::optional<std::string>();
  return std::optional<std::string>(s.text(0));
}

Result<std::map<std::string, std::string>> Journal::desired_fingerprints(const std::string& hash) {
  Stmt s(db_, "SELECT fingerprints FROM desired WHERE manifest_hash=?1");
  if (!s.ok()) return err("query");
  s.bind(1, hash);
  std::map<std::string, std::string> out;
  if (s.step() != SQLITE_ROW) return out;
  std::string all = s.text(0);
  size_t pos = 0;
  while (pos < all.size()) {
    size_t tab = all.find('\t', pos), nl = all.find('\n', pos);
    if (tab == std::string::npos || nl == std::string::npos || tab > nl) break;
    out.emplace(all.substr(pos, tab - pos), all.substr(tab + 1, nl - tab - 1));
    pos = nl + 1;
  }
  return out;
}

void classify_changes(Journal& j, Plan& plan) {
  auto last = j.last_success_hash(plan.manifest_path);
  if (!last.ok() || !*last) return;  // no earlier successful run: nothing to compare with
  std::map<std::string, std::string> before;
  if (**last != plan.manifest_hash) {
    auto fps = j.desired_fingerprints(**last);
    if (!fps.ok()) return;
    before = std::move(*fps);
  }
  for (auto& r : plan.resources) {
    if (r.action != Action::kCreate && r.action != Action::kUpdate && r.action != Action::kDelete)
      continue;
    if (**last == plan.manifest_hash) {
      r.cause = "corrective";
      continue;
    }
    auto it = before.find(r.id);
    r.cause = it == before.end() || it->second != desired_fingerprint(r.desired) ? "intentional"
                                                                                 : "corrective";
  }
}

// ---- JournalObserver ----

void JournalObserver::keep(const Status& s) {
  if (!s.ok() && !error_) error_ = s.error();
}

void JournalObserver::batch_begin() {
  error_.reset();
  Status s = j_.begin_batch();
  open_ = s.ok();
  keep(s);
  next_.batch_begin();
}

void JournalObserver::started(const PlannedResource& r) {
  if (!error_) keep(j_.intent(run_, r));
  next_.started(r);
}

void JournalObserver::finished(const PlannedResource& r, const ResourceOutcome& o) {
  if (!error_ && o.outcome != Outcome::kNoop && o.outcome != Outcome::kBlocked)
    keep(j_.outcome(run_, r, o));
  next_.finished(r, o);
}

Status JournalObserver::batch_end() {
  if (error_) {
    if (open_) j_.rollback_batch();
  } else if (open_) {
    keep(j_.commit_batch());
  }
  open_ = false;
  Status next = next_.batch_end();
  if (error_) return *error_;
  return next;
}

}  // namespace converge
