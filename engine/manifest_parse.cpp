// TOML text -> vars, providers and raw resources. toml++ is used here and nowhere else; its
// exceptions stop in this file. The document is parsed whole, once: TOML's rules (a table is
// defined once, keys are unique) hold across the entire text only when it is read as one.
#include <toml++/toml.h>

#include <algorithm>

#include "engine/manifest_load.h"
#include "engine/secrets.h"
#include "engine/values.h"

namespace converge::manifest_load {
namespace {

// toml++ describes some mistakes by their symptom; say what the writer most likely did.
std::string explain_toml_error(std::string_view text, const toml::parse_error& e) {
  std::string d(e.description());
  size_t line_no = e.source().begin.line;
  size_t start = 0;
  for (size_t n = 1; n < line_no && start != std::string_view::npos; ++n) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  std::string_view line;
  if (start != std::string_view::npos && start <= text.size()) {
    size_t end = text.find('\n', start);
    line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  }
  if (d.find("parsing string") != std::string::npos &&
      (std::count(line.begin(), line.end(), '"') % 2 == 1 ||
       d.find("control characters") != std::string::npos))
    return "unterminated string (a closing \" is missing)";
  return d;
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

bool is_meta(std::string_view key) {
  return std::find(kMetaKeys.begin(), kMetaKeys.end(), key) != kMetaKeys.end();
}

const AttrSpec* find_attr(const TypeSpec& ts, std::string_view name) {
  for (const auto& a : ts.attrs)
    if (a.name == name) return &a;
  return nullptr;
}

class Parser {
 public:
  Parser(Manifest& m, LoadContext& cx) : m_(m), cx_(cx) {}

  std::vector<RawResource> run(const toml::table& doc) {
    // vars and providers first: resources refer to both.
    if (auto* vars = doc.get("vars")) load_vars(*vars);
    if (auto* prov = doc.get("provider")) load_providers(*prov);
    std::vector<std::string> type_names;
    for (const auto& t : all_types()) type_names.push_back(t.name);
    std::vector<RawResource> out;
    for (auto&& [k, node] : doc) {
      std::string key(k.str());
      if (key == "vars" || key == "provider") continue;
      const TypeSpec* ts = find_type(key);
      if (!ts) {
        std::string near = closest(key, type_names);
        cx_.fail(Error::Invalid("unknown resource type '" + key + "'",
                                near.empty() ? "see `converge schema` for the resource types"
                                             : "did you mean '" + near + "'?")
                     .at(loc(k.source())));
        continue;
      }
      auto* tbl = node.as_table();
      if (!tbl) {
        cx_.fail(Error::Invalid("'" + key + "' must be a table of resources: [" + key + ".NAME]",
                                "write [" + key + ".my_name] followed by its attributes")
                     .at(loc(k.source())));
        continue;
      }
      for (auto&& [rk, rnode] : *tbl)
        if (auto r = load_resource(*ts, std::string(rk.str()), loc(rk.source()), rnode))
          out.push_back(std::move(*r));
    }
    return out;
  }

 private:
  Loc loc(const toml::source_region& r) const {
    return Loc{cx_.path, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }

  // The TOML node as a Value; nullopt (with the error reported) when it cannot be one. Only
  // `allow_table` values may be tables: secret references { env = "VAR" } / { file = "path" }.
  std::optional<Value> convert(const toml::node& n, const std::string& what, const std::string& rid,
                               bool allow_table, const AttrSpec* spec = nullptr) {
    if (auto s = n.as_string()) return Value::Str(s->get());
    if (auto i = n.as_integer()) return Value::Int(i->get());
    if (auto b = n.as_boolean()) return Value::Bool(b->get());
    if (auto arr = n.as_array()) {
      std::vector<Value> list;
      list.reserve(arr->size());
      for (const auto& el : *arr) {
        auto v = convert(el, what, rid, false);
        if (!v) return std::nullopt;
        if (v->is_list()) {
          cx_.fail(Error::Invalid(what + ": nested arrays are not allowed",
                                  "use a flat array of strings")
                       .at(loc(el.source()))
                       .on(rid));
          return std::nullopt;
        }
        list.push_back(std::move(*v));
      }
      return Value::List(std::move(list));
    }
    if (spec && n.is_floating_point()) {
      cx_.fail(
          Error::Invalid("'" + what + "' must be " + attr_type_name(spec->type) + ", not a float",
                         spec->doc)
              .at(loc(n.source()))
              .on(rid));
      return std::nullopt;
    }
    if (auto* tbl = n.as_table(); tbl && allow_table) {
      if (tbl->size() == 1) {
        for (auto&& [k, v] : *tbl) {
          auto s = v.value<std::string>();
          if ((k.str() == "env" || k.str() == "file") && s && !s->empty())
            return Value::Str(std::string(k.str()) + ":" + *s);
        }
      }
      cx_.fail(Error::Invalid(what + ": a table value must be a secret reference",
                              "write { env = \"VAR\" } or { file = \"path\" }")
                   .at(loc(n.source()))
                   .on(rid));
      return std::nullopt;
    }
    cx_.fail(Error::Invalid(what + ": unsupported value (" + toml_type_name(n) + ")",
                            "use a string, integer, boolean or array of strings")
                 .at(loc(n.source()))
                 .on(rid));
    return std::nullopt;
  }

  void load_vars(const toml::node& n) {
    auto* tbl = n.as_table();
    if (!tbl) {
      cx_.fail(Error::Invalid("[vars] must be a table", "write [vars] then NAME = value lines")
                   .at(loc(n.source())));
      return;
    }
    for (auto&& [k, v] : *tbl) {
      std::string name(k.str());
      if (auto val = convert(v, "vars." + name, "", false)) m_.vars[name] = std::move(*val);
    }
  }

  void load_providers(const toml::node& n) {
    auto* tbl = n.as_table();
    if (!tbl) {
      cx_.fail(Error::Invalid("'provider' must be a table of providers: [provider.NAME]",
                              "write [provider.lab] type = \"lab\"")
                   .at(loc(n.source())));
      return;
    }
    std::vector<std::string> kind_names;
    for (const auto& k : cx_.kinds) kind_names.push_back(k.type);
    for (auto&& [k, v] : *tbl) {
      ProviderDecl p;
      p.name = std::string(k.str());
      p.loc = loc(k.source());
      std::string where = "provider." + p.name;
      auto* pt = v.as_table();
      if (!pt) {
        cx_.fail(Error::Invalid(where + " must be a table", "write [" + where + "] type = \"lab\"")
                     .at(p.loc));
        continue;
      }
      std::map<std::string, Loc> setting_locs;
      for (auto&& [sk, sv] : *pt) {
        std::string setting(sk.str());
        if (auto val = convert(sv, where + "." + setting, where, true))
          p.settings[setting] = std::move(*val);
        setting_locs[setting] = loc(sk.source());
      }
      auto t = p.settings.find("type");
      if (t == p.settings.end() || !t->second.is_string()) {
        cx_.fail(
            Error::Invalid(where + ": missing 'type'", "add type = \"lab\", \"ldap\" or \"dns\"")
                .at(p.loc));
        continue;
      }
      p.type = t->second.as_string();
      const ProviderKind* pk = cx_.kind(p.type);
      if (!pk) {
        std::string near = closest(p.type, kind_names);
        cx_.fail(Error::Invalid(where + ": unknown provider type '" + p.type + "'",
                                near.empty() ? "known types: " + join(kind_names)
                                             : "did you mean '" + near + "'?")
                     .at(setting_locs["type"]));
        continue;
      }
      check_references(p, *pk, where, setting_locs);
      m_.providers.push_back(std::move(p));
    }
  }

  // Secret settings must be references. A { file } reference anywhere else is refused: the
  // provider would take the file's contents as, say, a URL and could echo them in a message.
  // { env } stays allowed in any setting (configuration from the environment, as the shipped
  // manifests do for url, bind_dn, server); the engine redacts every resolved value from the
  // errors of opening a provider (engine/cli/session.cpp).
  void check_references(const ProviderDecl& p, const ProviderKind& pk, const std::string& where,
                        std::map<std::string, Loc>& setting_locs) {
    auto secret = [&](const std::string& k) {
      return std::find(pk.secret_settings.begin(), pk.secret_settings.end(), k) !=
             pk.secret_settings.end();
    };
    for (const auto& [k, v] : p.settings) {
      bool ref = v.is_string() && is_secret_reference(v.as_string());
      if (secret(k) && !ref)
        cx_.fail(Error::Invalid(where + "." + k + ": secrets must not be written in the manifest",
                                "write " + k + " = { env = \"VAR\" } or { file = \"path\" }")
                     .at(setting_locs[k]));
      if (!secret(k) && ref && v.as_string().rfind("file:", 0) == 0)
        cx_.fail(Error::Invalid(where + "." + k +
                                    ": { file } references are only for secret "
                                    "settings" +
                                    (pk.secret_settings.empty()
                                         ? std::string(" (a " + pk.type + " provider has none)")
                                         : " (" + join(pk.secret_settings) + ")"),
                                "write the value itself, or { env = \"VAR\" }")
                     .at(setting_locs[k]));
    }
  }

  std::optional<RawResource> load_resource(const TypeSpec& ts, std::string name, Loc at,
                                           const toml::node& node) {
    std::string base_id = ts.name + "." + name;
    auto* tbl = node.as_table();
    if (!tbl) {
      cx_.fail(Error::Invalid("a resource must be a table",
                              "write [" + base_id + "] on its own line, then its attributes")
                   .at(at)
                   .on(base_id));
      return std::nullopt;
    }
    if (name.empty() || name.find_first_of("[]${}") != std::string::npos) {
      cx_.fail(
          Error::Invalid("invalid resource name '" + name + "'", "use letters, digits, _ and -")
              .at(at)
              .on(base_id));
      return std::nullopt;
    }
    RawResource r;
    r.type = &ts;
    r.name = std::move(name);
    r.loc = std::move(at);
    for (auto&& [k, v] : *tbl) {
      std::string key(k.str());
      const AttrSpec* as = find_attr(ts, key);
      bool meta = is_meta(key);
      Loc kl = loc(k.source());
      if ((!as || as->computed) && !meta) {
        unknown_attribute(ts, key, base_id, kl, as != nullptr);
        continue;
      }
      auto val = convert(v, key, base_id, as && as->type == AttrType::kSecret, as);
      if (!val) continue;
      if (meta) {
        r.meta.push_back(MetaKey{std::move(key), std::move(*val), std::move(kl)});
      } else {
        r.attr_locs.push_back({key, kl.line, kl.column});
        r.attrs.emplace_hint(r.attrs.end(), std::move(key), std::move(*val));
      }
    }
    return r;
  }

  void unknown_attribute(const TypeSpec& ts, const std::string& key, const std::string& base_id,
                         const Loc& at, bool derived) {
    std::vector<std::string> known;
    for (const auto& a : ts.attrs)
      if (!a.computed) known.push_back(a.name);
    known.insert(known.end(), kMetaKeys.begin(), kMetaKeys.end());
    std::string near = closest(key, known);
    if (!near.empty()) cx_.suggested[base_id].insert(near);
    std::string hint = derived        ? "'" + key + "' is derived and cannot be set"
                       : near.empty() ? "attributes of " + ts.name + ": " + join(known)
                                      : "did you mean '" + near + "'?";
    cx_.fail(Error::Invalid("unknown attribute '" + key + "' for type " + ts.name, hint)
                 .at(at)
                 .on(base_id));
  }

  Manifest& m_;
  LoadContext& cx_;
};

}  // namespace

std::optional<std::vector<RawResource>> parse_manifest(std::string_view text, Manifest& m,
                                                       LoadContext& cx) {
  toml::table doc;
  try {
    doc = toml::parse(text, cx.path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    cx.fail(Error::Invalid("TOML syntax error: " + explain_toml_error(text, e),
                           "fix the syntax at this position")
                .at(Loc{cx.path, static_cast<int>(at.line), static_cast<int>(at.column)}));
    return std::nullopt;
  }
  return Parser(m, cx).run(doc);
}

}  // namespace converge::manifest_load
