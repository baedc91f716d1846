// World files: the lab's starting state, in TOML: [TYPE.NAME] tables like a manifest, plus
// world-only types the lab uses to answer checks and enforce rules (domain, server,
// public_folder_database, sql_database, and installed software / backup facts). An `ldap = {...}`
// table on a directory object sets free-form attributes (adminDisplayName ...).
#include <toml++/toml.h>

#include <filesystem>

#include "engine/api/names.h"
#include "providers/lab/lab_provider.h"

namespace converge::lab {
namespace {

Value to_value(const toml::node& n) {
  if (auto s = n.value<std::string>()) return Value::Str(*s);
  if (n.is_boolean()) return Value::Bool(*n.value<bool>());
  if (n.is_integer()) return Value::Int(*n.value<int64_t>());
  if (auto* a = n.as_array()) {
    std::vector<Value> out;
    for (auto& e : *a) out.push_back(to_value(e));
    return Value::List(std::move(out));
  }
  return {};
}

std::string world_key(const std::string& type, const AttrMap& a) {
  auto s = [&](const char* k) {
    auto it = a.find(k);
    return it == a.end() ? std::string() : it->second.text();
  };
  if (type == "sql_database") return lower(s("server") + "|" + s("name"));
  return lower(s("name"));
}

}  // namespace

Status load_world(LabStore& store, const std::string& world_path) {
  toml::table root;
  try {
    root = toml::parse_file(world_path);
  } catch (const toml::parse_error& e) {
    return Error::Invalid("world file: " + std::string(e.description()), "fix the world file")
        .at(Loc{world_path, static_cast<int>(e.source().begin.line),
                static_cast<int>(e.source().begin.column)});
  }
  CONVERGE_TRY(store.begin());
  auto fail = [&](Error e) -> Status {
    store.rollback();
    return e;
  };
  for (auto&& [tk, tnode] : root) {
    std::string type(tk.str());
    auto* tbl = tnode.as_table();
    if (!tbl)
      return fail(Error::Invalid("world file: '" + type + "' must be a table of objects")
                      .at(Loc{world_path, 0, 0}));
    const TypeSpec* ts = find_type(type);
    for (auto&& [nk, node] : *tbl) {
      auto* obj = node.as_table();
      if (!obj)
        return fail(Error::Invalid("world file: " + type + "." + std::string(nk.str()) +
                                   " must be a table"));
      AttrMap a;
      const toml::table* ldap = nullptr;
      for (auto&& [k, v] : *obj) {
        if (k.str() == "ldap" && v.is_table())
          ldap = v.as_table();
        else
          a[std::string(k.str())] = to_value(v);
      }
      std::string key;
      if (ts) {
        for (const auto& spec : ts->attrs)
          if (!a.count(spec.name) && spec.def) a[spec.name] = *spec.def;
        derive_computed(*ts, a);
        if (type == "ace") a["rights"] = normalize(a["rights"], Compare::kRights);
        key = identity_key(*ts, a);
        // Inherited ACEs live beside explicit ones with the same identity; converge never
        // matches, writes or removes them (an ace resource owns an explicit ACE).
        if (type == "ace" && a.count("inherited") && a["inherited"].as_bool()) key += "|inherited";
      } else {
        key = world_key(type, a);
      }
      CONVERGE_TRY(store.put(type, key, a));
      if (auto dn = a.find("dn"); dn != a.end()) {
        std::string cdn = canonical_dn(dn->second.text());
        CONVERGE_TRY(store.put_dn(cdn, type, key));
        if (ldap)
          for (auto&& [lk, lv] : *ldap)
            CONVERGE_TRY(store.put_ldap_attr(cdn, lower(lk.str()), to_value(lv)));
      }
    }
  }
  CONVERGE_TRY(store.put_meta("world", world_path));
  return store.commit();
}

Status init_lab(const std::string& lab_path, const std::string& world_path) {
  if (!std::filesystem::exists(world_path))
    return Error::NotFound("world file '" + world_path + "' does not exist",
                           "pass a file such as manifests/labs/exchange2007-fresh.toml");
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(lab_path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  // Build beside, then rename: a failed init leaves the old lab as it was.
  std::string tmp = lab_path + ".new";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(tmp + suffix, ec);
  {
    auto store = LabStore::open(tmp);
    if (!store.ok()) return Error(store.error());
    Status st = load_world(**store, world_path);
    if (!st.ok()) {
      store->reset();
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(tmp + suffix, ec);
      return st;
    }
  }
  for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(lab_path + suffix, ec);
  std::filesystem::rename(tmp, lab_path, ec);
  if (ec) return Error::Io("cannot replace " + lab_path + ": " + ec.message());
  return {};
}

}  // namespace converge::lab
