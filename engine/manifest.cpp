// Manifest loading: toml++ is used here and nowhere else; its exceptions stop at this file.
#include "engine/manifest.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <unordered_set>

#include "engine/api/ad_rights.h"
#include "engine/values.h"

namespace converge {
namespace {

const std::vector<std::string> kMetaKeys = {"ensure", "depends_on", "provider", "for_each",
                                            "drift"};

// toml++ describes some mistakes by their symptom; say what the writer most likely did.
std::string explain_toml_error(std::string_view text, const toml::parse_error& e) {
  std::string d(e.description());
  size_t line_no = e.source().begin.line;
  std::string line;
  size_t start = 0;
  for (size_t n = 1; n < line_no && start != std::string_view::npos; ++n) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start != std::string_view::npos && start <= text.size()) {
    size_t end = text.find('\n', start);
    line = std::string(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
  }
  if (d.find("parsing string") != std::string::npos &&
      (std::count(line.begin(), line.end(), '"') % 2 == 1 ||
       d.find("control characters") != std::string::npos))
    return "unterminated string (a closing \" is missing)";
  return d;
}

Loc loc_of(const toml::source_region& r, const std::string& file) {
  return Loc{file, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
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

// ---- parsing: large documents in two halves, on two cores ----

// Where a large document can be cut in two without changing what it means: the start of a line
// that is a [TYPE.NAME] table header near the middle. Documents with multi-line strings are never
// cut (a header-like line could be inside one). Returns 0 when there is no safe cut.
size_t split_point(std::string_view text) {
  constexpr size_t kMinSplit = 256 * 1024;
  if (text.size() < kMinSplit || text.find("\"\"\"") != std::string_view::npos ||
      text.find("'''") != std::string_view::npos)
    return 0;
  size_t pos = text.size() / 2;
  while (true) {
    pos = text.find("\n[", pos);
    if (pos == std::string_view::npos) return 0;
    size_t start = pos + 1;
    size_t end = text.find('\n', start);
    std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    // "[word.rest]" and nothing else on the line but an optional comment.
    size_t close = line.find(']');
    bool header = line.size() > 3 && line[1] != '[' && close != std::string_view::npos &&
                  line.substr(1, close - 1).find('.') != std::string_view::npos &&
                  line.substr(1, close - 1).find_first_of("\"'=") == std::string_view::npos;
    if (header) {
      std::string_view rest = line.substr(close + 1);
      size_t nb = rest.find_first_not_of(" \t\r");
      if (nb == std::string_view::npos || rest[nb] == '#') return start;
    }
    pos = start;
  }
}

// Moves the tables of `from` into `into`; a table both define is a redefinition, as TOML says.
std::optional<toml::parse_error> merge_tables(toml::table& into, toml::table& from,
                                              const std::string& prefix) {
  for (auto&& [k, node] : from) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    toml::node* existing = into.get(k.str());
    if (!existing) {
      into.insert(k, std::move(node));
      continue;
    }
    auto* a = existing->as_table();
    auto* b = node.as_table();
    if (a && b && !a->is_inline() && !b->is_inline() && prefix.empty()) {
      if (auto e = merge_tables(*a, *b, name)) return e;
      continue;
    }
    std::string desc =
        "Error while parsing table header: cannot redefine existing table '" + name + "'";
    return toml::parse_error(desc.c_str(), k.source());
  }
  return std::nullopt;
}

// Parses a whole document. Large ones are cut at a table header and the halves parsed at once;
// the second half is padded with the newlines before the cut so line numbers stay true.
toml::table parse_document(std::string_view text, const std::string& path) {
  size_t cut = split_point(text);
  if (cut == 0) return toml::parse(text, path);
  std::string second(
      static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(cut), '\n')),
      '\n');
  second.append(text.substr(cut));
  auto other = std::async(std::launch::async, [&] { return toml::parse(second, path); });
  toml::table first;
  std::optional<toml::parse_error> first_error;
  try {
    first = toml::parse(text.substr(0, cut), path);
  } catch (const toml::parse_error& e) {
    first_error = e;
  }
  toml::table rest = other.get();  // rethrows the second half's error
  if (first_error) throw *first_error;
  if (auto e = merge_tables(first, rest, "")) throw *e;
  return first;
}

// A raw value: the TOML node converted to a Value, with its location.
struct RawAttr {
  Value value;
  Loc loc;
};

class Loader {
 public:
  Loader(std::string path, const std::vector<ProviderKind>& kinds)
      : path_(std::move(path)), kinds_(kinds) {}

  LoadResult run(std::string_view text) {
    LoadResult out;
    Manifest& m = out.manifest;
    m.path = path_;
    auto slash = path_.find_last_of('/');
    m.dir = slash == std::string::npos ? "." : path_.substr(0, slash);
    m.hash = content_hash(text);
    {  // the TOML document is freed before references are resolved
      toml::table root;
      try {
        root = parse_document(text, path_);
      } catch (const toml::parse_error& e) {
        Error err = Error::Invalid("TOML syntax error: " + explain_toml_error(text, e),
                                   "fix the syntax at this position");
        err.loc = loc_of(e.source(), path_);
        out.errors.push_back(std::move(err));
        return out;
      }
      // vars and providers first: resources refer to both.
      vars_ = &m.vars;
      if (auto* vars = root.get("vars")) load_vars(*vars, m);
      if (auto* prov = root.get("provider")) load_providers(*prov, m);
      std::vector<std::string> type_names;
      for (const auto& t : all_types()) type_names.push_back(t.name);
      for (auto&& [k, node] : root) {
        std::string key(k.str());
        if (key == "vars" || key == "provider") continue;
        const TypeSpec* ts = find_type(key);
        if (!ts) {
          std::string near = closest(key, type_names);
          fail(Error::Invalid("unknown resource type '" + key + "'",
                              near.empty() ? "see `converge schema` for the resource types"
                                           : "did you mean '" + near + "'?")
                   .at(loc_of(k.source(), path_)));
          continue;
        }
        auto* tbl = node.as_table();
        if (!tbl) {
          fail(Error::Invalid("'" + key + "' must be a table of resources: [" + key + ".NAME]",
                              "write [" + key + ".my_name] followed by its attributes")
                   .at(loc_of(k.source(), path_)));
          continue;
        }
        for (auto&& [rk, rnode] : *tbl)
          load_resource(*ts, std::string(rk.str()), loc_of(rk.source(), path_), rnode, m);
      }
    }
    resolve_all(m);
    assign_providers(m);
    check_dependencies(m);
    check_duplicates(m);
    out.errors = std::move(errors_);
    return out;
  }

 private:
  void fail(Error e) { errors_.push_back(std::move(e)); }

  // ---- values ----

  std::optional<Value> convert(const toml::node& n, const std::string& what, const std::string& rid,
                               bool allow_table, const AttrSpec* spec = nullptr) {
    if (spec && n.is_floating_point()) {
      fail(Error::Invalid("'" + what + "' must be " + attr_type_name(spec->type) + ", not a float",
                          spec->doc)
               .at(loc_of(n.source(), path_))
               .on(rid));
      return std::nullopt;
    }
    if (auto s = n.value<std::string>()) return Value::Str(*s);
    if (n.is_boolean()) return Value::Bool(*n.value<bool>());
    if (n.is_integer()) return Value::Int(*n.value<int64_t>());
    if (auto* arr = n.as_array()) {
      std::vector<Value> out;
      for (auto& el : *arr) {
        auto v = convert(el, what, rid, false);
        if (!v) return std::nullopt;
        if (v->is_list()) {
          fail(Error::Invalid(what + ": nested arrays are not allowed",
                              "use a flat array of strings")
                   .at(loc_of(el.source(), path_))
                   .on(rid));
          return std::nullopt;
        }
        out.push_back(std::move(*v));
      }
      return Value::List(std::move(out));
    }
    if (auto* tbl = n.as_table(); tbl && allow_table) {
      // The only table value is a secret reference.
      if (tbl->size() == 1) {
        for (auto&& [k, v] : *tbl) {
          auto s = v.value<std::string>();
          if ((k.str() == "env" || k.str() == "file") && s && !s->empty())
            return Value::Str(std::string(k.str()) + ":" + *s);
        }
      }
      fail(Error::Invalid(what + ": a table value must be a secret reference",
                          "write { env = \"VAR\" } or { file = \"path\" }")
               .at(loc_of(n.source(), path_))
               .on(rid));
      return std::nullopt;
    }
    fail(Error::Invalid(what + ": unsupported value (" + toml_type_name(n) + ")",
                        "use a string, integer, boolean or array of strings")
             .at(loc_of(n.source(), path_))
             .on(rid));
    return std::nullopt;
  }

  void load_vars(const toml::node& n, Manifest& m) {
    auto* tbl = n.as_table();
    if (!tbl) {
      fail(Error::Invalid("[vars] must be a table", "write [vars] then NAME = value lines")
               .at(loc_of(n.source(), path_)));
      return;
    }
    for (auto&& [k, v] : *tbl) {
      auto val = convert(v, "vars." + std::string(k.str()), "", false);
      if (val) {
        m.vars[std::string(k.str())] = *val;
        var_locs_[std::string(k.str())] = loc_of(k.source(), path_);
      }
    }
  }

  const ProviderKind* kind(const std::string& type) const {
    for (const auto& k : kinds_)
      if (k.type == type) return &k;
    return nullptr;
  }

  void load_providers(const toml::node& n, Manifest& m) {
    auto* tbl = n.as_table();
    if (!tbl) {
      fail(Error::Invalid("'provider' must be a table of providers: [provider.NAME]",
                          "write [provider.lab] type = \"lab\"")
               .at(loc_of(n.source(), path_)));
      return;
    }
    std::vector<std::string> kind_names;
    for (const auto& k : kinds_) kind_names.push_back(k.type);
    for (auto&& [k, v] : *tbl) {
      ProviderDecl p;
      p.name = std::string(k.str());
      p.loc = loc_of(k.source(), path_);
      std::string where = "provider." + p.name;
      auto* pt = v.as_table();
      if (!pt) {
        fail(Error::Invalid(where + " must be a table", "write [" + where + "] type = \"lab\"")
                 .at(p.loc));
        continue;
      }
      std::map<std::string, Loc> setting_locs;
      for (auto&& [sk, sv] : *pt) {
        auto val = convert(sv, where + "." + std::string(sk.str()), where, true);
        if (val) p.settings[std::string(sk.str())] = *val;
        setting_locs[std::string(sk.str())] = loc_of(sk.source(), path_);
      }
      auto t = p.settings.find("type");
      if (t == p.settings.end() || !t->second.is_string()) {
        fail(Error::Invalid(where + ": missing 'type'", "add type = \"lab\", \"ldap\" or \"dns\"")
                 .at(p.loc));
        continue;
      }
      p.type = t->second.as_string();
      const ProviderKind* pk = kind(p.type);
      if (!pk) {
        std::string near = closest(p.type, kind_names);
        fail(Error::Invalid(
                 where + ": unknown provider type '" + p.type + "'",
                 near.empty() ? "known types: lab, ldap, dns" : "did you mean '" + near + "'?")
                 .at(setting_locs["type"]));
        continue;
      }
      for (const auto& s : pk->secret_settings) {
        auto it = p.settings.find(s);
        if (it != p.settings.end() &&
            !(it->second.is_string() && (it->second.as_string().rfind("env:", 0) == 0 ||
                                         it->second.as_string().rfind("file:", 0) == 0))) {
          fail(Error::Invalid(where + "." + s + ": secrets must not be written in the manifest",
                              "write " + s + " = { env = \"VAR\" } or { file = \"path\" }")
                   .at(setting_locs[s]));
        }
      }
      m.providers.push_back(std::move(p));
    }
  }

  // ---- resources ----

  struct Pending {
    size_t index;
    std::map<std::string, RawAttr> raw;
  };

  void load_resource(const TypeSpec& ts, const std::string& name, Loc loc, const toml::node& node,
                     Manifest& m) {
    std::string base_id = ts.name + "." + name;
    auto* tbl = node.as_table();
    if (!tbl) {
      fail(Error::Invalid("a resource must be a table",
                          "write [" + base_id + "] on its own line, then its attributes")
               .at(loc)
               .on(base_id));
      return;
    }
    if (name.empty() || name.find_first_of("[]${}") != std::string::npos) {
      fail(Error::Invalid("invalid resource name '" + name + "'", "use letters, digits, _ and -")
               .at(loc)
               .on(base_id));
      return;
    }
    std::map<std::string, RawAttr> raw;
    for (auto&& [k, v] : *tbl) {
      std::string key(k.str());
      Loc kl = loc_of(k.source(), path_);
      const AttrSpec* as = ts.attr(key);
      bool meta = std::find(kMetaKeys.begin(), kMetaKeys.end(), key) != kMetaKeys.end();
      if ((!as || as->computed) && !meta) {
        std::vector<std::string> known;
        for (const auto& a : ts.attrs)
          if (!a.computed) known.push_back(a.name);
        for (const auto& mk : kMetaKeys) known.push_back(mk);
        std::string near = closest(key, known);
        if (!near.empty()) suggested_[base_id].insert(near);
        std::string hint = as             ? "'" + key + "' is derived and cannot be set"
                           : near.empty() ? "attributes of " + ts.name + ": " + join(known)
                                          : "did you mean '" + near + "'?";
        fail(Error::Invalid("unknown attribute '" + key + "' for type " + ts.name, hint)
                 .at(kl)
                 .on(base_id));
        continue;
      }
      auto val = convert(v, key, base_id, as && as->type == AttrType::kSecret, as);
      if (!val) continue;
      raw[key] = RawAttr{std::move(*val), kl};
    }
    // for_each
    std::vector<std::string> keys;
    bool expanded = false;
    auto fe = raw.find("for_each");
    if (fe != raw.end()) {
      expanded = true;
      Value v = fe->second.value;
      if (v.is_string()) v = substitute_vars(v, fe->second.loc, base_id, nullptr);
      if (!v.is_list()) {
        fail(Error::Invalid("for_each must be an array of strings (or a ${var.NAME} holding one)",
                            "write for_each = [\"EXCH1\", \"EXCH2\"]")
                 .at(fe->second.loc)
                 .on(base_id));
        return;
      }
      if (v.as_list().empty()) {
        fail(Error::Invalid("for_each is empty", "list at least one element or remove the resource")
                 .at(fe->second.loc)
                 .on(base_id));
        return;
      }
      std::set<std::string> seen;
      for (const auto& el : v.as_list()) {
        if (!(el.is_string() || el.is_int()) || el.text().empty()) {
          fail(Error::Invalid("for_each elements must be non-empty strings", "")
                   .at(fe->second.loc)
                   .on(base_id));
          return;
        }
        if (!seen.insert(el.text()).second) {
          fail(Error::Invalid("for_each has '" + el.text() + "' twice",
                              "each element names one instance; remove the duplicate")
                   .at(fe->second.loc)
                   .on(base_id));
          return;
        }
        keys.push_back(el.text());
      }
      raw.erase(fe);
    } else {
      keys.push_back("");
    }
    for (const auto& key : keys) {
      Resource r;
      r.type = &ts;
      r.name = name;
      r.key = key;
      r.id = expanded ? base_id + "[" + key + "]" : base_id;
      r.loc = loc;
      const std::string* each = expanded ? &key : nullptr;
      // The last instance may take the raw values; earlier ones copy them.
      std::map<std::string, RawAttr> mine = &key == &keys.back() ? std::move(raw) : raw;
      for (auto& [k, ra] : mine) {
        if (!ra.value.is_list() &&
            !(ra.value.is_string() && ra.value.as_string().find("${") != std::string::npos))
          continue;
        size_t before = errors_.size();
        ra.value = substitute_vars(ra.value, ra.loc, r.id, each);
        if (errors_.size() != before) poisoned_.insert(r.id + "\n" + k);
      }
      apply_meta(r, mine);
      for (auto& [k, ra] : mine) {
        r.attrs[k] = std::move(ra.value);
        r.attr_locs.push_back({k, ra.loc.line, ra.loc.column});
      }
      m.groups[base_id].push_back(m.resources.size());
      if (m.index.count(r.id)) {
        fail(Error::Invalid("duplicate resource id", "rename one of them").at(loc).on(r.id));
        continue;
      }
      m.index[r.id] = m.resources.size();
      m.resources.push_back(std::move(r));
    }
  }

  static std::string base_group(const Resource& r) { return r.type->name + "." + r.name; }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  void apply_meta(Resource& r, std::map<std::string, RawAttr>& raw) {
    auto take = [&](const char* k) -> std::optional<RawAttr> {
      auto it = raw.find(k);
      if (it == raw.end()) return std::nullopt;
      RawAttr ra = std::move(it->second);
      raw.erase(it);
      return ra;
    };
    if (auto e = take("ensure")) {
      if (!e->value.is_string() ||
          (e->value.as_string() != "present" && e->value.as_string() != "absent")) {
        fail(Error::Invalid("ensure must be \"present\" or \"absent\"", "").at(e->loc).on(r.id));
      } else {
        r.absent = e->value.as_string() == "absent";
        if (r.absent && r.type->check_only)
          fail(Error::Invalid("a check cannot be absent",
                              "remove ensure = \"absent\" or the resource")
                   .at(e->loc)
                   .on(r.id));
      }
    }
    if (auto d = take("drift")) {
      std::string s = d->value.text();
      if (s == "monitor")
        r.drift = DriftMode::kMonitor;
      else if (s == "correct")
        r.drift = DriftMode::kCorrect;
      else
        fail(Error::Invalid("drift must be \"monitor\" or \"correct\"", "").at(d->loc).on(r.id));
    }
    if (auto p = take("provider")) {
      if (!p->value.is_string())
        fail(Error::Invalid("provider must be a string naming a [provider.NAME] block", "")
                 .at(p->loc)
                 .on(r.id));
      else {
        r.provider = p->value.as_string();
        provider_locs_[r.id] = p->loc;
      }
    }
    if (auto d = take("depends_on")) {
      if (!d->value.is_list()) {
        fail(Error::Invalid("depends_on must be an array of resource ids",
                            "write depends_on = [\"account.trg_ex\"]")
                 .at(d->loc)
                 .on(r.id));
      } else {
        for (const auto& s : d->value.strings()) r.deps.push_back({s, d->loc, "depends_on"});
      }
    }
  }

  // Replace ${var.X} and ${each.value}; leave ${TYPE.NAME.ATTR} for resolve().
  Value substitute_vars(const Value& v, const Loc& loc, const std::string& rid,
                        const std::string* each) {
    if (v.is_list()) {
      std::vector<Value> out;
      for (const auto& el : v.as_list()) {
        Value s = substitute_vars(el, loc, rid, each);
        if (s.is_list()) {
          for (const auto& x : s.as_list()) out.push_back(x);
        } else {
          out.push_back(std::move(s));
        }
      }
      return Value::List(std::move(out));
    }
    if (!v.is_string() || v.as_string().find("${") == std::string::npos) return v;
    const std::string& s = v.as_string();
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      size_t start = s.find("${", i);
      if (start == std::string::npos) {
        out += s.substr(i);
        break;
      }
      out += s.substr(i, start - i);
      size_t end = s.find('}', start);
      if (end == std::string::npos) {
        fail(Error::Invalid("unterminated ${ in '" + s + "'", "close it with }").at(loc).on(rid));
        return v;
      }
      std::string expr = trim(s.substr(start + 2, end - start - 2));
      bool whole = start == 0 && end == s.size() - 1;
      if (expr.rfind("var.", 0) == 0) {
        std::string name = expr.substr(4);
        auto it = vars_->find(name);
        if (it == vars_->end()) {
          std::vector<std::string> names;
          for (const auto& [k, _] : *vars_) names.push_back(k);
          std::string near = closest(name, names);
          fail(Error::Invalid(
                   "unknown variable '" + name + "'",
                   near.empty() ? "declare it under [vars]" : "did you mean 'var." + near + "'?")
                   .at(loc)
                   .on(rid));
          return v;
        }
        if (whole) return it->second;
        out += it->second.text();
      } else if (expr == "each.value" || expr == "each.key") {
        if (!each) {
          fail(Error::Invalid("${" + expr + "} outside a for_each resource",
                              "add for_each = [...] or remove it")
                   .at(loc)
                   .on(rid));
          return v;
        }
        out += *each;
      } else {
        out += s.substr(start, end - start + 1);  // a resource reference, resolved later
      }
      i = end + 1;
    }
    return Value::Str(out);
  }

  // ---- references ----

  enum class State { kNew, kVisiting, kDone };

  // Parses "TYPE.NAME.ATTR" or "TYPE.NAME[KEY].ATTR" into (id, attr).
  static bool parse_ref(const std::string& expr, std::string& id, std::string& attr) {
    auto dot1 = expr.find('.');
    if (dot1 == std::string::npos) return false;
    size_t after_name;
    auto br = expr.find('[', dot1);
    auto dot2 = expr.find('.', dot1 + 1);
    if (br != std::string::npos && (dot2 == std::string::npos || br < dot2)) {
      auto close = expr.find(']', br);
      if (close == std::string::npos) return false;
      after_name = close + 1;
    } else {
      after_name = dot2;
    }
    if (after_name == std::string::npos || after_name >= expr.size() || expr[after_name] != '.')
      return false;
    id = expr.substr(0, after_name);
    attr = expr.substr(after_name + 1);
    return !attr.empty();
  }

  void resolve_all(Manifest& m) {
    state_.assign(m.resources.size(), State::kNew);
    for (size_t i = 0; i < m.resources.size(); ++i) {
      stack_.clear();
      resolve(m, i);
    }
  }

  void resolve(Manifest& m, size_t i) {
    if (state_[i] == State::kDone) return;
    if (state_[i] == State::kVisiting) return;  // reported by the caller
    state_[i] = State::kVisiting;
    Resource& r = m.resources[i];
    for (auto& [k, v] : r.attrs) {
      if (!needs_resolving(v)) continue;
      if (!poisoned_.empty() && poisoned_.count(r.id + "\n" + k)) continue;
      Loc loc = r.loc_of(k);
      size_t before = errors_.size();
      v = resolve_value(m, i, v, loc);
      if (errors_.size() != before) poisoned_.insert(r.id + "\n" + k);
    }
    finish(r);
    state_[i] = State::kDone;
  }

  static bool needs_resolving(const Value& v) {
    if (v.is_string()) return v.as_string().find("${") != std::string::npos;
    if (v.is_list())
      for (const auto& e : v.as_list())
        if (needs_resolving(e)) return true;
    return false;
  }

  Value resolve_value(Manifest& m, size_t i, const Value& v, const Loc& loc) {
    if (v.is_list()) {
      std::vector<Value> out;
      for (const auto& el : v.as_list()) {
        Value x = resolve_value(m, i, el, loc);
        if (x.is_list())
          for (const auto& y : x.as_list()) out.push_back(y);
        else
          out.push_back(std::move(x));
      }
      return Value::List(std::move(out));
    }
    if (!v.is_string() || v.as_string().find("${") == std::string::npos) return v;
    const std::string s = v.as_string();
    std::string out;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t start = s.find("${", pos);
      if (start == std::string::npos) {
        out += s.substr(pos);
        break;
      }
      out += s.substr(pos, start - pos);
      size_t end = s.find('}', start);
      std::string expr = trim(s.substr(start + 2, end - start - 2));
      bool whole = start == 0 && end == s.size() - 1;
      pos = end + 1;
      std::string id, attr;
      const std::string rid = m.resources[i].id;
      if (!parse_ref(expr, id, attr)) {
        fail(Error::Invalid("cannot understand ${" + expr + "}",
                            "write ${var.NAME}, ${each.value} or ${TYPE.NAME.ATTR}")
                 .at(loc)
                 .on(rid));
        return v;
      }
      auto it = m.index.find(id);
      if (it == m.index.end()) {
        std::string hint;
        if (m.groups.count(id)) {
          hint = id + " has for_each: name one instance, e.g. " + m.resources[m.groups[id][0]].id;
        } else {
          std::vector<std::string> ids;
          ids.reserve(m.index.size());
          for (const auto& [k, _] : m.index)
            if (k != rid) ids.push_back(k);
          std::string near = closest(id, ids);
          hint = near.empty() ? "declare it, or fix the name" : "did you mean '" + near + "'?";
        }
        fail(Error::Invalid("reference to unknown resource '" + id + "'", hint).at(loc).on(rid));
        return v;
      }
      size_t j = it->second;
      if (state_[j] == State::kVisiting) {
        // stack_ holds the references followed so far (from resource, where); j is among them.
        size_t from = 0;
        while (from < stack_.size() && stack_[from].first != j) ++from;
        std::string chain = m.resources[j].id;
        for (size_t k = from; k < stack_.size(); ++k) {
          size_t to = k + 1 < stack_.size() ? stack_[k + 1].first : i;
          chain += " -> " + m.resources[to].id + " (" + stack_[k].second.str() +
                   ", explicit ${} reference)";
        }
        chain += " -> " + m.resources[j].id + " (" + loc.str() + ", explicit ${} reference)";
        fail(Error::Invalid("reference cycle: " + chain, "break the cycle of ${...} references")
                 .at(loc)
                 .on(rid));
        return v;
      }
      stack_.emplace_back(i, loc);
      resolve(m, j);
      stack_.pop_back();
      const Resource& target = m.resources[j];
      auto a = target.attrs.find(attr);
      if (!target.type->attr(attr)) {
        std::vector<std::string> names;
        for (const auto& as : target.type->attrs) names.push_back(as.name);
        std::string near = closest(attr, names);
        fail(Error::Invalid("'" + attr + "' is not an attribute of " + target.type->name,
                            near.empty() ? "" : "did you mean '" + near + "'?")
                 .at(loc)
                 .on(rid));
        return v;
      }
      if (target.type->attr(attr)->type == AttrType::kSecret) {
        fail(Error::Invalid("${" + expr + "} refers to a secret",
                            "refer to the secret's source instead")
                 .at(loc)
                 .on(rid));
        return v;
      }
      m.resources[i].deps.push_back({id, loc, "reference"});
      Value tv = a == target.attrs.end() ? Value() : a->second;
      if (whole) return tv;
      out += tv.text();
    }
    return Value::Str(out);
  }

  // Defaults, type checks, allowed values, derived attributes.
  void finish(Resource& r) {
    const TypeSpec& ts = *r.type;
    for (const auto& a : ts.attrs) {
      if (a.computed) continue;
      auto it = r.attrs.find(a.name);
      if (it == r.attrs.end()) {
        if (a.def)
          r.attrs[a.name] = *a.def;
        else if (a.required && !r.absent && !suggested_[base_group(r)].count(a.name))
          fail(Error::Invalid("missing required attribute '" + a.name + "'",
                              "add " + a.name + " = ...: " + a.doc)
                   .at(r.loc)
                   .on(r.id));
        else if (a.required && a.identity)
          fail(Error::Invalid("missing required attribute '" + a.name + "'",
                              "an absent resource still needs the attributes that identify it")
                   .at(r.loc)
                   .on(r.id));
        continue;
      }
      Value& v = it->second;
      if (!poisoned_.empty() && poisoned_.count(r.id + "\n" + a.name)) continue;
      auto at = [&] { return r.loc_of(a.name); };
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
          good = v.is_string() &&
                 (v.as_string().rfind("env:", 0) == 0 || v.as_string().rfind("file:", 0) == 0);
          if (!good) {
            fail(Error::Invalid(
                     "'" + a.name + "' is a secret and must not be written in the manifest",
                     "write " + a.name + " = { env = \"VAR\" } or { file = \"path\" }")
                     .at(at())
                     .on(r.id));
            continue;
          }
          break;
        case AttrType::kScalar:
          good = v.is_string() || v.is_int() || v.is_bool();
          break;
      }
      if (!good) {
        fail(Error::Invalid(
                 "'" + a.name + "' must be " + attr_type_name(a.type) + ", not " + kind_name(v),
                 a.doc)
                 .at(at())
                 .on(r.id));
        continue;
      }
      if (!a.allowed.empty()) {
        for (const auto& s : v.strings()) {
          auto ok = std::find_if(a.allowed.begin(), a.allowed.end(),
                                 [&](const std::string& x) { return iequals(x, s); });
          if (ok == a.allowed.end()) {
            std::string near = closest(s, a.allowed);
            fail(Error::Invalid("'" + a.name + "' = \"" + s + "\" is not allowed",
                                (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                                    "allowed: " + join(a.allowed))
                     .at(at())
                     .on(r.id));
          } else if (v.is_string()) {
            v = Value::Str(*ok);  // the declared spelling
          }
        }
      }
      if (a.type == AttrType::kString && v.is_string() && v.as_string().empty() && a.required)
        fail(Error::Invalid("'" + a.name + "' must not be empty", a.doc).at(at()).on(r.id));
      if (a.compare == Compare::kRights) {
        auto mask = ad_rights_mask(v.strings());
        if (!mask.ok()) fail(Error(mask.error()).at(at()).on(r.id));
      }
    }
    type_rules(r);
    derive_computed(ts, r.attrs);
    r.identity = identity_key(ts, r.attrs);
  }

  // Rules a single declaration cannot express.
  void type_rules(Resource& r) {
    const std::string& t = r.type->name;
    if (t == "ldap_attribute" && !r.absent) {
      bool has_value = r.attrs.count("value"), has_copy = r.attrs.count("copy_from");
      if (has_value == has_copy)
        fail(Error::Invalid("set exactly one of 'value' and 'copy_from'",
                            "value = \"...\" writes a literal; copy_from = \"adminDisplayName\" "
                            "copies another attribute")
                 .at(r.loc)
                 .on(r.id));
    }
    if (t == "exchange_role" && !r.absent) {
      bool server_role = iequals(r.attrs["role"].text(), "server_administrator");
      if (server_role && !r.attrs.count("server"))
        fail(Error::Invalid("server_administrator needs 'server'",
                            "add server = \"EXCH1\" (the server it administers)")
                 .at(r.loc)
                 .on(r.id));
      if (!server_role && r.attrs.count("server"))
        fail(Error::Invalid("'server' applies only to server_administrator",
                            "remove server, or set role = \"server_administrator\"")
                 .at(r.loc_of("server"))
                 .on(r.id));
    }
    if (t == "dns_record" && !r.absent) {
      std::string type = lower(r.attrs["type"].text());
      auto vals = r.attrs["values"].strings();
      if (vals.empty())
        fail(Error::Invalid("'values' must not be empty", "").at(r.loc_of("values")).on(r.id));
      for (const auto& v : vals) {
        auto f = split_ws(v);
        bool ok = !f.empty();
        if (type == "a")
          ok = is_ipv4(v);
        else if (type == "aaaa") {
          in6_addr a6{};
          ok = f.size() == 1 && inet_pton(AF_INET6, f[0].c_str(), &a6) == 1;
        } else if (type == "mx")
          ok = f.size() == 2 && is_uint(f[0], 65535);
        else if (type == "srv")
          ok =
              f.size() == 4 && is_uint(f[0], 65535) && is_uint(f[1], 65535) && is_uint(f[2], 65535);
        else if (type == "cname" || type == "ptr" || type == "ns")
          ok = f.size() == 1;
        if (!ok)
          fail(Error::Invalid("malformed " + r.attrs["type"].text() + " value '" + v + "'",
                              type == "mx"  ? "write \"10 exch1.target.local.\""
                              : type == "a" ? "write an IPv4 address like 192.0.2.10"
                                            : "")
                   .at(r.loc_of("values"))
                   .on(r.id));
      }
      if (r.attrs.count("ttl") &&
          (r.attrs["ttl"].as_int() < 0 || r.attrs["ttl"].as_int() > 2147483647))
        fail(Error::Invalid("ttl out of range", "0 to 2147483647 seconds")
                 .at(r.loc_of("ttl"))
                 .on(r.id));
    }
  }

  static bool is_uint(const std::string& s, long max) {
    if (s.empty() || s.size() > 10) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return std::stol(s) <= max;
  }
  static bool is_ipv4(const std::string& s) {
    int parts = 0;
    std::string cur;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == '.') {
        if (!is_uint(cur, 255) || cur.size() > 3) return false;
        ++parts;
        cur.clear();
      } else {
        cur += s[i];
      }
    }
    return parts == 4;
  }

  static std::string kind_name(const Value& v) {
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

  // ---- providers ----

  void assign_providers(Manifest& m) {
    bool need_implicit_lab = false;
    for (auto& r : m.resources) {
      if (!r.provider.empty()) {
        const ProviderDecl* p = m.provider(r.provider);
        Loc loc = provider_locs_.count(r.id) ? provider_locs_[r.id] : r.loc;
        if (!p) {
          std::vector<std::string> names;
          for (const auto& d : m.providers) names.push_back(d.name);
          std::string near = closest(r.provider, names);
          fail(Error::Invalid("provider '" + r.provider + "' is not declared",
                              near.empty() ? "add a [provider." + r.provider + "] block"
                                           : "did you mean '" + near + "'?")
                   .at(loc)
                   .on(r.id));
          continue;
        }
        const ProviderKind* k = kind(p->type);
        if (k && std::find(k->serves.begin(), k->serves.end(), r.type->name) == k->serves.end())
          fail(Error::Invalid(
                   "provider '" + r.provider + "' (" + p->type + ") does not serve " + r.type->name,
                   "pick a provider that serves it, or remove provider = ...")
                   .at(loc)
                   .on(r.id));
        continue;
      }
      std::vector<const ProviderDecl*> serving;
      for (const auto& p : m.providers) {
        const ProviderKind* k = kind(p.type);
        if (k && std::find(k->serves.begin(), k->serves.end(), r.type->name) != k->serves.end())
          serving.push_back(&p);
      }
      if (serving.size() == 1) {
        r.provider = serving[0]->name;
      } else if (serving.empty()) {
        // The embedded lab serves every type; it is implicit unless another lab is declared.
        r.provider = "lab";
        need_implicit_lab = true;
      } else {
        fail(Error::Invalid(
                 "more than one provider serves " + r.type->name,
                 "add provider = \"" + serving[0]->name + "\" (or another) to the resource")
                 .at(r.loc)
                 .on(r.id));
      }
    }
    if (need_implicit_lab && !m.provider("lab")) {
      ProviderDecl lab;
      lab.name = "lab";
      lab.type = "lab";
      lab.settings["type"] = Value::Str("lab");
      lab.loc = Loc{path_, 0, 0};
      m.providers.push_back(std::move(lab));
    } else if (need_implicit_lab && m.provider("lab")->type != "lab") {
      fail(Error::Invalid("resources that no declared provider serves go to the embedded lab, but "
                          "'provider.lab' is not a lab",
                          "rename that provider block")
               .at(m.provider("lab")->loc));
    }
  }

  void check_dependencies(Manifest& m) {
    std::vector<std::string> ids;
    for (auto& r : m.resources) {
      for (const auto& d : r.deps) {
        if (d.kind != "depends_on") continue;
        if (m.index.count(d.target) || m.groups.count(d.target)) continue;
        if (ids.empty())
          for (const auto& [k, _] : m.index) ids.push_back(k);
        std::string near = closest(d.target, ids);
        fail(Error::Invalid("depends_on names unknown resource '" + d.target + "'",
                            near.empty() ? "write TYPE.NAME of a declared resource"
                                         : "did you mean '" + near + "'?")
                 .at(d.loc)
                 .on(r.id));
      }
    }
  }

  // Two resources that manage the same object would fight each other.
  void check_duplicates(Manifest& m) {
    std::unordered_map<std::string, const Resource*> seen;
    for (const auto& r : m.resources) {
      if (std::none_of(r.type->attrs.begin(), r.type->attrs.end(),
                       [](const AttrSpec& a) { return a.identity; }))
        continue;
      std::string key = r.type->name + "|" + r.provider + "|" + r.identity;
      auto [it, inserted] = seen.emplace(key, &r);
      if (!inserted)
        fail(Error::Invalid("manages the same " + r.type->name + " as " + it->second->id + " (" +
                                it->second->loc.str() + ")",
                            "declare each object once")
                 .at(r.loc)
                 .on(r.id));
    }
  }

  std::string path_;
  const std::vector<ProviderKind>& kinds_;
  std::vector<Error> errors_;
  const std::map<std::string, Value>* vars_ = nullptr;
  std::map<std::string, Loc> var_locs_;
  std::map<std::string, Loc> provider_locs_;
  std::vector<State> state_;
  std::vector<std::pair<size_t, Loc>> stack_;  // resources being resolved, with the ref that led on
  std::unordered_set<std::string> poisoned_;   // "id\nattr" whose value already failed
  std::map<std::string, std::set<std::string>> suggested_;  // TYPE.NAME -> attribute names hinted
};

}  // namespace

std::string content_hash(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

LoadResult load_manifest_string(std::string_view text, const std::string& path,
                                const std::vector<ProviderKind>& kinds) {
  return Loader(path, kinds).run(text);
}

LoadResult load_manifest_file(const std::string& path, const std::vector<ProviderKind>& kinds) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult out;
    out.manifest.path = path;
    out.errors.push_back(
        Error::Io("cannot read manifest '" + path + "'", "check the path").at(Loc{path, 0, 0}));
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_manifest_string(ss.str(), path, kinds);
}

}  // namespace converge
