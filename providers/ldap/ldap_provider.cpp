#include "providers/ldap/ldap_provider.h"

#include <ldap.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "providers/ldap/ldap_conn.h"
#include "providers/ldap/ldap_directory.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/ldap_text.h"

namespace converge::ldap {
namespace {

const std::vector<std::string> kServes = {"ou",    "container",    "account",
                                          "group", "group_member", "exchange_role",
                                          "ace",   "ldap_object",  "ldap_attribute"};
const std::vector<std::string> kSettings = {"type",     "url",         "base_dn",  "bind_dn",
                                            "password", "ca_file",     "starttls", "allow_insecure",
                                            "timeout",  "max_parallel"};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_object_type(const std::string& t) {
  return t == "ou" || t == "container" || t == "ldap_object" || t == "account" || t == "group";
}

// From this many names in one container on, the container is listed instead of filtered by name.
constexpr size_t kListThreshold = 100;

Error on(Error e, const std::string& id) {
  e.resource = id;
  return e;
}

struct Settings {
  ConnSettings conn;
  std::string base_dn;
  int max_parallel = 4;
};

class LdapProvider : public Provider {
 public:
  LdapProvider(std::string name, Settings s)
      : name_(std::move(name)),
        s_(std::move(s)),
        pool_(s_.conn, static_cast<size_t>(s_.max_parallel) + 1) {}

  std::string kind() const override { return "ldap"; }
  bool serves(const std::string& t) const override {
    return std::find(kServes.begin(), kServes.end(), t) != kServes.end();
  }
  int max_parallel() const override { return s_.max_parallel; }
  ObserveResponse observe(const ObserveRequest& req) override;
  ApplyResponse apply(const ApplyRequest& req) override;

 private:
  using Work = std::function<Status(Directory&)>;
  // Runs `fn` on a pooled connection; transient failures are retried with backoff.
  Status with_directory(int attempts, const Work& fn);
  Result<const RootDse*> root(Conn& c);

  // Observation, one function per family of types; each fills resp.results.
  Status observe_objects(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_named(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_members(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_aces(Directory& d, const ObserveRequest& req, ObserveResponse& resp);
  Status observe_attributes(Directory& d, const ObserveRequest& req, ObserveResponse& resp);

  Status apply_object(Directory& d, const ApplyRequest& req);
  Status apply_member(Directory& d, const ApplyRequest& req);
  Status apply_ace(Directory& d, const ApplyRequest& req);
  Status apply_attribute(Directory& d, const ApplyRequest& req);

  // Principals for observation: cached for the provider's lifetime (one run), positives only.
  Result<std::map<std::string, Principal>> cached_principals(Directory& d,
                                                             const std::vector<std::string>& names);
  void remember(const std::string& name, const Principal& p);
  // Extended rights / schema names, cached (the schema does not change during a run).
  Result<std::map<std::string, SchemaName>> cached_schema(Directory& d,
                                                          const std::vector<std::string>& names);

  // A DN-valued attribute that must parse and lie in a naming context of the server.
  std::optional<Error> check_dn(const RootDse& root, const std::string& what,
                                const std::string& dn) const;

  std::string name_;
  Settings s_;
  Pool pool_;
  std::mutex root_mu_;
  std::optional<RootDse> root_;
  std::mutex cache_mu_;
  std::unordered_map<std::string, Principal> principal_cache_;
  std::map<std::string, SchemaName> schema_cache_;
  std::atomic<bool> no_value_delete_{false};
  // One writer per object's DACL at a time within this process: two ACEs of one object applied
  // in parallel would otherwise race on the read-modify-write.
  std::mutex dacl_locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> dacl_locks_;
  std::shared_ptr<std::mutex> dacl_lock(const std::string& dn) {
    std::lock_guard<std::mutex> lk(dacl_locks_mu_);
    auto& m = dacl_locks_[canonical_dn(dn)];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }
};

Result<const RootDse*> LdapProvider::root(Conn& c) {
  std::lock_guard<std::mutex> lk(root_mu_);
  if (!root_) {
    auto r = Directory::read_root(c, name_);
    if (!r.ok()) return r.error();
    root_ = std::move(*r);
  }
  return &*root_;
}

Status LdapProvider::with_directory(int attempts, const Work& fn) {
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    Status st;
    {
      auto lease = pool_.acquire();
      if (!lease.ok()) {
        st = lease.error();
      } else {
        auto r = root(**lease);
        if (!r.ok()) {
          st = r.error();
        } else {
          Directory d(**lease, *r, s_.base_dn, name_, &no_value_delete_);
          st = fn(d);
        }
      }
    }
    if (st.ok() || st.error().kind != ErrorKind::kTransient || attempt >= attempts) return st;
    spdlog::warn("ldap provider '{}': {}; retrying in {} ms", name_, st.error().message,
                 delay.count());
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

std::optional<Error> LdapProvider::check_dn(const RootDse& root, const std::string& what,
                                            const std::string& dn) const {
  auto parsed = parse_dn(dn);
  if (!parsed.ok())
    return Error::Invalid(what + ": " + parsed.error().message, parsed.error().hint);
  if (parsed->empty())
    return Error::Invalid(what + " is empty", "write a DN such as OU=unit,DC=example,DC=com");
  if (naming_context_of(root, dn).empty()) {
    std::string ncs;
    for (const auto& nc : root.naming_contexts) ncs += (ncs.empty() ? "" : "; ") + nc;
    return Error::NotFound(what + " '" + dn + "' is in none of the server's naming contexts",
                           "they are: " + ncs);
  }
  return std::nullopt;
}

void LdapProvider::remember(const std::string& name, const Principal& p) {
  std::lock_guard<std::mutex> lk(cache_mu_);
  principal_cache_[lower(name)] = p;
}

namespace {
// Looks `names` up in `cache` (keyed by key(name)), asks `fetch` once for all that are missing,
// remembers what it found. Empty names and repeats are skipped.
template <class Cache, class KeyOf, class Fetch>
auto through_cache(std::mutex& mu, Cache& cache, const std::vector<std::string>& names,
                   KeyOf key_of, Fetch fetch)
    -> Result<std::map<std::string, typename Cache::mapped_type>> {
  std::map<std::string, typename Cache::mapped_type> out;
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lk(mu);
    std::set<std::string> seen;
    for (const auto& n : names) {
      if (n.empty()) continue;
      std::string k = key_of(n);
      if (!seen.insert(k).second) continue;
      if (auto it = cache.find(k); it != cache.end())
        out[k] = it->second;
      else
        missing.push_back(n);
    }
  }
  if (!missing.empty()) {
    auto found = fetch(missing);
    if (!found.ok()) return found.error();
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [k, v] : *found) {
      cache[k] = v;
      out[k] = v;
    }
  }
  return out;
}
}  // namespace

Result<std::map<std::string, Principal>> LdapProvider::cached_principals(
    Directory& d, const std::vector<std::string>& names) {
  return through_cache(
      cache_mu_, principal_cache_, names, [](const std::string& n) { return lower(n); },
      [&](const std::vector<std::string>& m) { return d.principals(m); });
}

Result<std::map<std::string, SchemaName>> LdapProvider::cached_schema(
    Directory& d, const std::vector<std::string>& names) {
  return through_cache(
      cache_mu_, schema_cache_, names, [](const std::string& n) { return object_type_key(n); },
      [&](const std::vector<std::string>& m) { return d.schema_names(m); });
}

// ---- observe
// ----------------------------------------------------------------------------------------

ObserveResponse LdapProvider::observe(const ObserveRequest& req) {
  ObserveResponse resp;
  const std::string& t = req.type->name;
  Status st = with_directory(3, [&](Directory& d) -> Status {
    resp.results.assign(req.resources.size(), Observation{});
    if (t == "ou" || t == "container" || t == "ldap_object") return observe_objects(d, req, resp);
    if (t == "account" || t == "group") return observe_named(d, req, resp);
    if (t == "group_member" || t == "exchange_role") return observe_members(d, req, resp);
    if (t == "ace") return observe_aces(d, req, resp);
    if (t == "ldap_attribute") return observe_attributes(d, req, resp);
    return Error::Internal("ldap provider does not serve " + t);
  });
  if (!st.ok()) {
    resp.results.assign(req.resources.size(), Observation{});
    for (size_t i = 0; i < req.resources.size(); ++i)
      resp.results[i].error = on(st.error(), *req.resources[i].id);
  }
  return resp;
}

Status LdapProvider::observe_objects(Directory& d, const ObserveRequest& req,
                                     ObserveResponse& resp) {
  const TypeSpec& t = *req.type;
  std::vector<std::string> dns(req.resources.size());
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    if (auto e = check_dn(d.root(), "path", r.str("path"))) {
      resp.results[i].error = on(*e, *r.id);
      continue;
    }
    dns[i] = object_dn(t, *r.attrs);
  }
  std::vector<std::string> wanted;
  for (const auto& dn : dns)
    if (!dn.empty()) wanted.push_back(dn);
  auto found = d.read_dns(wanted, object_attributes(t));
  if (!found.ok()) return found.error();
  for (size_t i = 0; i < req.resources.size(); ++i) {
    if (dns[i].empty()) continue;
    auto it = found->find(canonical_dn(dns[i]));
    if (it == found->end()) continue;
    resp.results[i].exists = true;
    resp.results[i].attrs = observe_object(t, it->second, *req.resources[i].attrs);
  }
  return {};
}

Status LdapProvider::observe_named(Directory& d, const ObserveRequest& req, ObserveResponse& resp) {
  const TypeSpec& t = *req.type;
  const std::string cls = t.name == "account" ? "(objectClass=user)" : "(objectClass=group)";
  // Names by the container the manifest puts them in. Where many live in one container, one
  // paged one-level search of that container is cheaper than filtering by name (Samba evaluates
  // a long OR filter at several times the cost per entry of a plain listing); names not found
  // there (moved objects) and names of sparsely used containers are looked up by sAMAccountName
  // across the domain.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>>
      by_path;  // key: canonical
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    if (auto e = check_dn(d.root(), "path", r.str("path"))) {
      resp.results[i].error = on(*e, *r.id);
      continue;
    }
    auto& slot = by_path[canonical_dn(r.str("path"))];
    slot.first = r.str("path");
    slot.second.push_back(r.str("name"));
  }
  std::vector<Entry> found;
  std::set<std::string> seen;
  std::vector<std::string> rest;
  for (auto& [key, slot] : by_path) {
    if (slot.second.size() < kListThreshold) {
      rest.insert(rest.end(), slot.second.begin(), slot.second.end());
      continue;
    }
    auto listed = d.list(slot.first, cls, object_attributes(t));
    if (!listed.ok()) return listed.error();
    for (auto& e : *listed) {
      seen.insert(lower(e.first("samaccountname")));
      found.push_back(std::move(e));
    }
    for (const auto& n : slot.second)
      if (!seen.count(lower(n))) rest.push_back(n);
  }
  if (!rest.empty()) {
    auto more = d.find_by(cls, "sAMAccountName", rest, object_attributes(t));
    if (!more.ok()) return more.error();
    for (auto& e : *more) found.push_back(std::move(e));
  }
  std::unordered_map<std::string, const Entry*> by_name;
  for (const auto& e : found) {
    by_name[lower(e.first("samaccountname"))] = &e;
    auto sid = sd::Sid::from_binary({reinterpret_cast<const uint8_t*>(e.first("objectsid").data()),
                                     e.first("objectsid").size()});
    remember(e.first("samaccountname"),
             Principal{e.dn, sid.ok() ? sid->str() : "", e.first("samaccountname")});
  }
  for (size_t i = 0; i < req.resources.size(); ++i) {
    if (resp.results[i].error) continue;
    auto it = by_name.find(lower(req.resources[i].str("name")));
    if (it == by_name.end()) continue;
    resp.results[i].exists = true;
    resp.results[i].attrs = observe_object(t, *it->second, *req.resources[i].attrs);
  }
  return {};
}

Status LdapProvider::observe_members(Directory& d, const ObserveRequest& req,
                                     ObserveResponse& resp) {
  bool role = req.type->name == "exchange_role";
  std::vector<std::string> group_of(req.resources.size());
  std::vector<std::string> names;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    group_of[i] = role ? role_group(r.str("role")) : r.str("group");
    if (group_of[i].empty()) {
      resp.results[i].error =
          on(Error::Invalid(
                 "role '" + r.str("role") +
                     "' is not a group membership: the server administrator role also "
                     "needs the server's local Administrators group, which LDAP cannot change",
                 "grant it on the server with Add-ExchangeAdministrator, or use the lab provider"),
             *r.id);
      continue;
    }
    names.push_back(group_of[i]);
    names.push_back(r.str("member"));
  }
  auto ps = cached_principals(d, names);
  if (!ps.ok()) return ps.error();
  std::vector<std::string> group_dns;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    auto it = ps->find(lower(group_of[i]));
    if (it != ps->end() && !it->second.dn.empty()) group_dns.push_back(it->second.dn);
  }
  auto members = d.members(group_dns);
  if (!members.ok()) return members.error();
  std::unordered_map<std::string, std::set<std::string>> sets;
  for (auto& [g, list] : *members) sets[g] = std::set<std::string>(list.begin(), list.end());
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    Observation& o = resp.results[i];
    if (o.error) continue;
    auto g = ps->find(lower(group_of[i]));
    auto m = ps->find(lower(r.str("member")));
    if (g == ps->end() || g->second.dn.empty()) {
      o.note = (role ? "role group '" : "group '") + group_of[i] + "' does not exist";
      continue;
    }
    if (m == ps->end() || m->second.dn.empty()) {
      o.note = "member '" + r.str("member") + "' does not exist";
      continue;
    }
    auto s = sets.find(canonical_dn(g->second.dn));
    if (s == sets.end() || !s->second.count(canonical_dn(m->second.dn))) continue;
    o.exists = true;
    if (role)
      o.attrs = {{"role", r.get("role")}, {"member", r.get("member")}};
    else
      o.attrs = {{"group", r.get("group")}, {"member", r.get("member")}};
  }
  return {};
}

Status LdapProvider::observe_aces(Directory& d, const ObserveRequest& req, ObserveResponse& resp) {
  std::vector<std::string> dns, principals, type_names;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    if (auto e = check_dn(d.root(), "object", r.str("object"))) {
      resp.results[i].error = on(*e, *r.id);
      continue;
    }
    dns.push_back(r.str("object"));
    principals.push_back(r.str("principal"));
    type_names.push_back(r.str("object_type"));
    type_names.push_back(r.str("inherited_object_type"));
  }
  auto entries = d.read_dns(dns, {"nTSecurityDescriptor"}, kDaclSecurityInformation);
  if (!entries.ok()) return entries.error();
  auto ps = cached_principals(d, principals);
  if (!ps.ok()) return ps.error();
  auto types = cached_schema(d, type_names);
  if (!types.ok()) return types.error();

  std::unordered_map<std::string, Result<sd::SecurityDescriptor>> sds;
  for (const auto& [key, e] : *entries) {
    const std::string& raw = e.first("ntsecuritydescriptor");
    sds.emplace(key, sd::parse({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}));
  }
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    Observation& o = resp.results[i];
    if (o.error) continue;
    AceTarget target;
    bool bad = false;
    for (const char* which : {"object_type", "inherited_object_type"}) {
      std::string n = r.str(which);
      if (n.empty()) continue;
      auto it = types->find(object_type_key(n));
      if (it == types->end()) {
        o.error =
            on(Error::NotFound(
                   std::string(which) + " '" + n +
                       "' is neither an extended right nor a schema class or attribute",
                   "use a displayName from CN=Extended-Rights (e.g. Send As), a class or attribute "
                   "lDAPDisplayName (e.g. serviceConnectionPoint) or a GUID"),
               *r.id);
        bad = true;
        break;
      }
      if (std::string(which) == "inherited_object_type" && it->second.kind != SchemaName::kClass &&
          it->second.kind != SchemaName::kGuid) {
        o.error = on(Error::Invalid(
                         "inherited_object_type '" + n + "' is not a schema class",
                         "name the class of the descendants, e.g. serviceConnectionPoint or user"),
                     *r.id);
        bad = true;
        break;
      }
      (std::string(which) == "object_type" ? target.object_type : target.inherited_object_type) =
          it->second.guid;
    }
    if (bad) continue;
    auto sdit = sds.find(canonical_dn(r.str("object")));
    if (sdit == sds.end()) {
      o.note = "object " + r.str("object") + " does not exist";
      continue;
    }
    if (!sdit->second.ok()) {
      o.error = on(Error::Conflict("the security descriptor of " + r.str("object") +
                                   " does not parse: " + sdit->second.error().message),
                   *r.id);
      continue;
    }
    auto p = ps->find(lower(r.str("principal")));
    if (p == ps->end() || p->second.sid.empty()) {
      o.note = "principal '" + r.str("principal") + "' does not exist";
      continue;
    }
    auto sid = sd::Sid::parse(p->second.sid);
    if (!sid.ok()) {
      o.error = on(sid.error(), *r.id);
      continue;
    }
    target.sid = *sid;
    auto ace = desired_ace(*r.attrs, target);
    if (!ace.ok()) {
      o.error = on(ace.error(), *r.id);
      continue;
    }
    const sd::SecurityDescriptor& sdv = *sdit->second;
    if (!sdv.dacl) continue;
    AceMatch m = find_explicit(*sdv.dacl, *ace);
    if (m.count == 0) continue;
    o.exists = true;
    o.attrs = observe_ace(*r.attrs, m);
  }
  return {};
}

Status LdapProvider::observe_attributes(Directory& d, const ObserveRequest& req,
                                        ObserveResponse& resp) {
  std::vector<std::string> dns, names;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    if (auto e = check_dn(d.root(), "object", r.str("object"))) {
      resp.results[i].error = on(*e, *r.id);
      continue;
    }
    dns.push_back(r.str("object"));
    names.push_back(r.str("attribute"));
    if (!r.str("copy_from").empty()) names.push_back(r.str("copy_from"));
  }
  auto types = cached_schema(d, names);
  if (!types.ok()) return types.error();
  std::vector<std::string> attrs;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    if (resp.results[i].error) continue;
    for (const char* which : {"attribute", "copy_from"}) {
      std::string n = r.str(which);
      if (n.empty()) continue;
      auto it = types->find(object_type_key(n));
      if (it == types->end() || it->second.kind != SchemaName::kAttribute) {
        resp.results[i].error =
            on(Error::NotFound(std::string(which) + " '" + n +
                                   "' is not an attribute of the directory's schema",
                               "use an lDAPDisplayName such as displayName or adminDisplayName"),
               *r.id);
        break;
      }
      if (std::find(attrs.begin(), attrs.end(), n) == attrs.end()) attrs.push_back(n);
    }
  }
  if (attrs.empty()) attrs.push_back("objectClass");
  auto entries = d.read_dns(dns, attrs);
  if (!entries.ok()) return entries.error();
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& r = req.resources[i];
    Observation& o = resp.results[i];
    if (o.error) continue;
    auto it = entries->find(canonical_dn(r.str("object")));
    if (it == entries->end()) {
      o.note = "object " + r.str("object") + " does not exist";
      continue;
    }
    o.exists = true;
    o.attrs = observe_attribute(it->second, *r.attrs);
  }
  return {};
}

// ---- apply
// ------------------------------------------------------------------------------------------

ApplyResponse LdapProvider::apply(const ApplyRequest& req) {
  const std::string& t = req.resource.type->name;
  Status st = with_directory(1, [&](Directory& d) -> Status {
    if (is_object_type(t)) return apply_object(d, req);
    if (t == "group_member" || t == "exchange_role") return apply_member(d, req);
    if (t == "ace") return apply_ace(d, req);
    if (t == "ldap_attribute") return apply_attribute(d, req);
    return Error::Internal("ldap provider does not serve " + t);
  });
  return {st};
}

Status LdapProvider::apply_object(Directory& d, const ApplyRequest& req) {
  const TypeSpec& t = *req.resource.type;
  const AttrMap& a = *req.resource.attrs;
  Conn& c = d.conn();
  bool named = t.name == "account" || t.name == "group";
  if (req.action != Action::kDelete) {
    if (auto e = check_dn(d.root(), "path", attr_text(a, "path"))) return *e;
  }
  std::optional<Entry> current;
  if (named) {
    auto found = d.find_by(t.name == "account" ? "(objectClass=user)" : "(objectClass=group)",
                           "sAMAccountName", {attr_text(a, "name")},
                           {"sAMAccountName", "userAccountControl"});
    if (!found.ok()) return found.error();
    if (!found->empty()) current = found->front();
  }
  std::string dn = object_dn(t, a);

  if (req.action == Action::kCreate) {
    if (current)
      return Error::Conflict(
          "sAMAccountName '" + attr_text(a, "name") + "' is already in use by " + current->dn,
          "sAMAccountNames are unique across users and groups");
    auto mods = create_mods(t, a);
    if (!mods.ok()) return mods.error();
    if (t.name == "account") {
      auto pw = req.secrets.find("password");
      if (pw != req.secrets.end()) {
        if (!c.encrypted())
          return Error::Conflict("refusing to send the password of " + attr_text(a, "name") +
                                     " over an unencrypted connection",
                                 "use an ldaps:// URL or StartTLS");
        auto encoded = unicode_pwd(pw->second);
        if (!encoded.ok()) return encoded.error();
        mods->push_back({Mod::kAdd, "unicodePwd", {std::move(*encoded)}});
      } else if (attr(a, "enabled").as_bool()) {
        return Error::Conflict("an enabled account needs a password (the domain's password policy)",
                               "set password = { env = \"VAR\" } or enabled = false");
      }
    }
    LdapStatus st = c.add(dn, *mods);
    if (st.code == LDAP_ALREADY_EXISTS)
      return Error::Conflict("an object named " + dn + " already exists (entryAlreadyExists)",
                             "choose another name or cn");
    if (st.code == LDAP_NO_SUCH_OBJECT)
      return Error::NotFound("the parent " + attr_text(a, "path") + " of " + dn + " does not exist",
                             "create the container first or fix path");
    if (!st.ok()) return d.error(st);
    if (named) remember(attr_text(a, "name"), Principal{dn, "", attr_text(a, "name")});
    return {};
  }

  if (req.action == Action::kDelete) {
    std::string target = named ? (current ? current->dn : std::string()) : dn;
    if (target.empty()) return {};  // already gone
    LdapStatus st = c.remove(target);
    if (st.code == LDAP_NO_SUCH_OBJECT) return {};
    if (st.code == LDAP_NOT_ALLOWED_ON_NONLEAF)
      return Error::Conflict("cannot delete " + target + ": it is not a leaf (notAllowedOnNonLeaf)",
                             "delete or move its children first");
    if (!st.ok()) return d.error(st);
    return {};
  }

  // Update.
  std::string target = dn;
  uint32_t uac = 0;
  if (named) {
    if (!current)
      return Error::Conflict(t.name + " '" + attr_text(a, "name") + " no longer exists",
                             "plan again: the directory changed since the plan");
    target = current->dn;
    try {
      uac = static_cast<uint32_t>(std::stoul(current->first("useraccountcontrol").empty()
                                                 ? "0"
                                                 : current->first("useraccountcontrol")));
    } catch (const std::exception&) {
      uac = 0;
    }
  }
  auto mods = update_mods(t, a, req.changed, uac);
  if (!mods.ok()) return mods.error();
  if (!mods->empty()) {
    LdapStatus st = c.modify(target, *mods);
    if (st.code == LDAP_NO_SUCH_OBJECT)
      return Error::Conflict(target + " no longer exists",
                             "plan again: the directory changed since the plan");
    if (!st.ok()) return d.error(st);
  }
  if (needs_move(t, req.changed)) {
    std::string rdn_name = attr_text(a, "cn").empty() ? attr_text(a, "name") : attr_text(a, "cn");
    LdapStatus st = c.rename(target, "CN=" + escape_dn_value(rdn_name), attr_text(a, "path"));
    if (st.code == LDAP_ALREADY_EXISTS)
      return Error::Conflict(
          "cannot move " + target + ": an object named " + dn + " already exists", "");
    if (!st.ok()) return d.error(st);
  }
  return {};
}

Status LdapProvider::apply_member(Directory& d, const ApplyRequest& req) {
  const AttrMap& a = *req.resource.attrs;
  bool role = req.resource.type->name == "exchange_role";
  std::string group = role ? role_group(attr_text(a, "role")) : attr_text(a, "group");
  std::string member = attr_text(a, "member");
  if (group.empty())
    return Error::Invalid("role '" + attr_text(a, "role") +
                          "' is not a group membership; LDAP cannot grant it");
  auto ps = d.principals({group, member});
  if (!ps.ok()) return ps.error();
  auto g = ps->find(lower(group));
  auto m = ps->find(lower(member));
  if (g == ps->end() || g->second.dn.empty()) {
    if (role)
      return Error::NotFound("role group '" + group +
                             "' does not exist: Exchange is not prepared (setup /PrepareAD)");
    return Error::NotFound("group '" + group + "' does not exist",
                           "declare the group or fix its name");
  }
  if (m == ps->end() || m->second.dn.empty())
    return Error::NotFound(
        "unknown principal '" + member + "': no account or group has that sAMAccountName",
        "declare it as an account or group, or fix the name");
  Conn& c = d.conn();
  if (req.action == Action::kDelete) {
    LdapStatus st = c.modify(g->second.dn, {{Mod::kDelete, "member", {m->second.dn}}});
    if (st.ok() || st.code == LDAP_NO_SUCH_ATTRIBUTE) return {};
    return d.error(st);
  }
  LdapStatus st = c.modify(g->second.dn, {{Mod::kAdd, "member", {m->second.dn}}});
  if (st.ok() || st.code == LDAP_TYPE_OR_VALUE_EXISTS || st.code == LDAP_ALREADY_EXISTS) return {};
  return d.error(st);
}

Status LdapProvider::apply_ace(Directory& d, const ApplyRequest& req) {
  const AttrMap& a = *req.resource.attrs;
  std::string dn = attr_text(a, "object");
  if (auto e = check_dn(d.root(), "object", dn)) return *e;
  AceTarget target;
  std::vector<std::string> names = {attr_text(a, "object_type"),
                                    attr_text(a, "inherited_object_type")};
  auto types = cached_schema(d, names);
  if (!types.ok()) return types.error();
  for (int k = 0; k < 2; ++k) {
    if (names[k].empty()) continue;
    auto it = types->find(object_type_key(names[k]));
    if (it == types->end())
      return Error::NotFound(std::string(k ? "inherited_object_type" : "object_type") + " '" +
                             names[k] +
                             "' is neither an extended right nor a schema class or attribute");
    (k ? target.inherited_object_type : target.object_type) = it->second.guid;
  }
  std::string principal = attr_text(a, "principal");
  auto ps = d.principals({principal});
  if (!ps.ok()) return ps.error();
  auto p = ps->find(lower(principal));
  if (p == ps->end() || p->second.sid.empty())
    return Error::NotFound(
        "unknown principal '" + principal + "': no account or group has that sAMAccountName",
        "declare it as an account or group, or fix the name");
  auto sid = sd::Sid::parse(p->second.sid);
  if (!sid.ok()) return sid.error();
  target.sid = *sid;
  auto ace = desired_ace(a, target);
  if (!ace.ok()) return ace.error();

  auto object_lock = dacl_lock(dn);
  std::lock_guard<std::mutex> serialised(*object_lock);
  bool del = req.action == Action::kDelete;
  // Whether `dacl` holds what this change wants.
  auto done = [&](const sd::SecurityDescriptor& sdv) {
    AceMatch m = sdv.dacl ? find_explicit(*sdv.dacl, *ace) : AceMatch{};
    return del ? m.count == 0 : m.count == 1 && m.mask == sd::expand_generic(ace->mask);
  };
  constexpr int kAttempts = 5;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    auto cur = d.read_dacl(dn);
    if (!cur.ok()) return cur.error();
    if (!*cur)
      return Error::NotFound("object " + dn + " does not exist", "create it first or fix the DN");
    sd::SecurityDescriptor next = (*cur)->sd;
    if (!next.dacl)
      return Error::Conflict(
          dn + " has no DACL (everyone has full access); converge does not create one");
    bool changed =
        del ? sd::remove_explicit(*next.dacl, *ace) > 0 : sd::upsert_explicit(*next.dacl, *ace);
    if (!changed) return {};
    auto written = d.write_dacl(dn, **cur, next);
    if (!written.ok()) return written.error();
    if (*written) {
      // Read back: a writer that raced us (from an older read) may have put back the old DACL.
      auto after = d.read_dacl(dn);
      if (!after.ok()) return after.error();
      if (*after && done((*after)->sd)) return {};
    }
    spdlog::info(
        "ldap provider '{}': the DACL of {} changed while it was being written; reading it again",
        name_, dn);
  }
  return Error::Conflict("the DACL of " + dn + " changed " + std::to_string(kAttempts) +
                             " times while converge was writing it",
                         "another administrator is editing it; run converge again");
}

Status LdapProvider::apply_attribute(Directory& d, const ApplyRequest& req) {
  const AttrMap& a = *req.resource.attrs;
  std::string dn = attr_text(a, "object");
  if (auto e = check_dn(d.root(), "object", dn)) return *e;
  std::string name = attr_text(a, "attribute");
  auto types = cached_schema(d, {name});
  if (!types.ok()) return types.error();
  auto it = types->find(object_type_key(name));
  if (it == types->end() || it->second.kind != SchemaName::kAttribute)
    return Error::NotFound("attribute '" + name + "' is not in the directory's schema");
  std::vector<std::string> values;
  if (req.action != Action::kDelete) values = attr(a, "value").strings();
  LdapStatus st = d.conn().modify(dn, {{Mod::kReplace, name, values}});
  if (st.code == LDAP_NO_SUCH_OBJECT)
    return Error::NotFound("object " + dn + " does not exist", "fix the DN");
  if (!st.ok()) return d.error(st);
  return {};
}

// ---- settings
// -----------------------------------------------------------------------------------------

Result<Settings> parse_settings(const ProviderConfig& cfg) {
  Settings s;
  s.conn.provider = cfg.name;
  auto bad = [&](const std::string& m, const std::string& h = {}) {
    return Error::Invalid("ldap: " + m, h).at(cfg.loc);
  };
  for (const auto& [k, v] : cfg.settings) {
    if (std::find(kSettings.begin(), kSettings.end(), k) == kSettings.end())
      return bad("unknown setting '" + k + "'",
                 "known settings: url, base_dn, bind_dn, password, ca_file, starttls, "
                 "allow_insecure, timeout, "
                 "max_parallel");
  }
  auto get = [&](const std::string& k) -> const Value* {
    auto it = cfg.settings.find(k);
    return it == cfg.settings.end() ? nullptr : &it->second;
  };
  // String settings; { env = "VAR" } / { file = "path" } references are resolved here.
  auto text = [&](const std::string& k, bool required, bool secret) -> Result<std::string> {
    const Value* v = get(k);
    if (!v) {
      if (required) return bad("missing setting '" + k + "'");
      return std::string();
    }
    if (!v->is_string()) return bad("'" + k + "' must be a string");
    const std::string& sv = v->as_string();
    bool ref = sv.rfind("env:", 0) == 0 || sv.rfind("file:", 0) == 0;
    if (!ref) {
      if (secret) return bad("'" + k + "' must be { env = \"VAR\" } or { file = \"path\" }");
      return sv;
    }
    if (!cfg.resolve_secret) return bad("'" + k + "': cannot resolve " + sv);
    auto r = cfg.resolve_secret(sv);
    if (!r.ok()) return bad(k + ": " + r.error().message, r.error().hint);
    return *r;
  };
  auto flag = [&](const std::string& k, bool def) -> Result<bool> {
    const Value* v = get(k);
    if (!v) return def;
    if (!v->is_bool()) return bad("'" + k + "' must be true or false");
    return v->as_bool();
  };
  auto number = [&](const std::string& k, int def, int lo, int hi) -> Result<int> {
    const Value* v = get(k);
    if (!v) return def;
    if (!v->is_int() || v->as_int() < lo || v->as_int() > hi)
      return bad("'" + k + "' must be an integer from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
    return static_cast<int>(v->as_int());
  };

  auto url = text("url", true, false);
  if (!url.ok()) return url.error();
  std::string u = lower(*url);
  if (u.rfind("ldaps://", 0) != 0 && u.rfind("ldap://", 0) != 0)
    return bad("url '" + *url + "' must start with ldaps:// or ldap://",
               "write url = \"ldaps://dc1.example.com\"");
  if (url->find(' ') != std::string::npos) return bad("url must be one URL");
  s.conn.url = *url;
  auto base = text("base_dn", true, false);
  if (!base.ok()) return base.error();
  if (auto p = parse_dn(*base); !p.ok() || p->empty())
    return bad("base_dn '" + *base + "' is not a DN", "write base_dn = \"DC=example,DC=com\"");
  s.base_dn = *base;
  auto bind = text("bind_dn", true, false);
  if (!bind.ok()) return bind.error();
  if (bind->find('=') != std::string::npos) {
    if (auto p = parse_dn(*bind); !p.ok()) return bad("bind_dn: " + p.error().message);
  } else if (bind->find('@') == std::string::npos) {
    return bad("bind_dn '" + *bind + "' is neither a DN nor user@domain");
  }
  s.conn.bind_dn = *bind;
  auto pw = text("password", true, true);
  if (!pw.ok()) return pw.error();
  s.conn.password = *pw;
  auto ca = text("ca_file", false, false);
  if (!ca.ok()) return ca.error();
  if (!ca->empty()) {
    std::string path = *ca;
    if (path[0] != '/' && !cfg.manifest_dir.empty()) path = cfg.manifest_dir + "/" + path;
    std::ifstream probe(path);
    if (!probe)
      return bad("ca_file " + path + " cannot be read",
                 "give the PEM file of the CA that signed the server's certificate");
    s.conn.ca_file = path;
  }
  auto starttls = flag("starttls", true);
  if (!starttls.ok()) return starttls.error();
  auto insecure = flag("allow_insecure", false);
  if (!insecure.ok()) return insecure.error();
  s.conn.starttls = *starttls;
  s.conn.allow_insecure = *insecure;
  if (u.rfind("ldap://", 0) == 0 && !*starttls && !*insecure)
    return bad("ldap:// with starttls = false would send the password in clear text",
               "use ldaps:// or StartTLS, or set allow_insecure = true");
  auto timeout = number("timeout", 60, 1, 3600);
  if (!timeout.ok()) return timeout.error();
  s.conn.timeout_s = *timeout;
  s.conn.connect_timeout_s = std::min(*timeout, 10);
  auto par = number("max_parallel", 4, 1, 32);
  if (!par.ok()) return par.error();
  s.max_parallel = *par;
  return s;
}

}  // namespace

std::string role_group(const std::string& role_in) {
  std::string role = lower(role_in);
  if (role == "organization_administrator") return "Exchange Organization Administrators";
  if (role == "recipient_administrator") return "Exchange Recipient Administrators";
  if (role == "public_folder_administrator") return "Exchange Public Folder Administrators";
  if (role == "view_only_administrator") return "Exchange View-Only Administrators";
  return "";
}

ProviderKind kind() { return {"ldap", kServes, {"password"}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  auto s = parse_settings(cfg);
  if (!s.ok()) return s.error();
  return std::unique_ptr<Provider>(new LdapProvider(cfg.name, std::move(*s)));
}

}  // namespace converge::ldap
