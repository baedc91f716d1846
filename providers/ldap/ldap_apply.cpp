// Apply: one change per call, on its own pooled connection; errors say what the directory
// refused and what to do about it.
#include <ldap.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <vector>

#include "engine/api/names.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/ldap_provider.h"
#include "providers/ldap/ldap_provider_impl.h"

namespace converge::ldap {
namespace {

// The explicit ACEs of a DACL, in order (inherited ones are the server's to recompute).
std::vector<sd::Ace> explicit_aces(const sd::Acl& dacl) {
  std::vector<sd::Ace> out;
  for (const auto& a : dacl.aces)
    if (!a.inherited()) out.push_back(a);
  return out;
}

bool is_object_type(const std::string& t) {
  return t == "ou" || t == "container" || t == "ldap_object" || t == "account" || t == "group";
}

}  // namespace

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
  if (auto e = check_principal(d.root(), "group", group)) return *e;
  if (auto e = check_principal(d.root(), "member", member)) return *e;
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
  if (auto e = check_principal(d.root(), "principal", principal)) return *e;
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
      // Read back and require the whole explicit DACL to be what was written: on Samba the
      // write is read-compare-replace, so another writer's change that lands around it is
      // otherwise either overwritten (theirs) or overwriting (ours) unnoticed. On a mismatch our
      // change is applied again on top of the DACL as it now is, and the race is reported.
      auto after = d.read_dacl(dn);
      if (!after.ok()) return after.error();
      if (*after && (*after)->sd.dacl &&
          explicit_aces(*(*after)->sd.dacl) == explicit_aces(*next.dacl))
        return {};
      spdlog::warn(
          "ldap provider '{}': another writer changed the DACL of {} while converge wrote it; "
          "applying this ACE again on top of the DACL as it now is (check that the other "
          "change is intact)",
          name_, dn);
      continue;
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
  if (auto e = check_not_secret("attribute", name, SchemaName{})) return *e;
  auto types = cached_schema(d, {name});
  if (!types.ok()) return types.error();
  auto it = types->find(object_type_key(name));
  if (it == types->end() || it->second.kind != SchemaName::kAttribute)
    return Error::NotFound("attribute '" + name + "' is not in the directory's schema");
  if (auto e = check_not_secret("attribute", name, it->second)) return *e;
  if (std::string from = attr_text(a, "copy_from"); !from.empty()) {
    auto src = cached_schema(d, {from});
    if (!src.ok()) return src.error();
    auto sit = src->find(object_type_key(from));
    if (sit != src->end())
      if (auto e = check_not_secret("copy_from", from, sit->second)) return *e;
  }
  std::vector<std::string> values;
  if (req.action != Action::kDelete) values = attr(a, "value").strings();
  LdapStatus st = d.conn().modify(dn, {{Mod::kReplace, name, values}});
  if (st.code == LDAP_NO_SUCH_OBJECT)
    return Error::NotFound("object " + dn + " does not exist", "fix the DN");
  if (!st.ok()) return d.error(st);
  return {};
}

}  // namespace converge::ldap
