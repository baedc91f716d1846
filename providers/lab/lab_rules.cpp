#include "providers/lab/lab_rules.h"

#include <algorithm>

#include "engine/api/names.h"

namespace converge::lab {
namespace {

// Names the directory resolves without an account object.
const std::vector<std::string> kWellKnown = {
    "everyone",        "authenticated users", "self",
    "system",          "creator owner",       "anonymous logon",
    "network service", "local service",       "enterprise domain controllers"};

}  // namespace

const Value& get(const AttrMap& m, const std::string& k) {
  static const Value kNull;
  auto it = m.find(k);
  return it == m.end() ? kNull : it->second;
}

std::string key_of(const std::string& type, const AttrMap& attrs) {
  return identity_key(*find_type(type), attrs);
}

std::string strip_domain(const std::string& principal) {
  auto bs = principal.find('\\');
  return bs == std::string::npos ? principal : principal.substr(bs + 1);
}

std::string role_group(const std::string& role) {
  if (role == "organization_administrator") return "Exchange Organization Administrators";
  if (role == "recipient_administrator") return "Exchange Recipient Administrators";
  if (role == "public_folder_administrator") return "Exchange Public Folder Administrators";
  if (role == "view_only_administrator") return "Exchange View-Only Administrators";
  return "";
}

Result<bool> Change::exists(const std::string& type, const std::string& k) const {
  auto r = s.get(type, k);
  if (!r.ok()) return r.error();
  return r->has_value();
}

Result<std::optional<AttrMap>> Change::row(const std::string& type, const std::string& k) const {
  return s.get(type, k);
}

Status Change::need_principal(const std::string& name) const {
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
}

Status Change::need_dn(const std::string& dn, const std::string& what) const {
  auto o = s.dn_owner(canonical_dn(dn));
  if (!o.ok()) return o.error();
  if (!*o)
    return Error::NotFound(what + " '" + dn + "' does not exist", "create it first or fix the DN");
  return {};
}

Result<AttrMap> Change::need_server(const std::string& name, const std::string& role) const {
  auto r = row("server", lower(name));
  if (!r.ok()) return r.error();
  if (!*r) return Error::NotFound("server '" + name + "' does not exist", "check the server name");
  if (!role.empty()) {
    bool has = false;
    for (const auto& x : get(**r, "roles").strings()) has = has || iequals(x, role);
    if (!has)
      return Error::Conflict("server '" + name + "' does not have the " + role + " role", "");
  }
  return **r;
}

AttrMap Change::stored(const AttrMap* base) const {
  AttrMap out = base ? *base : AttrMap{};
  for (const auto& a : req.resource.type->attrs) {
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
}

}  // namespace converge::lab
