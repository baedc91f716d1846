// Checks: each resource against its type declaration (defaults, value types, allowed values, the
// per-type rules a declaration cannot express), then what needs every resource (provider
// assignment, depends_on targets, two resources managing one object).
#include <arpa/inet.h>

#include <algorithm>
#include <unordered_map>

#include "engine/api/ad_rights.h"
#include "engine/manifest_load.h"
#include "engine/values.h"

namespace converge::manifest_load {

std::string attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::kString:
      return "a string";
    case AttrType::kInt:
      return "an integer";
    case AttrType::kBool:
      return "a boolean (true/false)";
    case AttrType::kList:
      return "an array of strings (or one string)";
    case AttrType::kSecret:
      return "a secret reference { env = \"VAR\" } or { file = \"path\" }";
    case AttrType::kScalar:
      return "a string, integer or boolean";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

namespace {

std::string kind_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kString:
      return "a string";
    case Value::Kind::kInt:
      return "an integer";
    case Value::Kind::kBool:
      return "a boolean";
    case Value::Kind::kList:
      return "an array";
    default:
      return "nothing";
  }
}

bool is_secret_ref(const Value& v) {
  return v.is_string() &&
         (v.as_string().rfind("env:", 0) == 0 || v.as_string().rfind("file:", 0) == 0);
}

const Value& attr_or_null(const Resource& r, const std::string& name) {
  static const Value kNull;
  auto it = r.attrs.find(name);
  return it == r.attrs.end() ? kNull : it->second;
}

bool is_uint(std::string_view s, long max) {
  if (s.empty() || s.size() > 10) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return v <= max;
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      std::string_view cur = s.substr(start, i - start);
      if (!is_uint(cur, 255) || cur.size() > 3) return false;
      ++parts;
      start = i + 1;
    }
  }
  return parts == 4;
}

// The value's type is the declared one (a single string becomes a list for list attributes).
// False, with the error reported, when it is not.
bool check_type(Resource& r, const AttrSpec& a, Value& v, LoadContext& cx) {
  bool good = true;
  switch (a.type) {
    case AttrType::kString:
      good = v.is_string();
      break;
    case AttrType::kInt:
      good = v.is_int();
      break;
    case AttrType::kBool:
      good = v.is_bool();
      break;
    case AttrType::kList:
      if (v.is_string()) v = Value::List({v});
      good = v.is_list() && std::all_of(v.as_list().begin(), v.as_list().end(),
                                        [](const Value& e) { return e.is_string(); });
      break;
    case AttrType::kSecret:
      if (!is_secret_ref(v)) {
        cx.fail(
            Error::Invalid("'" + a.name + "' is a secret and must not be written in the manifest",
                           "write " + a.name + " = { env = \"VAR\" } or { file = \"path\" }")
                .at(r.loc_of(a.name))
                .on(r.id));
        return false;
      }
      break;
    case AttrType::kScalar:
      good = v.is_string() || v.is_int() || v.is_bool();
      break;
  }
  if (!good)
    cx.fail(
        Error::Invalid(
            "'" + a.name + "' must be " + attr_type_name(a.type) + ", not " + kind_name(v), a.doc)
            .at(r.loc_of(a.name))
            .on(r.id));
  return good;
}

// Each value is one of the allowed ones (any case); a single one takes the declared spelling.
void check_allowed(Resource& r, const AttrSpec& a, Value& v, LoadContext& cx) {
  auto allowed = [&](const std::string& s) -> const std::string* {
    auto ok = std::find_if(a.allowed.begin(), a.allowed.end(),
                           [&](const std::string& x) { return iequals(x, s); });
    if (ok != a.allowed.end()) return &*ok;
    std::string near = closest(s, a.allowed);
    cx.fail(Error::Invalid("'" + a.name + "' = \"" + s + "\" is not allowed",
                           (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                               "allowed: " + join(a.allowed))
                .at(r.loc_of(a.name))
                .on(r.id));
    return nullptr;
  };
  if (v.is_string()) {
    if (const std::string* ok = allowed(v.as_string()); ok && *ok != v.as_string())
      v = Value::Str(*ok);
  } else {
    for (const auto& s : v.strings()) allowed(s);
  }
}

// What is wrong with `name` as a DNS name, "" when nothing. Names are pasted into presentation-
// format lines and UPDATE messages, so only what a DNS name can hold gets through: labels of 1-63
// letters, digits, '-' and '_', at most 253 octets (one trailing dot for an absolute name); an
// owner may be "@" (the apex) and start with a "*" label.
std::string dns_name_problem(std::string_view name, bool owner) {
  if (owner && name == "@") return "";
  if (name == ".") return "";
  std::string_view n = name;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  if (n.empty()) return "is empty";
  if (n.size() > 253) return "is longer than 253 octets";
  size_t start = 0;
  for (size_t label = 0;; ++label) {
    size_t end = n.find('.', start);
    std::string_view l = n.substr(start, end == std::string_view::npos ? n.npos : end - start);
    if (l.empty()) return "has an empty label (two dots in a row)";
    if (l.size() > 63) return "has a label longer than 63 octets";
    bool wildcard = owner && label == 0 && l == "*";
    for (char c : l) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
      if (!ok && !wildcard) {
        auto u = static_cast<unsigned char>(c);
        if (u <= ' ' || u == 0x7f) return "holds whitespace or a control character";
        return std::string("holds '") + c + "' (labels are letters, digits, '-' and '_')";
      }
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return "";
}

// dns_record: owner and zone are DNS names (absent records too: a delete names them as well).
void check_dns_names(const Resource& r, LoadContext& cx) {
  for (const char* attr : {"zone", "name"}) {
    std::string what = attr_or_null(r, attr).text();
    bool owner = std::string_view(attr) == "name";
    if (cx.is_poisoned(r.id, attr) || what.empty()) continue;  // missing/empty: said already
    if (std::string why = dns_name_problem(what, owner); !why.empty())
      cx.fail(Error::Invalid(std::string("'") + attr + "' is not a DNS name: it " + why,
                             owner
                                 ? "write a name relative to the zone (\"exch1\", \"_ldap._tcp\", "
                                   "\"*\"), \"@\" for the apex, or an absolute name ending in '.'"
                                 : "write the zone's name, e.g. \"target.local.\"")
                  .at(r.loc_of(attr))
                  .on(r.id));
    else if (owner && what.back() != '.' && what != "@" &&
             absolute_dns_name(what, attr_or_null(r, "zone").text()).size() > 254)
      cx.fail(Error::Invalid("'name' is not a DNS name: with its zone it is longer than 253 octets",
                             "shorten the name")
                  .at(r.loc_of(attr))
                  .on(r.id));
  }
}

// dns_record: values well-formed for the record type, a TTL in range.
void check_dns_record(const Resource& r, LoadContext& cx) {
  std::string type = attr_or_null(r, "type").text();
  const Value& values = attr_or_null(r, "values");
  if (values.strings().empty())
    cx.fail(Error::Invalid("'values' must not be empty", "").at(r.loc_of("values")).on(r.id));
  for (const auto& v : values.strings()) {
    std::vector<std::string> f = split_ws(v);
    bool ok = !f.empty();
    if (iequals(type, "a")) {
      ok = is_ipv4(v);  // an address is checked whole
    } else if (iequals(type, "aaaa")) {
      in6_addr a6{};
      ok = f.size() == 1 && inet_pton(AF_INET6, f[0].c_str(), &a6) == 1;
    } else if (iequals(type, "mx")) {
      ok = f.size() == 2 && is_uint(f[0], 65535);
    } else if (iequals(type, "srv")) {
      ok = f.size() == 4 && is_uint(f[0], 65535) && is_uint(f[1], 65535) && is_uint(f[2], 65535);
    } else if (iequals(type, "cname") || iequals(type, "ptr") || iequals(type, "ns")) {
      ok = f.size() == 1;
    }
    if (!ok)
      cx.fail(Error::Invalid("malformed " + type + " value '" + v + "'",
                             iequals(type, "mx")  ? "write \"10 exch1.target.local.\""
                             : iequals(type, "a") ? "write an IPv4 address like 192.0.2.10"
                                                  : "")
                  .at(r.loc_of("values"))
                  .on(r.id));
  }
  const Value& ttl = attr_or_null(r, "ttl");
  if (ttl.is_int() && (ttl.as_int() < 0 || ttl.as_int() > 2147483647))
    cx.fail(
        Error::Invalid("ttl out of range", "0 to 2147483647 seconds").at(r.loc_of("ttl")).on(r.id));
}

// exchange_role: `server` goes with server_administrator and only with it.
void check_exchange_role(const Resource& r, LoadContext& cx) {
  bool server_role = iequals(attr_or_null(r, "role").text(), "server_administrator");
  bool has_server = r.attrs.count("server");
  if (server_role && !has_server)
    cx.fail(Error::Invalid("server_administrator needs 'server'",
                           "add server = \"EXCH1\" (the server it administers)")
                .at(r.loc)
                .on(r.id));
  if (!server_role && has_server)
    cx.fail(Error::Invalid("'server' applies only to server_administrator",
                           "remove server, or set role = \"server_administrator\"")
                .at(r.loc_of("server"))
                .on(r.id));
}

// Rules across attributes: a copy rule's two ways of giving the value, then what only a type's
// own check can say.
void check_type_rules(const Resource& r, LoadContext& cx) {
  const TypeSpec& t = *r.type;
  if (t.name == "dns_record") check_dns_names(r, cx);
  if (t.name == "dns_zone" && !cx.is_poisoned(r.id, "name") &&
      !attr_or_null(r, "name").text().empty())
    if (std::string why = dns_name_problem(attr_or_null(r, "name").text(), false); !why.empty())
      cx.fail(Error::Invalid("'name' is not a DNS name: it " + why,
                             "write the zone's name, e.g. \"target.local.\"")
                  .at(r.loc_of("name"))
                  .on(r.id));
  if (r.absent) return;
  if (const auto& c = t.copy; c && r.attrs.count(c->into) == r.attrs.count(c->attr)) {
    const AttrSpec* from = t.attr(c->attr);
    cx.fail(Error::Invalid("set exactly one of '" + c->into + "' and '" + c->attr + "'",
                           c->into + " = \"...\" writes a literal; " + c->attr +
                               " = \"...\": " + (from ? from->doc : ""))
                .at(r.loc)
                .on(r.id));
  }
  if (t.name == "exchange_role") check_exchange_role(r, cx);
  if (t.name == "dns_record") check_dns_record(r, cx);
}

bool suggested(const Resource& r, const std::string& attr, const LoadContext& cx) {
  auto it = cx.suggested.find(r.type->name + "." + r.name);
  return it != cx.suggested.end() && it->second.count(attr);
}

// ---- what needs every resource ----

bool serves(const ProviderKind* k, const std::string& type) {
  return k && std::find(k->serves.begin(), k->serves.end(), type) != k->serves.end();
}

void assign_providers(Manifest& m, LoadContext& cx) {
  bool need_implicit_lab = false;
  for (auto& r : m.resources) {
    if (!r.provider.empty()) {
      const ProviderDecl* p = m.provider(r.provider);
      auto pl = cx.provider_locs.find(r.id);
      Loc loc = pl == cx.provider_locs.end() ? r.loc : pl->second;
      if (!p) {
        std::vector<std::string> names;
        for (const auto& d : m.providers) names.push_back(d.name);
        std::string near = closest(r.provider, names);
        cx.fail(Error::Invalid("provider '" + r.provider + "' is not declared",
                               near.empty() ? "add a [provider." + r.provider + "] block"
                                            : "did you mean '" + near + "'?")
                    .at(loc)
                    .on(r.id));
      } else if (const ProviderKind* k = cx.kind(p->type); k && !serves(k, r.type->name)) {
        cx.fail(Error::Invalid("provider '" + r.provider + "' (" + p->type + ") does not serve " +
                                   r.type->name,
                               "pick a provider that serves it, or remove provider = ...")
                    .at(loc)
                    .on(r.id));
      }
      continue;
    }
    std::vector<const ProviderDecl*> serving;
    for (const auto& p : m.providers)
      if (serves(cx.kind(p.type), r.type->name)) serving.push_back(&p);
    if (serving.size() == 1) {
      r.provider = serving[0]->name;
    } else if (serving.empty()) {
      // The embedded lab serves every type; it is implicit unless another lab is declared.
      r.provider = "lab";
      need_implicit_lab = true;
    } else {
      cx.fail(
          Error::Invalid("more than one provider serves " + r.type->name,
                         "add provider = \"" + serving[0]->name + "\" (or another) to the resource")
              .at(r.loc)
              .on(r.id));
    }
  }
  if (!need_implicit_lab) return;
  if (const ProviderDecl* lab = m.provider("lab")) {
    if (lab->type != "lab")
      cx.fail(Error::Invalid("resources that no declared provider serves go to the embedded lab, "
                             "but 'provider.lab' is not a lab",
                             "rename that provider block")
                  .at(lab->loc));
    return;
  }
  ProviderDecl lab;
  lab.name = "lab";
  lab.type = "lab";
  lab.settings["type"] = Value::Str("lab");
  lab.loc = Loc{cx.path, 0, 0};
  m.providers.push_back(std::move(lab));
}

void check_dependencies(const Manifest& m, LoadContext& cx) {
  std::vector<std::string> ids;
  for (const auto& r : m.resources) {
    for (const auto& d : r.deps) {
      if (d.kind != "depends_on" || m.index.count(d.target) || m.groups.count(d.target)) continue;
      if (ids.empty())
        for (const auto& [k, _] : m.index) ids.push_back(k);
      std::string near = closest(d.target, ids);
      cx.fail(Error::Invalid("depends_on names unknown resource '" + d.target + "'",
                             near.empty() ? "write TYPE.NAME of a declared resource"
                                          : "did you mean '" + near + "'?")
                  .at(d.loc)
                  .on(r.id));
    }
  }
}

// Two resources that manage the same object would fight each other.
void check_duplicates(const Manifest& m, LoadContext& cx) {
  std::unordered_map<std::string, const Resource*> first;
  first.reserve(m.resources.size());
  for (const auto& r : m.resources) {
    const auto& attrs = r.type->attrs;
    if (std::none_of(attrs.begin(), attrs.end(), [](const AttrSpec& a) { return a.identity; }))
      continue;
    auto [it, added] = first.try_emplace(r.type->name + "|" + r.provider + "|" + r.identity, &r);
    if (!added)
      cx.fail(Error::Invalid("manages the same " + r.type->name + " as " + it->second->id + " (" +
                                 it->second->loc.str() + ")",
                             "declare each object once")
                  .at(r.loc)
                  .on(r.id));
  }
}

}  // namespace

void finish_resource(Resource& r, LoadContext& cx) {
  const TypeSpec& ts = *r.type;
  for (const auto& a : ts.attrs) {
    if (a.computed) continue;
    auto it = r.attrs.find(a.name);
    if (it == r.attrs.end()) {
      if (a.def)
        r.attrs.emplace(a.name, *a.def);
      else if (a.required && !r.absent && !suggested(r, a.name, cx))
        cx.fail(Error::Invalid("missing required attribute '" + a.name + "'",
                               "add " + a.name + " = ...: " + a.doc)
                    .at(r.loc)
                    .on(r.id));
      else if (a.required && a.identity)
        cx.fail(Error::Invalid("missing required attribute '" + a.name + "'",
                               "an absent resource still needs the attributes that identify it")
                    .at(r.loc)
                    .on(r.id));
      continue;
    }
    Value& v = it->second;
    if (cx.is_poisoned(r.id, a.name) || !check_type(r, a, v, cx)) continue;
    if (!a.allowed.empty()) check_allowed(r, a, v, cx);
    if (a.type == AttrType::kString && a.required && v.as_string().empty())
      cx.fail(Error::Invalid("'" + a.name + "' must not be empty", a.doc)
                  .at(r.loc_of(a.name))
                  .on(r.id));
    if (a.compare == Compare::kRights) {
      auto mask = ad_rights_mask(v.strings());
      if (!mask.ok()) cx.fail(Error(mask.error()).at(r.loc_of(a.name)).on(r.id));
    }
  }
  check_type_rules(r, cx);
  derive_computed(ts, r.attrs);
  r.identity = identity_key(ts, r.attrs);
}

void check_manifest(Manifest& m, LoadContext& cx) {
  assign_providers(m, cx);
  check_dependencies(m, cx);
  check_duplicates(m, cx);
}

}  // namespace converge::manifest_load
