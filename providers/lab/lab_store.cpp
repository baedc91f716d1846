#include "providers/lab/lab_store.h"

#include <sys/stat.h>

#include <cstring>

namespace converge::lab {

// Encoding: a sequence of entries "name\0" then a tagged value. Tags: 'n' null, 'b' + byte,
// 'i' + 8-byte little-endian, 's' + 4-byte length + bytes, 'l' + 4-byte count + values.
namespace {
void put_u32(std::string& o, uint32_t v) {
  for (int i = 0; i < 4; ++i) o += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_value(std::string& o, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      o += 'n';
      break;
    case Value::Kind::kBool:
      o += 'b';
      o += v.as_bool() ? '\1' : '\0';
      break;
    case Value::Kind::kInt: {
      o += 'i';
      uint64_t u = static_cast<uint64_t>(v.as_int());
      for (int i = 0; i < 8; ++i) o += static_cast<char>((u >> (8 * i)) & 0xff);
      break;
    }
    case Value::Kind::kString:
      o += 's';
      put_u32(o, static_cast<uint32_t>(v.as_string().size()));
      o += v.as_string();
      break;
    case Value::Kind::kList:
      o += 'l';
      put_u32(o, static_cast<uint32_t>(v.as_list().size()));
      for (const auto& e : v.as_list()) put_value(o, e);
      break;
  }
}
struct Reader {
  std::string_view s;
  size_t p = 0;
  bool ok = true;
  bool need(size_t n) {
    if (p + n > s.size()) ok = false;
    return ok;
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<unsigned char>(s[p + i])) << (8 * i);
    p += 4;
    return v;
  }
  Value value(int depth) {
    if (!need(1) || depth > 4) {
      ok = false;
      return {};
    }
    char tag = s[p++];
    switch (tag) {
      case 'n':
        return {};
      case 'b':
        if (!need(1)) return {};
        return Value::Bool(s[p++] != 0);
      case 'i': {
        if (!need(8)) return {};
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i)
          u |= static_cast<uint64_t>(static_cast<unsigned char>(s[p + i])) << (8 * i);
        p += 8;
        return Value::Int(static_cast<int64_t>(u));
      }
      case 's': {
        uint32_t n = u32();
        if (!need(n)) return {};
        Value v = Value::Str(std::string(s.substr(p, n)));
        p += n;
        return v;
      }
      case 'l': {
        uint32_t n = u32();
        if (n > s.size()) {
          ok = false;
          return {};
        }
        std::vector<Value> l;
        l.reserve(n);
        for (uint32_t i = 0; i < n && ok; ++i) l.push_back(value(depth + 1));
        return Value::List(std::move(l));
      }
      default:
        ok = false;
        return {};
    }
  }
};
}  // namespace

std::string encode_attrs(const AttrMap& m) {
  std::string o;
  for (const auto& [k, v] : m) {
    o += k;
    o += '\0';
    put_value(o, v);
  }
  return o;
}

Result<AttrMap> decode_attrs(std::string_view s) {
  AttrMap m;
  Reader r{s};
  while (r.ok && r.p < s.size()) {
    size_t z = s.find('\0', r.p);
    if (z == std::string_view::npos) return Error::Internal("lab: corrupt attribute record");
    std::string k(s.substr(r.p, z - r.p));
    r.p = z + 1;
    Value v = r.value(0);
    if (!r.ok) return Error::Internal("lab: corrupt attribute record");
    m.emplace_hint(m.end(), std::move(k), std::move(v));
  }
  return m;
}

LabStore::~LabStore() {
  for (auto& [_, st] : stmts_) sqlite3_finalize(st);
  if (db_) sqlite3_close(db_);
}

Error LabStore::sql_error(const std::string& what) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : "no database";
  if (db_ && (sqlite3_errcode(db_) == SQLITE_BUSY || sqlite3_errcode(db_) == SQLITE_LOCKED))
    return Error::Transient("lab " + path_ + ": " + what + ": " + msg);
  return Error::Io("lab " + path_ + ": " + what + ": " + msg,
                   "recreate it with `converge lab init`");
}

Status LabStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    return sql_error(m);
  }
  return {};
}

sqlite3_stmt* LabStore::prepare(const char* sql) {
  for (auto& [s, st] : stmts_)
    if (s == sql) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return st;
    }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return nullptr;
  stmts_.emplace_back(sql, st);
  return st;
}

Result<std::unique_ptr<LabStore>> LabStore::open(const std::string& path) {
  std::unique_ptr<LabStore> s(new LabStore());
  s->path_ = path;
  struct stat sb {};
  s->created_ = ::stat(path.c_str(), &sb) != 0;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &s->db_, flags, nullptr) != SQLITE_OK)
    return Error::Io("cannot open lab " + path + ": " + std::string(sqlite3_errmsg(s->db_)),
                     "check that the directory exists and is writable");
  sqlite3_busy_timeout(s->db_, 10000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS objects(type TEXT NOT NULL, key TEXT NOT NULL, attrs BLOB NOT "
      "NULL,"
      " PRIMARY KEY(type, key)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS dns(dn TEXT PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL) "
      "WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS ldap_attrs(dn TEXT NOT NULL, attr TEXT NOT NULL, value BLOB NOT "
      "NULL,"
      " PRIMARY KEY(dn, attr)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);";
  CONVERGE_TRY(s->exec(schema));
  return s;
}

Status LabStore::begin() { return exec("BEGIN IMMEDIATE"); }
Status LabStore::commit() { return exec("COMMIT"); }
void LabStore::rollback() { (void)exec("ROLLBACK"); }

namespace {
void bind_text(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}
std::string_view column(sqlite3_stmt* st, int i) {
  const void* p = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(n))
           : std::string_view();
}
}  // namespace

Result<std::optional<AttrMap>> LabStore::get(const std::string& type, const std::string& key) {
  sqlite3_stmt* st = prepare("SELECT attrs FROM objects WHERE type=?1 AND key=?2");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, type);
  bind_text(st, 2, key);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<AttrMap>();
  if (rc != SQLITE_ROW) return sql_error("read " + type);
  auto m = decode_attrs(column(st, 0));
  if (!m.ok()) return m.error();
  return std::optional<AttrMap>(std::move(*m));
}

Result<std::vector<std::pair<std::string, AttrMap>>> LabStore::all(const std::string& type) {
  sqlite3_stmt* st = prepare("SELECT key, attrs FROM objects WHERE type=?1");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, type);
  std::vector<std::pair<std::string, AttrMap>> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    auto m = decode_attrs(column(st, 1));
    if (!m.ok()) return m.error();
    out.emplace_back(std::string(column(st, 0)), std::move(*m));
  }
  if (rc != SQLITE_DONE) return sql_error("read " + type);
  return out;
}

Status LabStore::put(const std::string& type, const std::string& key, const AttrMap& attrs) {
  sqlite3_stmt* st = prepare("INSERT OR REPLACE INTO objects(type, key, attrs) VALUES(?1, ?2, ?3)");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, type);
  bind_text(st, 2, key);
  std::string enc = encode_attrs(attrs);
  sqlite3_bind_blob(st, 3, enc.data(), static_cast<int>(enc.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("write " + type);
  return {};
}

Status LabStore::erase(const std::string& type, const std::string& key) {
  sqlite3_stmt* st = prepare("DELETE FROM objects WHERE type=?1 AND key=?2");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, type);
  bind_text(st, 2, key);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("delete " + type);
  return {};
}

Result<std::optional<std::pair<std::string, std::string>>> LabStore::dn_owner(
    const std::string& dn) {
  sqlite3_stmt* st = prepare("SELECT type, key FROM dns WHERE dn=?1");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, dn);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<std::pair<std::string, std::string>>();
  if (rc != SQLITE_ROW) return sql_error("read dn");
  return std::optional<std::pair<std::string, std::string>>(
      std::make_pair(std::string(column(st, 0)), std::string(column(st, 1))));
}

Status LabStore::put_dn(const std::string& dn, const std::string& type, const std::string& key) {
  sqlite3_stmt* st = prepare("INSERT OR REPLACE INTO dns(dn, type, key) VALUES(?1, ?2, ?3)");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, dn);
  bind_text(st, 2, type);
  bind_text(st, 3, key);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("write dn");
  return {};
}

Status LabStore::erase_dn(const std::string& dn) {
  sqlite3_stmt* st = prepare("DELETE FROM dns WHERE dn=?1");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, dn);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("delete dn");
  sqlite3_stmt* st2 = prepare("DELETE FROM ldap_attrs WHERE dn=?1");
  if (!st2) return sql_error("prepare");
  bind_text(st2, 1, dn);
  if (sqlite3_step(st2) != SQLITE_DONE) return sql_error("delete attrs");
  return {};
}

Result<bool> LabStore::has_children(const std::string& dn) {
  sqlite3_stmt* st = prepare("SELECT 1 FROM dns WHERE dn LIKE ?1 ESCAPE '\\' LIMIT 1");
  if (!st) return sql_error("prepare");
  std::string pat = "%,";
  for (char c : dn) {
    if (c == '%' || c == '_' || c == '\\') pat += '\\';
    pat += c;
  }
  bind_text(st, 1, pat);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) return sql_error("read dn");
  return false;
}

Result<std::optional<Value>> LabStore::ldap_attr(const std::string& dn, const std::string& attr) {
  sqlite3_stmt* st = prepare("SELECT value FROM ldap_attrs WHERE dn=?1 AND attr=?2");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, dn);
  bind_text(st, 2, attr);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<Value>();
  if (rc != SQLITE_ROW) return sql_error("read attribute");
  auto m = decode_attrs(column(st, 0));
  if (!m.ok()) return m.error();
  return std::optional<Value>((*m)["v"]);
}

Status LabStore::put_ldap_attr(const std::string& dn, const std::string& attr, const Value& v) {
  sqlite3_stmt* st =
      prepare("INSERT OR REPLACE INTO ldap_attrs(dn, attr, value) VALUES(?1, ?2, ?3)");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, dn);
  bind_text(st, 2, attr);
  std::string enc = encode_attrs({{"v", v}});
  sqlite3_bind_blob(st, 3, enc.data(), static_cast<int>(enc.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("write attribute");
  return {};
}

Status LabStore::put_meta(const std::string& key, const std::string& value) {
  sqlite3_stmt* st = prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
  if (!st) return sql_error("prepare");
  bind_text(st, 1, key);
  bind_text(st, 2, value);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("write meta");
  return {};
}

}  // namespace converge::lab
