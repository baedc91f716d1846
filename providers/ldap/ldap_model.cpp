#include "providers/ldap/ldap_model.h"

#include <algorithm>

#include "engine/api/ad_rights.h"
#include "engine/api/names.h"
#include "providers/ldap/ldap_text.h"

namespace converge::ldap {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The desired value when it names the same thing as `observed`, else `observed`.
Value spelled_as_desired(const AttrMap& desired, const std::string& key,
                         const std::string& observed, bool dn) {
  const Value& d = attr(desired, key);
  if (d.is_string() && (dn ? same_dn(d.as_string(), observed) : iequals(d.as_string(), observed)))
    return d;
  return Value::Str(observed);
}

// A single-valued string attribute: absent is null, unless the manifest asks for "" (which then
// is what an absent attribute means, not a difference).
Value optional_text(const Entry& e, const std::string& lower_name, const AttrMap& desired,
                    const std::string& key) {
  if (e.has(lower_name)) return Value::Str(e.first(lower_name));
  const Value& d = attr(desired, key);
  if (d.is_string() && d.as_string().empty()) return d;
  return Value();
}

int64_t to_int(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return 0;
  }
}

void put_text(std::vector<Mod>& mods, const char* ldap_name, const AttrMap& desired,
              const std::string& key) {
  const Value& v = attr(desired, key);
  if (v.is_null() || v.text().empty()) return;
  mods.push_back({Mod::kAdd, ldap_name, {v.text()}});
}

}  // namespace

const std::vector<std::string>& Entry::values(const std::string& lower_name) const {
  static const std::vector<std::string> kNone;
  auto it = attrs.find(lower_name);
  return it == attrs.end() ? kNone : it->second;
}

std::string Entry::first(const std::string& lower_name) const {
  const auto& v = values(lower_name);
  return v.empty() ? std::string() : v.front();
}

const Value& attr(const AttrMap& m, const std::string& name) {
  static const Value kNull;
  auto it = m.find(name);
  return it == m.end() ? kNull : it->second;
}

std::string attr_text(const AttrMap& m, const std::string& name) { return attr(m, name).text(); }

// ---- directory objects
// ------------------------------------------------------------------------------

std::string object_dn(const TypeSpec& t, const AttrMap& desired) {
  std::string name = attr_text(desired, "name");
  if (t.name == "account" && !attr_text(desired, "cn").empty()) name = attr_text(desired, "cn");
  return child_dn(t.name == "ou" ? "OU" : "CN", name, attr_text(desired, "path"));
}

std::vector<std::string> object_attributes(const TypeSpec& t) {
  if (t.name == "account")
    return {"sAMAccountName", "displayName",        "userPrincipalName",
            "description",    "userAccountControl", "objectSid"};
  if (t.name == "group") return {"sAMAccountName", "groupType", "description", "objectSid"};
  return {"objectClass", "description"};
}

AttrMap observe_object(const TypeSpec& t, const Entry& e, const AttrMap& desired) {
  AttrMap o;
  o["dn"] = spelled_as_desired(desired, "dn", e.dn, true);
  o["path"] = spelled_as_desired(desired, "path", parent_dn(e.dn), true);
  o["description"] = optional_text(e, "description", desired, "description");
  if (t.name == "account" || t.name == "group") {
    o["name"] = spelled_as_desired(desired, "name", e.first("samaccountname"), false);
  } else {
    o["name"] = spelled_as_desired(desired, "name", first_rdn_value(e.dn), false);
  }
  if (t.name == "ldap_object") {
    const auto& classes = e.values("objectclass");
    std::string want = attr_text(desired, "class");
    auto it = std::find_if(classes.begin(), classes.end(),
                           [&](const std::string& c) { return iequals(c, want); });
    o["class"] = it != classes.end() ? attr(desired, "class")
                                     : Value::Str(classes.empty() ? "" : classes.back());
  }
  if (t.name == "account") {
    o["cn"] = Value::Str(first_rdn_value(e.dn));
    o["display_name"] = optional_text(e, "displayname", desired, "display_name");
    o["description"] = optional_text(e, "description", desired, "description");
    if (e.has("userprincipalname"))
      o["upn"] = spelled_as_desired(desired, "upn", e.first("userprincipalname"), false);
    else
      o["upn"] = optional_text(e, "userprincipalname", desired, "upn");
    auto uac = static_cast<uint32_t>(to_int(e.first("useraccountcontrol")));
    o["enabled"] = Value::Bool((uac & kUacAccountDisable) == 0);
    o["password_never_expires"] = Value::Bool((uac & kUacDontExpirePassword) != 0);
  }
  if (t.name == "group") {
    auto gt = static_cast<int32_t>(to_int(e.first("grouptype")));
    o["scope"] = spelled_as_desired(desired, "scope", group_scope(gt), false);
    o["category"] = spelled_as_desired(desired, "category", group_category(gt), false);
  }
  return o;
}

Result<std::vector<Mod>> create_mods(const TypeSpec& t, const AttrMap& desired) {
  std::vector<Mod> mods;
  if (t.name == "ou") {
    mods.push_back({Mod::kAdd, "objectClass", {"organizationalUnit"}});
  } else if (t.name == "container") {
    mods.push_back({Mod::kAdd, "objectClass", {"container"}});
  } else if (t.name == "ldap_object") {
    std::string cls = attr_text(desired, "class");
    if (cls.empty()) return Error::Invalid("ldap_object needs a class");
    mods.push_back({Mod::kAdd, "objectClass", {cls}});
  } else if (t.name == "account") {
    mods.push_back({Mod::kAdd, "objectClass", {"user"}});
    mods.push_back({Mod::kAdd, "sAMAccountName", {attr_text(desired, "name")}});
    put_text(mods, "userPrincipalName", desired, "upn");
    put_text(mods, "displayName", desired, "display_name");
    uint32_t uac = account_control(kUacNormalAccount, attr(desired, "enabled").as_bool(),
                                   attr(desired, "password_never_expires").as_bool());
    mods.push_back({Mod::kAdd, "userAccountControl", {std::to_string(uac)}});
  } else if (t.name == "group") {
    auto gt = group_type(attr_text(desired, "scope"), attr_text(desired, "category"));
    if (!gt.ok()) return gt.error();
    mods.push_back({Mod::kAdd, "objectClass", {"group"}});
    mods.push_back({Mod::kAdd, "sAMAccountName", {attr_text(desired, "name")}});
    mods.push_back({Mod::kAdd, "groupType", {std::to_string(*gt)}});
  } else {
    return Error::Internal("ldap: no object mapping for type " + t.name);
  }
  put_text(mods, "description", desired, "description");
  return mods;
}

Result<std::vector<Mod>> update_mods(const TypeSpec& t, const AttrMap& desired,
                                     const std::vector<std::string>& changed,
                                     uint32_t current_uac) {
  std::vector<Mod> mods;
  auto replace_text = [&](const char* ldap_name, const std::string& key) {
    std::string v = attr_text(desired, key);
    if (v.empty())
      mods.push_back({Mod::kReplace, ldap_name, {}});
    else
      mods.push_back({Mod::kReplace, ldap_name, {v}});
  };
  if (contains(changed, "description")) replace_text("description", "description");
  if (t.name == "ldap_object" && contains(changed, "class"))
    return Error::Conflict("the objectClass of an existing object cannot be changed",
                           "delete the object (ensure = \"absent\") and create it again");
  if (t.name == "account") {
    if (contains(changed, "display_name")) replace_text("displayName", "display_name");
    if (contains(changed, "upn")) replace_text("userPrincipalName", "upn");
    if (contains(changed, "enabled") || contains(changed, "password_never_expires")) {
      uint32_t uac = account_control(current_uac, attr(desired, "enabled").as_bool(),
                                     attr(desired, "password_never_expires").as_bool());
      mods.push_back({Mod::kReplace, "userAccountControl", {std::to_string(uac)}});
    }
  }
  if (t.name == "group" && (contains(changed, "scope") || contains(changed, "category"))) {
    auto gt = group_type(attr_text(desired, "scope"), attr_text(desired, "category"));
    if (!gt.ok()) return gt.error();
    mods.push_back({Mod::kReplace, "groupType", {std::to_string(*gt)}});
  }
  return mods;
}

bool needs_move(const TypeSpec& t, const std::vector<std::string>& changed) {
  if (t.name == "account") return contains(changed, "path") || contains(changed, "cn");
  if (t.name == "group") return contains(changed, "path");
  return false;
}

// ---- ldap_attribute
// -----------------------------------------------------------------------------------

AttrMap observe_attribute(const Entry& e, const AttrMap& desired) {
  AttrMap o;
  for (const char* k : {"object", "attribute", "copy_from"})
    if (auto it = desired.find(k); it != desired.end()) o[k] = it->second;
  o["value"] = Value::StrList(e.values(lower(attr_text(desired, "attribute"))));
  std::string from = attr_text(desired, "copy_from");
  if (!from.empty()) {
    const auto& src = e.values(lower(from));
    if (!src.empty()) o["source_value"] = Value::StrList(src);
  }
  return o;
}

// ---- ace
// -----------------------------------------------------------------------------------------------

Result<sd::Ace> desired_ace(const AttrMap& desired, const AceTarget& target) {
  auto mask = ad_rights_mask(attr(desired, "rights").strings());
  if (!mask.ok()) return mask.error();
  if (*mask == 0)
    return Error::Invalid("rights must grant something", "write rights = [\"GenericRead\"]");
  std::string applies = attr_text(desired, "applies_to");
  auto flags = sd::inheritance_from_applies_to(applies.empty() ? "this_object" : applies);
  if (!flags.ok()) return flags.error();
  if ((target.sid.str() == "S-1-3-0" || target.sid.str() == "S-1-3-1") &&
      !(*flags & sd::kInheritOnly))
    return Error::Invalid(
        "a CREATOR OWNER / CREATOR GROUP ACE only applies to objects created later",
        "use applies_to = \"descendants_only\" (the directory rewrites any other form)");
  bool deny = iequals(attr_text(desired, "access"), "deny");
  return sd::Ace::make(deny, target.sid, *mask, *flags, target.object_type,
                       target.inherited_object_type);
}

AceMatch find_explicit(const sd::Acl& dacl, const sd::Ace& wanted) {
  AceMatch m;
  for (const auto& a : dacl.aces) {
    if (a.inherited() || !sd::same_identity(a, wanted)) continue;
    ++m.count;
    m.mask |= sd::expand_generic(a.mask);
  }
  return m;
}

AttrMap observe_ace(const AttrMap& desired, const AceMatch& m) {
  AttrMap o;
  for (const char* k :
       {"object", "principal", "access", "object_type", "inherited_object_type", "applies_to"})
    if (auto it = desired.find(k); it != desired.end()) o[k] = it->second;
  std::vector<std::string> names = ad_rights_names(m.mask);
  if (m.count > 1) names.push_back("(" + std::to_string(m.count) + " ACEs)");
  o["rights"] = Value::StrList(names);
  return o;
}

}  // namespace converge::ldap
