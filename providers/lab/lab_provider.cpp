#include "providers/lab/lab_provider.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "engine/values.h"

namespace converge::lab {
namespace {

// Exchange 2007 role groups in OU=Microsoft Exchange Security Groups (setup /PrepareAD).
std::string role_group(const std::string& role) {
  if (role == "organization_administrator") return "Exchange Organization Administrators";
  if (role == "recipient_administrator") return "Exchange Recipient Administrators";
  if (role == "public_folder_administrator") return "Exchange Public Folder Administrators";
  if (role == "view_only_administrator") return "Exchange View-Only Administrators";
  return "";
}

// Names the directory resolves without an account object.
const std::vector<std::string> kWellKnown = {
    "everyone",        "authenticated users", "self",
    "system",          "creator owner",       "anonymous logon",
    "network service", "local service",       "enterprise domain controllers"};

// Object types the lab's schema knows: extended rights (Configuration partition) and classes
// (Schema partition), as in a fresh Exchange 2007 forest.
const std::vector<std::string> kObjectTypes = {"send-as",
                                               "send as",
                                               "receive-as",
                                               "receive as",
                                               "modify public folder replica list",
                                               "modify public folder deleted item retention",
                                               "modify public folder quotas",
                                               "serviceconnectionpoint",
                                               "user",
                                               "group",
                                               "computer",
                                               "contact",
                                               "organizationalunit",
                                               "container",
                                               "msexchprivatemdb",
                                               "msexchpublicmdb",
                                               "msexchexchangeserver",
                                               "msexchstoragegroup",
                                               "inetorgperson"};

bool is_guid(const std::string& s) {
  std::string t = s;
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
  if (t.size() != 36) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? t[i] != '-' : !std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

std::string strip_domain(const std::string& principal) {
  auto bs = principal.find('\\');
  return bs == std::string::npos ? principal : principal.substr(bs + 1);
}

const Value& get(const AttrMap& m, const std::string& k) {
  static const Value kNull;
  auto it = m.find(k);
  return it == m.end() ? kNull : it->second;
}

std::string key_of(const std::string& type, const AttrMap& attrs) {
  return identity_key(*find_type(type), attrs);
}

}  // namespace

Result<Faults> Faults::parse(const std::string& spec) {
  Faults f;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t end = spec.find(',', pos);
    std::string item =
        trim(spec.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    pos = end == std::string::npos ? spec.size() : end + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos)
      return Error::Invalid("lab faults: '" + item + "' is not KEY=VALUE");
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    try {
      if (k == "fail_nth")
        f.fail_nth = std::stoi(v);
      else if (k == "fail_type")
        f.fail_type = v;
      else if (k == "transient_nth")
        f.transient_nth = std::stoi(v);
      else if (k == "latency_ms")
        f.latency_ms = std::stoi(v);
      else if (k == "kill_nth")
        f.kill_nth = std::stoi(v);
      else
        return Error::Invalid("lab faults: unknown key '" + k + "'",
                              "fail_nth, fail_type, transient_nth, latency_ms, kill_nth");
    } catch (const std::exception&) {
      return Error::Invalid("lab faults: '" + item + "' needs a number");
    }
  }
  return f;
}

namespace {
std::mutex g_prefetch_mu;
std::map<std::string, std::shared_future<std::shared_ptr<Snapshot>>> g_prefetch;
}  // namespace

void prefetch(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;  // a lab created from its world is small
  std::lock_guard<std::mutex> lk(g_prefetch_mu);
  g_prefetch[path] = std::async(std::launch::async, [path]() -> std::shared_ptr<Snapshot> {
                       auto store = LabStore::open(path, /*read_only=*/true);
                       if (!store.ok()) return nullptr;
                       auto snap = std::make_shared<Snapshot>();
                       if (!(*store)->begin_read().ok()) return nullptr;
                       auto gen = (*store)->meta("generation");
                       auto all = (*store)->all_rows();
                       (*store)->rollback();
                       if (!all.ok() || !gen.ok()) return nullptr;
                       snap->generation = *gen;
                       snap->by_type = std::move(*all);
                       return snap;
                     }).share();
}

Result<std::unordered_map<std::string, AttrMap>> LabProvider::rows(const std::string& type) {
  if (prefetched_.valid() && writes_ == 0) {
    std::shared_ptr<Snapshot> snap = prefetched_.get();
    // Another process may have written since the rows were read (e.g. while this one waited for
    // the run lock): every write bumps the generation, so a stale snapshot is dropped.
    auto gen = store_->meta("generation");
    if (snap && (!gen.ok() || *gen != snap->generation)) {
      prefetched_ = {};
      snap.reset();
    }
    if (snap) {
      if (snap->taken.insert(type).second) {  // each type is handed out once
        std::unordered_map<std::string, AttrMap> out;
        if (auto it = snap->by_type.find(type); it != snap->by_type.end())
          out = std::move(it->second);
        return out;
      }
    }
  }
  auto rows = store_->all(type);
  if (!rows.ok()) return rows.error();
  std::unordered_map<std::string, AttrMap> m;
  m.reserve(rows->size());
  for (auto& [k, a] : *rows) m.emplace(std::move(k), std::move(a));
  return m;
}

std::string default_world_path() {
  const char* rel = "manifests/labs/exchange2007-fresh.toml";
  if (std::filesystem::exists(rel)) return rel;
  return std::string(CONVERGE_SOURCE_DIR) + "/" + rel;
}

Result<std::unique_ptr<LabProvider>> LabProvider::open(const ProviderConfig& cfg) {
  std::string path = cfg.lab_path.empty() ? ".converge/lab.sqlite" : cfg.lab_path;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  auto store = LabStore::open(path);
  if (!store.ok()) return Error(store.error());
  std::unique_ptr<LabProvider> p(new LabProvider());
  p->store_ = std::move(*store);
  if (p->store_->created()) {
    std::string world = default_world_path();
    if (auto w = cfg.settings.find("world"); w != cfg.settings.end()) {
      world = w->second.text();
      if (!world.empty() && world[0] != '/' && !std::filesystem::exists(world))
        world = cfg.manifest_dir + "/" + world;
    }
    Status st = load_world(*p->store_, world);
    if (!st.ok()) {
      p->store_.reset();
      std::filesystem::remove(path, ec);
      std::filesystem::remove(path + "-wal", ec);
      std::filesystem::remove(path + "-shm", ec);
      return Error(st.error());
    }
    spdlog::info("lab: created {} from world {}", path, world);
  }
  std::string spec;
  if (const char* env = std::getenv("CONVERGE_LAB_FAULTS")) spec = env;
  if (auto f = cfg.settings.find("faults"); f != cfg.settings.end()) spec += "," + f->second.text();
  auto faults = Faults::parse(spec);
  if (!faults.ok()) return Error(faults.error());
  p->faults_ = *faults;
  {
    std::lock_guard<std::mutex> lk(g_prefetch_mu);
    if (auto it = g_prefetch.find(path); it != g_prefetch.end()) {
      p->prefetched_ = it->second;
      g_prefetch.erase(it);
    }
  }
  return p;
}

ObserveResponse LabProvider::observe(const ObserveRequest& req) {
  std::lock_guard<std::mutex> lk(mu_);
  ObserveResponse resp;
  resp.results.resize(req.resources.size());
  const std::string& t = req.type->name;
  auto fail_all = [&](const Error& e) {
    for (auto& o : resp.results) o.error = e;
    return resp;
  };
  // Rows of the type the request is about (or of the type that really holds it), one query.
  auto load = [&](const std::string& type) { return rows(type); };

  if (t == "exchange_role") {
    auto members = load("group_member");
    auto servers = load("exchange_role");
    if (!members.ok()) return fail_all(members.error());
    if (!servers.ok()) return fail_all(servers.error());
    for (size_t i = 0; i < req.resources.size(); ++i) {
      const auto& r = req.resources[i];
      std::string role = r.str("role");
      if (role == "server_administrator") {
        auto it = servers->find(r.identity());
        if (it != servers->end()) resp.results[i] = {true, it->second, "", std::nullopt};
        continue;
      }
      AttrMap gm{{"group", Value::Str(role_group(role))}, {"member", r.get("member")}};
      auto it = members->find(key_of("group_member", gm));
      if (it != members->end())
        resp.results[i] = {
            true, {{"role", Value::Str(role)}, {"member", r.get("member")}}, "", std::nullopt};
    }
    return resp;
  }
  if (t == "ldap_attribute") {
    for (size_t i = 0; i < req.resources.size(); ++i) {
      const auto& r = req.resources[i];
      std::string dn = canonical_dn(r.str("object"));
      auto owner = store_->dn_owner(dn);
      if (!owner.ok()) return fail_all(owner.error());
      if (!*owner) {
        resp.results[i].note = "object " + r.str("object") + " does not exist";
        continue;
      }
      Observation o;
      o.exists = true;
      o.attrs = *r.attrs;
      auto v = store_->ldap_attr(dn, lower(r.str("attribute")));
      if (!v.ok()) return fail_all(v.error());
      o.attrs["value"] = *v ? **v : Value::List({});
      o.attrs.erase("source_value");
      if (!r.get("copy_from").is_null()) {
        auto src = store_->ldap_attr(dn, lower(r.str("copy_from")));
        if (!src.ok()) return fail_all(src.error());
        if (*src && !(**src).strings().empty()) o.attrs["source_value"] = **src;
      }
      resp.results[i] = std::move(o);
    }
    return resp;
  }

  // Check-only types observe facts kept under world-only names.
  if (req.type->check_only) {
    auto servers = load("server");
    if (!servers.ok()) return fail_all(servers.error());
    auto rows = load(t);
    if (!rows.ok()) return fail_all(rows.error());
    for (size_t i = 0; i < req.resources.size(); ++i) {
      const auto& r = req.resources[i];
      Observation& o = resp.results[i];
      if (t == "host_requirement") {
        auto it = servers->find(lower(r.str("host")));
        if (it == servers->end()) {
          o.note = "host " + r.str("host") + " is not in the environment";
          continue;
        }
        o.exists = true;
        o.attrs = {{"host", r.get("host")},
                   {"min_os_version", get(it->second, "os_version")},
                   {"roles", get(it->second, "roles")},
                   {"architecture", get(it->second, "architecture")},
                   {"min_memory_mb", get(it->second, "memory_mb")}};
      } else if (t == "software") {
        auto it = rows->find(r.identity());
        if (it == rows->end()) {
          o.exists = servers->count(lower(r.str("host"))) > 0;
          o.note = r.str("product") + " is not installed on " + r.str("host");
          if (o.exists) o.attrs = {{"host", r.get("host")}, {"product", r.get("product")}};
          continue;
        }
        o.exists = true;
        o.attrs = {{"host", r.get("host")},
                   {"product", r.get("product")},
                   {"min_version", get(it->second, "installed_version")}};
      } else if (t == "backup") {
        auto it = rows->find(r.identity());
        if (it == rows->end()) {
          o.note = "no backup of " + r.str("target") + " was ever taken";
          continue;
        }
        o.exists = true;
        o.attrs = {{"target", r.get("target")}, {"max_age_hours", get(it->second, "age_hours")}};
      } else if (t == "migration_path") {
        auto pf = store_->all("public_folder_database");
        if (!pf.ok()) return fail_all(pf.error());
        o.exists = true;
        o.attrs = *r.attrs;
        o.attrs["target_public_folder_store"] = Value::Bool(!pf->empty());
        if (pf->empty())
          o.note =
              "the target has no public folder store: Exchange 2003 to 2007 with MSA/CSA is "
              "unsupported";
      } else if (t == "smtp_probe") {
        std::string to = r.str("to");
        std::string domain = lower(to.substr(to.find('@') + 1));
        bool accepted = false, mx = false, anon = false;
        auto ad = store_->all("accepted_domain");
        auto recs = store_->all("dns_record");
        auto rc = store_->all("receive_connector");
        if (!ad.ok() || !recs.ok() || !rc.ok()) return fail_all(Error::Io("lab: read failed"));
        for (auto& [k, a] : *ad) {
          std::string d = lower(get(a, "domain").text());
          if (d == domain ||
              (d.rfind("*.", 0) == 0 && (domain == d.substr(2) || domain.ends_with(d.substr(1)))))
            accepted = true;
        }
        for (auto& [k, a] : *recs)
          if (iequals(get(a, "type").text(), "MX") &&
              get(a, "name").text() == canonical_dns_name(domain))
            mx = true;
        for (auto& [k, a] : *rc)
          for (const auto& g : get(a, "permission_groups").strings())
            if (iequals(g, "AnonymousUsers")) anon = true;
        o.exists = true;
        o.attrs = {{"from", r.get("from")},
                   {"to", r.get("to")},
                   {"delivered", Value::Bool(accepted && mx && anon)}};
        if (!(accepted && mx && anon))
          o.note = std::string("mail to ") + domain +
                   " is not delivered:" + (accepted ? "" : " no accepted domain;") +
                   (mx ? "" : " no MX record;") +
                   (anon ? "" : " no receive connector accepts anonymous mail;");
      }
    }
    return resp;
  }

  auto rows = load(t);
  if (!rows.ok()) return fail_all(rows.error());
  for (size_t i = 0; i < req.resources.size(); ++i) {
    auto it = rows->find(req.resources[i].identity());
    if (it == rows->end()) continue;
    resp.results[i].exists = true;
    resp.results[i].attrs = std::move(it->second);  // identities are unique: each row is used once
  }
  if (t == "ace") {  // an ACE is gone with its object
    for (size_t i = 0; i < req.resources.size(); ++i) {
      if (!resp.results[i].exists) continue;
      auto owner = store_->dn_owner(canonical_dn(req.resources[i].str("object")));
      if (owner.ok() && !*owner) resp.results[i] = Observation{};
    }
  }
  return resp;
}

ApplyResponse LabProvider::apply(const ApplyRequest& req) {
  std::lock_guard<std::mutex> lk(mu_);
  ++writes_;
  if (faults_.latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(faults_.latency_ms));
  if (faults_.fail_nth > 0 && writes_ == faults_.fail_nth)
    return {Error::Io("lab: injected failure of write #" + std::to_string(writes_))};
  if (faults_.transient_nth > 0 && writes_ == faults_.transient_nth)
    return {
        Error::Transient("lab: injected transient failure of write #" + std::to_string(writes_))};
  if (!faults_.fail_type.empty() && faults_.fail_type == req.resource.type->name)
    return {Error::Io("lab: injected failure of writes to " + faults_.fail_type)};
  Status st = store_->begin();
  if (!st.ok()) return {st};
  st = apply_locked(req);
  if (st.ok()) st = store_->bump_generation();
  if (!st.ok()) {
    store_->rollback();
    return {st};
  }
  if (faults_.kill_nth > 0 && writes_ == faults_.kill_nth) ::raise(SIGKILL);
  st = store_->commit();
  if (!st.ok()) store_->rollback();
  return {st};
}

Status LabProvider::apply_locked(const ApplyRequest& req) {
  const TypeSpec& ts = *req.resource.type;
  const std::string& t = ts.name;
  const AttrMap& want = *req.resource.attrs;
  LabStore& s = *store_;
  if (ts.check_only) return Error::Invalid(t + " is a check; the lab does not change it");

  auto exists = [&](const std::string& type, const std::string& key) -> Result<bool> {
    auto r = s.get(type, key);
    if (!r.ok()) return r.error();
    return r->has_value();
  };
  auto row = [&](const std::string& type,
                 const std::string& key) -> Result<std::optional<AttrMap>> {
    return s.get(type, key);
  };
  auto need_principal = [&](const std::string& name) -> Status {
    std::string n = lower(strip_domain(name));
    if (n.rfind("s-1-", 0) == 0) return {};
    if (std::find(kWellKnown.begin(), kWellKnown.end(), n) != kWellKnown.end()) return {};
    auto a = exists("account", n);
    if (!a.ok()) return a.error();
    auto g = exists("group", n);
    if (!g.ok()) return g.error();
    if (!*a && !*g)
      return Error::NotFound(
          "unknown principal '" + name + "': no account or group has that sAMAccountName",
          "declare it as an account or group, or fix the name");
    return {};
  };
  auto need_dn = [&](const std::string& dn, const std::string& what) -> Status {
    auto o = s.dn_owner(canonical_dn(dn));
    if (!o.ok()) return o.error();
    if (!*o)
      return Error::NotFound(what + " '" + dn + "' does not exist",
                             "create it first or fix the DN");
    return {};
  };
  auto need_server = [&](const std::string& name, const std::string& role) -> Result<AttrMap> {
    auto r = row("server", lower(name));
    if (!r.ok()) return r.error();
    if (!*r)
      return Error::NotFound("server '" + name + "' does not exist", "check the server name");
    if (!role.empty()) {
      bool has = false;
      for (const auto& x : get(**r, "roles").strings()) has = has || iequals(x, role);
      if (!has)
        return Error::Conflict("server '" + name + "' does not have the " + role + " role", "");
    }
    return **r;
  };
  // The row to store: desired attributes without secrets, merged over what is there.
  auto stored = [&](const AttrMap* base) {
    AttrMap out = base ? *base : AttrMap{};
    for (const auto& a : ts.attrs) {
      auto it = want.find(a.name);
      if (it == want.end()) continue;
      if (a.type == AttrType::kSecret) {
        if (req.secrets.count(a.name)) out[a.name + "_set"] = Value::Bool(true);
        continue;
      }
      if (a.compare == Compare::kSubset && base) {  // union, as Set-ReceiveConnector needs
        std::vector<std::string> u = get(*base, a.name).strings();
        for (const auto& v : it->second.strings())
          if (std::none_of(u.begin(), u.end(), [&](const std::string& x) { return iequals(x, v); }))
            u.push_back(v);
        out[a.name] = Value::StrList(u);
        continue;
      }
      if (!base || a.identity || a.computed ||
          std::find(req.changed.begin(), req.changed.end(), a.name) != req.changed.end())
        out[a.name] = it->second;
    }
    return out;
  };

  std::string key = key_of(t, want);
  auto current = row(t, key);
  if (!current.ok()) return current.error();
  const AttrMap* cur = *current ? &**current : nullptr;
  bool del = req.action == Action::kDelete;
  bool create = req.action == Action::kCreate;
  if (create && cur && t != "ldap_attribute" && t != "account" && t != "group")
    return Error::Conflict(t + " already exists",
                           "plan again: the environment changed since the plan");
  if (!create && !cur && t != "ldap_attribute" && t != "exchange_role")
    return Error::Conflict(t + " no longer exists",
                           "plan again: the environment changed since the plan");

  // ---- directory containers and objects ----
  if (t == "ou" || t == "container" || t == "ldap_object" || t == "account" || t == "group") {
    std::string dn = canonical_dn(want.at("dn").text());
    if (del) {
      std::string old_dn = cur ? canonical_dn(get(*cur, "dn").text()) : dn;
      auto kids = s.has_children(old_dn);
      if (!kids.ok()) return kids.error();
      if (*kids)
        return Error::Conflict(
            "cannot delete " + get(*cur, "dn").text() + ": it is not a leaf (notAllowedOnNonLeaf)",
            "delete or move its children first");
      CONVERGE_TRY(s.erase(t, key));
      CONVERGE_TRY(s.erase_dn(old_dn));
      if (t == "account" || t == "group") {
        // The directory drops the links: memberships and the mailbox go with the object.
        auto gm = s.all("group_member");
        if (!gm.ok()) return gm.error();
        std::string n = lower(want.at("name").text());
        for (auto& [k, a] : *gm)
          if (lower(get(a, "member").text()) == n || lower(get(a, "group").text()) == n)
            CONVERGE_TRY(s.erase("group_member", k));
        if (t == "account") CONVERGE_TRY(s.erase("mailbox", n));
      }
      return {};
    }
    std::string old_dn = cur ? canonical_dn(get(*cur, "dn").text()) : "";
    if (old_dn != dn) {
      CONVERGE_TRY(need_dn(want.at("path").text(), "parent container"));
      auto taken = s.dn_owner(dn);
      if (!taken.ok()) return taken.error();
      if (*taken)
        return Error::Conflict(
            "an object named " + want.at("dn").text() + " already exists (entryAlreadyExists)",
            "choose another name or cn");
    }
    if (create && (t == "account" || t == "group")) {
      // sAMAccountName is unique across users and groups, wherever they live.
      std::string n = lower(want.at("name").text());
      auto a = exists("account", n);
      auto g = exists("group", n);
      if (!a.ok()) return a.error();
      if (!g.ok()) return g.error();
      if (*a || *g)
        return Error::Conflict(
            "sAMAccountName '" + want.at("name").text() + "' is already in use in the domain",
            "sAMAccountNames are unique across users and groups");
      if (t == "account" && get(want, "enabled").as_bool() && !req.secrets.count("password"))
        return Error::Conflict("an enabled account needs a password (the domain's password policy)",
                               "set password = { env = \"VAR\" } or enabled = false");
    }
    if (cur && old_dn != dn && !old_dn.empty()) {
      auto kids = s.has_children(old_dn);
      if (!kids.ok()) return kids.error();
      if (*kids) return Error::Conflict("cannot move " + old_dn + ": it has children", "");
      CONVERGE_TRY(s.erase_dn(old_dn));
    }
    CONVERGE_TRY(s.put(t, key, stored(cur)));
    return s.put_dn(dn, t, key);
  }

  if (t == "group_member") {
    if (del) return s.erase(t, key);
    std::string g = lower(want.at("group").text());
    auto gr = exists("group", g);
    if (!gr.ok()) return gr.error();
    if (!*gr)
      return Error::NotFound("group '" + want.at("group").text() + "' does not exist",
                             "declare the group or fix its name");
    CONVERGE_TRY(need_principal(want.at("member").text()));
    if (lower(strip_domain(want.at("member").text())) == g)
      return Error::Conflict("a group cannot be a member of itself");
    return s.put(t, key, stored(cur));
  }

  if (t == "exchange_role") {
    std::string role = want.at("role").text();
    if (role == "server_administrator") {
      if (del) return s.erase(t, key);
      CONVERGE_TRY(need_principal(want.at("member").text()));
      auto srv = need_server(want.at("server").text(), "");
      if (!srv.ok()) return srv.error();
      return s.put(t, key, stored(cur));
    }
    AttrMap gm{{"group", Value::Str(role_group(role))}, {"member", want.at("member")}};
    std::string gkey = key_of("group_member", gm);
    if (del) return s.erase("group_member", gkey);
    auto gr = exists("group", lower(role_group(role)));
    if (!gr.ok()) return gr.error();
    if (!*gr)
      return Error::NotFound("role group '" + role_group(role) +
                             "' does not exist: Exchange is not prepared (setup /PrepareAD)");
    CONVERGE_TRY(need_principal(want.at("member").text()));
    return s.put("group_member", gkey, gm);
  }

  if (t == "ace") {
    if (del) return s.erase(t, key);
    CONVERGE_TRY(need_dn(want.at("object").text(), "object"));
    CONVERGE_TRY(need_principal(want.at("principal").text()));
    for (const char* a : {"object_type", "inherited_object_type"}) {
      std::string v = get(want, a).text();
      if (v.empty() || is_guid(v)) continue;
      if (std::find(kObjectTypes.begin(), kObjectTypes.end(), lower(v)) == kObjectTypes.end())
        return Error::NotFound(
            std::string(a) + " '" + v + "' is neither an extended right nor a schema class",
            "use a displayName from CN=Extended-Rights, a class lDAPDisplayName or a GUID");
    }
    AttrMap out = stored(nullptr);
    out["rights"] = normalize(want.at("rights"), Compare::kRights);  // stored as AD stores it
    out["inherited"] = Value::Bool(false);
    return s.put(t, key, out);
  }

  if (t == "ldap_attribute") {
    std::string dn = canonical_dn(want.at("object").text());
    CONVERGE_TRY(need_dn(want.at("object").text(), "object"));
    if (del) return s.put_ldap_attr(dn, lower(want.at("attribute").text()), Value::List({}));
    return s.put_ldap_attr(dn, lower(want.at("attribute").text()), want.at("value"));
  }

  if (t == "mailbox") {
    if (del) return s.erase(t, key);
    auto acc = exists("account", lower(want.at("account").text()));
    if (!acc.ok()) return acc.error();
    if (!*acc)
      return Error::NotFound("account '" + want.at("account").text() + "' does not exist",
                             "declare the account first");
    auto db = row("mailbox_database", lower(want.at("database").text()));
    if (!db.ok()) return db.error();
    if (!*db)
      return Error::NotFound("mailbox database '" + want.at("database").text() + "' does not exist",
                             "");
    if (!get(**db, "mounted").as_bool())
      return Error::Conflict("mailbox database '" + want.at("database").text() + "' is dismounted",
                             "mount it first (Mount-Database)");
    return s.put(t, key, stored(cur));
  }

  if (t == "mailbox_database" || t == "storage_group") {
    if (del) {
      if (t == "mailbox_database") {
        auto mbx = s.all("mailbox");
        if (!mbx.ok()) return mbx.error();
        for (auto& [k, a] : *mbx)
          if (iequals(get(a, "database").text(), want.at("name").text()))
            return Error::Conflict(
                "database '" + want.at("name").text() + "' still holds mailboxes",
                "move or remove them first");
      }
      CONVERGE_TRY(s.erase(t, key));
      if (cur && !get(*cur, "dn").is_null())
        CONVERGE_TRY(s.erase_dn(canonical_dn(get(*cur, "dn").text())));
      return {};
    }
    auto srv = need_server(want.at("server").text(), "Mailbox");
    if (!srv.ok()) return srv.error();
    if (auto sg = get(want, "storage_group"); t == "mailbox_database" && !sg.is_null()) {
      auto e = exists("storage_group", lower(sg.text()));
      if (!e.ok()) return e.error();
      if (!*e) return Error::NotFound("storage group '" + sg.text() + "' does not exist", "");
    }
    if (auto pf = get(want, "default_public_folder_database"); !pf.is_null()) {
      auto e = exists("public_folder_database", lower(pf.text()));
      if (!e.ok()) return e.error();
      if (!*e)
        return Error::NotFound("public folder database '" + pf.text() + "' does not exist", "");
    }
    return s.put(t, key, stored(cur));
  }

  if (t == "public_folder") {
    if (del) return s.erase(t, key);
    for (const auto& rep : want.at("replicas").strings()) {
      auto db = row("public_folder_database", lower(rep));
      if (!db.ok()) return db.error();
      if (!*db)
        return Error::NotFound("public folder database '" + rep + "' does not exist",
                               "list databases as SERVER\\SG\\DB");
      if (!get(**db, "mounted").as_bool())
        return Error::Conflict("public folder database '" + rep + "' is dismounted", "");
    }
    return s.put(t, key, stored(cur));
  }

  if (t == "send_connector") {
    if (del) return s.erase(t, key);
    for (const auto& srv : want.at("source_transport_servers").strings()) {
      auto r = need_server(srv, "HubTransport");
      if (!r.ok()) return r.error();
    }
    for (const auto& as : want.at("address_spaces").strings())
      if (as.find(':') == std::string::npos)
        return Error::Invalid("address space '" + as + "' is not TYPE:DOMAIN;COST",
                              "write SMTP:*.source.local;1");
    return s.put(t, key, stored(cur));
  }

  if (t == "receive_connector") {
    if (del) return s.erase(t, key);
    auto r = need_server(want.at("host").text(), "HubTransport");
    if (!r.ok()) return r.error();
    return s.put(t, key, stored(cur));
  }

  if (t == "accepted_domain") {
    if (del) return s.erase(t, key);
    std::string d = want.at("domain").text();
    if (d.empty() || d.find(' ') != std::string::npos || d.find('@') != std::string::npos)
      return Error::Invalid("'" + d + "' is not an SMTP namespace",
                            "write target.local or *.target.local");
    return s.put(t, key, stored(cur));
  }

  if (t == "edge_subscription") {
    if (del) return s.erase(t, key);
    auto r = need_server(want.at("edge_server").text(), "EdgeTransport");
    if (!r.ok()) return r.error();
    return s.put(t, key, stored(cur));
  }

  if (t == "dns_zone") {
    if (del) {
      auto recs = s.all("dns_record");
      if (!recs.ok()) return recs.error();
      for (auto& [k, a] : *recs)
        if (canonical_dns_name(get(a, "zone").text()) == canonical_dns_name(want.at("name").text()))
          CONVERGE_TRY(s.erase("dns_record", k));
      return s.erase(t, key);
    }
    return s.put(t, key, stored(cur));
  }

  if (t == "dns_record") {
    if (del) return s.erase(t, key);
    std::string zone = canonical_dns_name(want.at("zone").text());
    auto z = exists("dns_zone", zone);
    if (!z.ok()) return z.error();
    if (!*z)
      return Error::NotFound(
          "zone '" + want.at("zone").text() + "' does not exist on the DNS server",
          "declare a dns_zone");
    std::string name = want.at("name").text();
    if (!(name == zone || name.ends_with("." + zone)))
      return Error::Invalid("'" + name + "' is outside zone '" + zone + "' (NOTZONE)", "");
    auto zones = s.all("dns_zone");
    auto recs = s.all("dns_record");
    if (!zones.ok()) return zones.error();
    if (!recs.ok()) return recs.error();
    std::string type = lower(want.at("type").text());
    for (auto& [k, a] : *recs) {
      if (k == key || get(a, "name").text() != name) continue;
      bool other_cname = iequals(get(a, "type").text(), "cname");
      if (type == "cname" || other_cname)
        return Error::Conflict("a CNAME cannot coexist with other records at " + name,
                               "remove one of them");
    }
    for (const auto& target : get(want, "targets").strings()) {
      // The server refuses an MX/SRV/CNAME target inside a zone it serves without an address.
      bool in_zone = false;
      for (auto& [zk, za] : *zones) {
        std::string zn = canonical_dns_name(get(za, "name").text());
        if (target == zn || target.ends_with("." + zn)) in_zone = true;
      }
      if (!in_zone) continue;
      bool has_addr = false;
      for (auto& [k, a] : *recs)
        if (get(a, "name").text() == target &&
            (iequals(get(a, "type").text(), "a") || iequals(get(a, "type").text(), "aaaa")))
          has_addr = true;
      if (!has_addr)
        return Error::Conflict("refused: " + want.at("type").text() + " target " + target +
                                   " is inside a zone this server serves but has no A/AAAA record",
                               "declare the target's A record");
    }
    return s.put(t, key, stored(cur));
  }

  if (t == "registry_value") {
    if (del) return s.erase(t, key);
    auto r = need_server(want.at("host").text(), "");
    if (!r.ok()) return r.error();
    std::string type = want.at("type").text();
    if ((type == "REG_DWORD" || type == "REG_QWORD") && !want.at("data").is_int())
      return Error::Invalid(type + " data must be an integer", "write data = 250");
    return s.put(t, key, stored(cur));
  }

  if (t == "local_group_member") {
    if (del) return s.erase(t, key);
    auto r = need_server(want.at("host").text(), "");
    if (!r.ok()) return r.error();
    if (get(*r, "dc").as_bool())
      return Error::Conflict(
          want.at("host").text() + " is a domain controller: it has no local groups",
          "use group_member on the domain's BUILTIN\\Administrators (group = \"Administrators\")");
    CONVERGE_TRY(need_principal(want.at("member").text()));
    return s.put(t, key, stored(cur));
  }

  if (t == "sql_role_member") {
    if (del) return s.erase(t, key);
    auto r = need_server(want.at("server").text(), "SQLServer");
    if (!r.ok()) return r.error();
    auto db =
        exists("sql_database", lower(want.at("server").text() + "|" + want.at("database").text()));
    if (!db.ok()) return db.error();
    if (!*db)
      return Error::NotFound("database '" + want.at("database").text() + "' does not exist on " +
                                 want.at("server").text(),
                             "");
    CONVERGE_TRY(need_principal(want.at("member").text()));
    return s.put(t, key, stored(cur));
  }

  return Error::Internal("lab: no rules for type " + t);
}

}  // namespace converge::lab
