#include "providers/lab/lab_provider.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "engine/api/names.h"
#include "providers/lab/lab_rules.h"

namespace converge::lab {

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
      else if (k == "lost_reply_nth")
        f.lost_reply_nth = std::stoi(v);
      else
        return Error::Invalid("lab faults: unknown key '" + k + "'",
                              "fail_nth, fail_type, transient_nth, latency_ms, kill_nth, "
                              "lost_reply_nth");
    } catch (const std::exception&) {
      return Error::Invalid("lab faults: '" + item + "' needs a number");
    }
  }
  return f;
}

Result<std::unordered_map<std::string, AttrMap>> LabProvider::rows_of(const std::string& type) {
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

  if (t == "exchange_role") {
    auto members = rows_of("group_member");
    auto servers = rows_of("exchange_role");
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
    auto servers = rows_of("server");
    if (!servers.ok()) return fail_all(servers.error());
    auto rows = rows_of(t);
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
        o.attrs = *r.attrs;  // the lab has no mailboxes: what reaches the server is delivered
        if (!(accepted && mx && anon)) o.attrs["expect"] = Value::Str("refused");
        if (!(accepted && mx && anon))
          o.note = std::string("mail to ") + domain +
                   " is not delivered:" + (accepted ? "" : " no accepted domain;") +
                   (mx ? "" : " no MX record;") +
                   (anon ? "" : " no receive connector accepts anonymous mail;");
      }
    }
    return resp;
  }

  auto rows = rows_of(t);
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
  if (!st.ok()) {
    store_->rollback();
    return {st};
  }
  if (faults_.kill_nth > 0 && writes_ == faults_.kill_nth) ::raise(SIGKILL);
  st = store_->commit();
  if (!st.ok()) store_->rollback();
  if (st.ok() && faults_.lost_reply_nth > 0 && writes_ == faults_.lost_reply_nth)
    return {Error::Transient("lab: injected lost reply of write #" + std::to_string(writes_) +
                             " (it was committed)")};
  return {st};
}

Status LabProvider::apply_locked(const ApplyRequest& req) {
  const TypeSpec& ts = *req.resource.type;
  const std::string& t = ts.name;
  if (ts.check_only) return Error::Invalid(t + " is a check; the lab does not change it");
  const AttrMap& want = *req.resource.attrs;
  std::string key = key_of(t, want);
  auto current = store_->get(t, key);
  if (!current.ok()) return current.error();
  Change c{*store_,
           req,
           t,
           want,
           key,
           *current ? &**current : nullptr,
           req.action == Action::kDelete,
           req.action == Action::kCreate};
  if (c.create && c.cur && t != "ldap_attribute" && t != "account" && t != "group")
    return Error::Conflict(t + " already exists",
                           "plan again: the environment changed since the plan");
  if (!c.create && !c.cur && t != "ldap_attribute" && t != "exchange_role")
    return Error::Conflict(t + " no longer exists",
                           "plan again: the environment changed since the plan");
  for (auto* rules : {directory_rules, exchange_rules, dns_and_host_rules})
    if (auto st = rules(c)) return *st;
  return Error::Internal("lab: no rules for type " + t);
}

}  // namespace converge::lab
