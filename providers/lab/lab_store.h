// LabStore: the embedded lab's state in one SQLite file.
//
// One table holds every object of the simulated environment, keyed by (type, identity key);
// another indexes distinguished names so that directory rules (parent exists, object exists)
// are single lookups; a third holds free-form directory attributes (adminDisplayName, ...).
// Attribute maps are stored in a compact length-prefixed encoding, not JSON, because a no-op plan
// of 100,000 resources decodes every row. WAL mode; every write happens inside a transaction
// opened by the caller (Txn). Thread-safety: none; the provider serialises access.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "engine/api/schema.h"

namespace converge::lab {

std::string encode_attrs(const AttrMap& m);
Result<AttrMap> decode_attrs(std::string_view s);

class LabStore {
 public:
  // Opens (creating the file and schema if needed); created() tells whether the file is new.
  static Result<std::unique_ptr<LabStore>> open(const std::string& path);
  ~LabStore();

  Status begin();
  Status commit();
  void rollback();

  // Objects.
  Result<std::optional<AttrMap>> get(const std::string& type, const std::string& key);
  // Every object of a type: (key, attrs). One query.
  Result<std::vector<std::pair<std::string, AttrMap>>> all(const std::string& type);
  Status put(const std::string& type, const std::string& key, const AttrMap& attrs);
  Status erase(const std::string& type, const std::string& key);

  // Directory names.
  Result<std::optional<std::pair<std::string, std::string>>> dn_owner(
      const std::string& canonical_dn);
  Status put_dn(const std::string& canonical_dn, const std::string& type, const std::string& key);
  Status erase_dn(const std::string& canonical_dn);
  Result<bool> has_children(const std::string& canonical_dn);

  // Directory attributes of any object (by canonical DN).
  Result<std::optional<Value>> ldap_attr(const std::string& canonical_dn, const std::string& attr);
  Status put_ldap_attr(const std::string& canonical_dn, const std::string& attr, const Value& v);

  Status put_meta(const std::string& key, const std::string& value);

  bool created() const { return created_; }

 private:
  LabStore() = default;
  Status exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  Error sql_error(const std::string& what) const;
  sqlite3* db_ = nullptr;
  std::string path_;
  bool created_ = false;
  std::vector<std::pair<const char*, sqlite3_stmt*>> stmts_;
};

}  // namespace converge::lab
