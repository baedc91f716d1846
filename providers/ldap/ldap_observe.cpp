// Observation: each call answers every requested resource of one type with a few paged
// searches (per naming context and chunk of names), never one round trip per resource.
#include <set>
#include <unordered_map>

#include "engine/api/names.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/ldap_provider.h"
#include "providers/ldap/ldap_provider_impl.h"

namespace converge::ldap {
namespace {

constexpr size_t kListThreshold = 100;

}  // namespace

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
    auto it = found->find(dn_key(dns[i]));
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
    auto& slot = by_path[dn_key(r.str("path"))];
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
    for (const auto& [what, name] :
         {std::pair<std::string, std::string>{"group", group_of[i]}, {"member", r.str("member")}}) {
      if (auto e = check_principal(d.root(), what, name)) {
        resp.results[i].error = on(*e, *r.id);
        break;
      }
    }
    if (resp.results[i].error) continue;
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
    auto s = sets.find(dn_key(g->second.dn));
    if (s == sets.end() || !s->second.count(dn_key(m->second.dn))) continue;
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
    if (auto e = check_principal(d.root(), "principal", r.str("principal"))) {
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
    auto sdit = sds.find(dn_key(r.str("object")));
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
      if (auto e = check_not_secret(which, n, SchemaName{})) {  // also when the schema lacks it
        resp.results[i].error = on(*e, *r.id);
        break;
      }
      auto it = types->find(object_type_key(n));
      if (it == types->end() || it->second.kind != SchemaName::kAttribute) {
        resp.results[i].error =
            on(Error::NotFound(std::string(which) + " '" + n +
                                   "' is not an attribute of the directory's schema",
                               "use an lDAPDisplayName such as displayName or adminDisplayName"),
               *r.id);
        break;
      }
      if (auto e = check_not_secret(which, n, it->second)) {
        resp.results[i].error = on(*e, *r.id);
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
    auto it = entries->find(dn_key(r.str("object")));
    if (it == entries->end()) {
      o.note = "object " + r.str("object") + " does not exist";
      continue;
    }
    o.exists = true;
    o.attrs = observe_attribute(it->second, *r.attrs);
  }
  return {};
}

}  // namespace converge::ldap
