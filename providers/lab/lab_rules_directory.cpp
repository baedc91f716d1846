// The lab's directory rules: containers and objects (parents exist, names are free, leaves only
// are deleted, sAMAccountNames are unique across users and groups), group memberships, Exchange
// roles, ACEs and free-form attributes.
#include <algorithm>
#include <cctype>

#include "engine/api/names.h"
#include "providers/lab/lab_rules.h"

namespace converge::lab {
namespace {

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

// A principal qualified with another domain ("SOURCE\\svc", "svc@source.local") is refused, as
// the ldap provider refuses it: it must not silently become the target domain's "svc". The
// target domain is the world's domain row (name = DNS name; NetBIOS name = its first label);
// BUILTIN and NT AUTHORITY are the machine-local authorities every domain has.
Status need_own_domain(const Change& c, const std::string& what, const std::string& principal) {
  std::string q;
  if (auto bs = principal.rfind('\\'); bs != std::string::npos)
    q = principal.substr(0, bs);
  else if (auto at = principal.rfind('@'); at != std::string::npos && at > 0)
    q = principal.substr(at + 1);
  else
    return {};
  std::string lq = lower(q);
  if (lq == "builtin" || lq == "nt authority") return {};
  auto domains = c.s.all("domain");
  if (!domains.ok()) return domains.error();
  if (domains->empty()) return {};  // a world without a domain row cannot judge
  std::string ours;
  for (const auto& [key, row] : *domains) {
    std::string dns = lower(get(row, "name").text());
    std::string netbios = dns.substr(0, dns.find('.'));
    if (!lq.empty() && (lq == dns || lq == netbios)) return {};
    std::string up = netbios;
    for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    ours += (ours.empty() ? "" : ", ") + up + " / " + dns;
  }
  return Error::Invalid(what + ": principal '" + principal + "' names the domain '" + q +
                            "', not the target domain (" + ours +
                            "): it would resolve to the target's account of the same name",
                        "name accounts of the target domain; a foreign account needs its SID");
}

}  // namespace

std::optional<Status> directory_rules(const Change& c) {
  if (c.t == "ou" || c.t == "container" || c.t == "ldap_object" || c.t == "account" ||
      c.t == "group") {
    std::string dn = canonical_dn(c.want.at("dn").text());
    if (c.del) {
      std::string old_dn = c.cur ? canonical_dn(get(*c.cur, "dn").text()) : dn;
      auto kids = c.s.has_children(old_dn);
      if (!kids.ok()) return kids.error();
      if (*kids)
        return Error::Conflict("cannot delete " + get(*c.cur, "dn").text() +
                                   ": it is not a leaf (notAllowedOnNonLeaf)",
                               "delete or move its children first");
      CONVERGE_TRY(c.s.erase(c.t, c.key));
      CONVERGE_TRY(c.s.erase_dn(old_dn));
      if (c.t == "account" || c.t == "group") {
        // The directory drops the links: memberships and the mailbox go with the object.
        auto gm = c.s.all("group_member");
        if (!gm.ok()) return gm.error();
        std::string n = lower(c.want.at("name").text());
        for (auto& [k, a] : *gm)
          if (lower(get(a, "member").text()) == n || lower(get(a, "group").text()) == n)
            CONVERGE_TRY(c.s.erase("group_member", k));
        if (c.t == "account") CONVERGE_TRY(c.s.erase("mailbox", n));
      }
      return Status{};
    }
    std::string old_dn = c.cur ? canonical_dn(get(*c.cur, "dn").text()) : "";
    if (old_dn != dn) {
      CONVERGE_TRY(c.need_dn(c.want.at("path").text(), "parent container"));
      auto taken = c.s.dn_owner(dn);
      if (!taken.ok()) return taken.error();
      if (*taken)
        return Error::Conflict(
            "an object named " + c.want.at("dn").text() + " already exists (entryAlreadyExists)",
            "choose another name or cn");
    }
    if (c.create && (c.t == "account" || c.t == "group")) {
      // sAMAccountName is unique across users and groups, wherever they live.
      std::string n = lower(c.want.at("name").text());
      auto a = c.exists("account", n);
      auto g = c.exists("group", n);
      if (!a.ok()) return a.error();
      if (!g.ok()) return g.error();
      if (*a || *g)
        return Error::Conflict(
            "sAMAccountName '" + c.want.at("name").text() + "' is already in use in the domain",
            "sAMAccountNames are unique across users and groups");
      if (c.t == "account" && get(c.want, "enabled").as_bool() && !c.req.secrets.count("password"))
        return Error::Conflict("an enabled account needs a password (the domain's password policy)",
                               "set password = { env = \"VAR\" } or enabled = false");
    }
    if (c.cur && old_dn != dn && !old_dn.empty()) {
      auto kids = c.s.has_children(old_dn);
      if (!kids.ok()) return kids.error();
      if (*kids) return Error::Conflict("cannot move " + old_dn + ": it has children", "");
      CONVERGE_TRY(c.s.erase_dn(old_dn));
    }
    CONVERGE_TRY(c.s.put(c.t, c.key, c.stored(c.cur)));
    return c.s.put_dn(dn, c.t, c.key);
  }

  if (c.t == "group_member") {
    if (c.del) return c.s.erase(c.t, c.key);
    CONVERGE_TRY(need_own_domain(c, "group", c.want.at("group").text()));
    CONVERGE_TRY(need_own_domain(c, "member", c.want.at("member").text()));
    std::string g = lower(c.want.at("group").text());
    auto gr = c.exists("group", g);
    if (!gr.ok()) return gr.error();
    if (!*gr)
      return Error::NotFound("group '" + c.want.at("group").text() + "' does not exist",
                             "declare the group or fix its name");
    CONVERGE_TRY(c.need_principal(c.want.at("member").text()));
    if (lower(strip_domain(c.want.at("member").text())) == g)
      return Error::Conflict("a group cannot be a member of itself");
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "exchange_role") {
    std::string role = c.want.at("role").text();
    if (role == "server_administrator") {
      if (c.del) return c.s.erase(c.t, c.key);
      CONVERGE_TRY(need_own_domain(c, "member", c.want.at("member").text()));
      CONVERGE_TRY(c.need_principal(c.want.at("member").text()));
      auto srv = c.need_server(c.want.at("server").text(), "");
      if (!srv.ok()) return srv.error();
      return c.s.put(c.t, c.key, c.stored(c.cur));
    }
    AttrMap gm{{"group", Value::Str(role_group(role))}, {"member", c.want.at("member")}};
    std::string gkey = key_of("group_member", gm);
    if (c.del) return c.s.erase("group_member", gkey);
    auto gr = c.exists("group", lower(role_group(role)));
    if (!gr.ok()) return gr.error();
    if (!*gr)
      return Error::NotFound("role group '" + role_group(role) +
                             "' does not exist: Exchange is not prepared (setup /PrepareAD)");
    CONVERGE_TRY(need_own_domain(c, "member", c.want.at("member").text()));
    CONVERGE_TRY(c.need_principal(c.want.at("member").text()));
    return c.s.put("group_member", gkey, gm);
  }

  if (c.t == "ace") {
    if (c.del) return c.s.erase(c.t, c.key);
    CONVERGE_TRY(c.need_dn(c.want.at("object").text(), "object"));
    CONVERGE_TRY(need_own_domain(c, "principal", c.want.at("principal").text()));
    CONVERGE_TRY(c.need_principal(c.want.at("principal").text()));
    for (const char* a : {"object_type", "inherited_object_type"}) {
      std::string v = get(c.want, a).text();
      if (v.empty() || is_guid(v)) continue;
      if (std::find(kObjectTypes.begin(), kObjectTypes.end(), lower(v)) == kObjectTypes.end())
        return Error::NotFound(
            std::string(a) + " '" + v + "' is neither an extended right nor a schema class",
            "use a displayName from CN=Extended-Rights, a class lDAPDisplayName or a GUID");
    }
    AttrMap out = c.stored(nullptr);
    out["rights"] = normalize(c.want.at("rights"), Compare::kRights);  // stored as AD stores it
    out["inherited"] = Value::Bool(false);
    return c.s.put(c.t, c.key, out);
  }

  if (c.t == "ldap_attribute") {
    std::string dn = canonical_dn(c.want.at("object").text());
    CONVERGE_TRY(c.need_dn(c.want.at("object").text(), "object"));
    if (c.del) return c.s.put_ldap_attr(dn, lower(c.want.at("attribute").text()), Value::List({}));
    return c.s.put_ldap_attr(dn, lower(c.want.at("attribute").text()), c.want.at("value"));
  }
  return std::nullopt;
}

}  // namespace converge::lab
