// Manifest loading: toml++ is used here and nowhere else; its exceptions stop at this file.
#include "engine/manifest.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string_view>
#include <system_error>
#include <thread>
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

// A parsed document: one table, or two when a large document was parsed in two halves. The
// halves are read together in key order (each_merged) exactly as if the second had been merged
// into the first, without moving a node.
struct Document {
  toml::table first, second;
  bool split = false;
};

// Where merging `from` into `into` fails: a table both define is a redefinition, as TOML says.
std::optional<toml::parse_error> check_halves(const toml::table& into, const toml::table& from,
                                              const std::string& prefix) {
  auto ia = into.begin();
  for (auto&& [k, node] : from) {
    while (ia != into.end() && ia->first.str() < k.str()) ++ia;
    if (ia == into.end() || ia->first.str() != k.str()) continue;
    auto* a = ia->second.as_table();
    auto* b = node.as_table();
    if (a && b && !a->is_inline() && !b->is_inline() && prefix.empty()) {
      if (auto e = check_halves(*a, *b, std::string(k.str()))) return e;
      continue;
    }
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    std::string desc =
        "Error while parsing table header: cannot redefine existing table '" + name + "'";
    return toml::parse_error(desc.c_str(), k.source());
  }
  return std::nullopt;
}

// Calls f(key, node, other) for the entries of `a` and of `b` (may be null) in key order, as if
// `b` had been merged into `a`: `other` is b's node for a key both define (two tables, see
// check_halves), else null.
template <class F>
void each_merged(const toml::table& a, const toml::table* b, F&& f) {
  auto ia = a.begin(), ea = a.end();
  if (!b) {
    for (; ia != ea; ++ia) f(ia->first, ia->second, nullptr);
    return;
  }
  auto ib = b->begin(), eb = b->end();
  while (ia != ea || ib != eb) {
    if (ib == eb || (ia != ea && ia->first.str() < ib->first.str())) {
      f(ia->first, ia->second, nullptr);
      ++ia;
    } else if (ia == ea || ib->first.str() < ia->first.str()) {
      f(ib->first, ib->second, nullptr);
      ++ib;
    } else {
      f(ia->first, ia->second, &ib->second);
      ++ia;
      ++ib;
    }
  }
}

// Parses a whole document. Large ones are cut at a table header and the halves parsed at once;
// the second half is padded with the newlines before the cut so line numbers stay true.
std::unique_ptr<Document> parse_document(std::string_view text, const std::string& path) {
  auto doc = std::make_unique<Document>();
  size_t cut = split_point(text);
  if (cut == 0) {
    doc->first = toml::parse(text, path);
    return doc;
  }
  size_t lines = 0;
  for (const char* p = text.data();
       (p = static_cast<const char*>(std::memchr(p, '\n', text.data() + cut - p))) != nullptr; ++p)
    ++lines;
  std::string second(lines, '\n');
  second.append(text.substr(cut));
  auto other = std::async(std::launch::async, [&] { return toml::parse(second, path); });
  std::optional<toml::parse_error> first_error;
  try {
    doc->first = toml::parse(text.substr(0, cut), path);
  } catch (const toml::parse_error& e) {
    first_error = e;
  }
  doc->second = other.get();  // rethrows the second half's error
  if (first_error) throw *first_error;
  if (auto e = check_halves(doc->first, doc->second, "")) throw *e;
  doc->split = true;
  return doc;
}

// A document's node named `name` at the top level; `other` is the second half's when both halves
// define it.
const toml::node* top_level(const Document& doc, std::string_view name, const toml::node*& other) {
  const toml::node* a = doc.first.get(name);
  const toml::node* b = doc.split ? doc.second.get(name) : nullptr;
  other = a && b ? b : nullptr;
  return a ? a : b;
}

// Frees a large parsed document on a thread of its own while loading goes on: freeing it node by
// node costs about as much as the rest of loading. The returned handle waits for the thread when
// the last Manifest holding it is destroyed (the CLI _exits instead). Small documents are freed
// here.
std::shared_ptr<void> release_document(std::unique_ptr<Document> doc, size_t bytes) {
  constexpr size_t kMinBackground = 64 * 1024;
  if (bytes < kMinBackground) return nullptr;
  struct Release {
    std::thread thread;
    ~Release() {
      if (thread.joinable()) thread.join();
    }
  };
  auto r = std::make_shared<Release>();
  try {
    r->thread = std::thread([d = std::move(doc)]() mutable { d.reset(); });
  } catch (const std::system_error&) {
    return nullptr;  // the document went with the thread that could not start
  }
  return r;
}

inline bool space_ascii(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// A raw value: the TOML node converted to a Value, with where it was written.
struct RawAttr {
  std::string_view key;  // in the TOML document, alive while its resource is loaded
  Value value;
  int line = 0, column = 0;
  bool meta = false;  // one of kMetaKeys, not an attribute
  Loc loc(const std::string& file) const { return Loc{file, line, column}; }
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
    std::unique_ptr<Document> doc;
    try {
      doc = parse_document(text, path_);
    } catch (const toml::parse_error& e) {
      Error err = Error::Invalid("TOML syntax error: " + explain_toml_error(text, e),
                                 "fix the syntax at this position");
      err.loc = loc_of(e.source(), path_);
      out.errors.push_back(std::move(err));
      return out;
    }
    const toml::table* second = doc->split ? &doc->second : nullptr;
    // vars and providers first: resources refer to both.
    vars_ = &m.vars;
    const toml::node* other = nullptr;
    if (auto* vars = top_level(*doc, "vars", other)) load_vars(*vars, other, m);
    if (auto* prov = top_level(*doc, "provider", other)) load_providers(*prov, other, m);
    std::vector<std::string> type_names;
    for (const auto& t : all_types()) type_names.push_back(t.name);
    size_t count = 0;
    each_merged(doc->first, second,
                [&](const toml::key&, const toml::node& n, const toml::node* o) {
                  if (auto* t = n.as_table()) count += t->size();
                  if (auto* t = o ? o->as_table() : nullptr) count += t->size();
                });
    m.resources.reserve(count);  // (not m.index: "did you mean" hints follow its iteration order)
    has_refs_.reserve(count);
    each_merged(
        doc->first, second,
        [&](const toml::key& k, const toml::node& node, const toml::node* other_node) {
          std::string key(k.str());
          if (key == "vars" || key == "provider") return;
          const TypeSpec* ts = find_type(key);
          if (!ts) {
            std::string near = closest(key, type_names);
            fail(Error::Invalid("unknown resource type '" + key + "'",
                                near.empty() ? "see `converge schema` for the resource types"
                                             : "did you mean '" + near + "'?")
                     .at(loc_of(k.source(), path_)));
            return;
          }
          auto* tbl = node.as_table();
          if (!tbl) {
            fail(Error::Invalid("'" + key + "' must be a table of resources: [" + key + ".NAME]",
                                "write [" + key + ".my_name] followed by its attributes")
                     .at(loc_of(k.source(), path_)));
            return;
          }
          each_merged(*tbl, other_node ? other_node->as_table() : nullptr,
                      [&](const toml::key& rk, const toml::node& rnode, const toml::node*) {
                        load_resource(*ts, rk.str(), loc_of(rk.source(), path_), rnode, m);
                      });
        });
    // References are resolved from the resources alone.
    m.parsed = release_document(std::move(doc), text.size());
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

  // The TOML node as a Value; `ok` false (with the error reported) when it cannot be one.
  Value convert(const toml::node& n, std::string_view what_view, const std::string& rid,
                bool allow_table, bool& ok, const AttrSpec* spec = nullptr) {
    ok = true;
    switch (n.type()) {  // one virtual call for the usual values
      case toml::node_type::string:
        return Value::Str(static_cast<const toml::value<std::string>&>(n).get());
      case toml::node_type::integer:
        return Value::Int(static_cast<const toml::value<int64_t>&>(n).get());
      case toml::node_type::boolean:
        return Value::Bool(static_cast<const toml::value<bool>&>(n).get());
      case toml::node_type::array: {
        const auto& arr = static_cast<const toml::array&>(n);
        std::vector<Value> list;
        list.reserve(arr.size());
        for (const auto& el : arr) {
          list.push_back(convert(el, what_view, rid, false, ok));
          if (!ok) return {};
          if (list.back().is_list()) {
            fail(Error::Invalid(std::string(what_view) + ": nested arrays are not allowed",
                                "use a flat array of strings")
                     .at(loc_of(el.source(), path_))
                     .on(rid));
            ok = false;
            return {};
          }
        }
        return Value::List(std::move(list));
      }
      default:
        break;
    }
    std::string what(what_view);
    if (spec && n.is_floating_point()) {
      fail(Error::Invalid("'" + what + "' must be " + attr_type_name(spec->type) + ", not a float",
                          spec->doc)
               .at(loc_of(n.source(), path_))
               .on(rid));
      ok = false;
      return {};
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
      ok = false;
      return {};
    }
    fail(Error::Invalid(what + ": unsupported value (" + toml_type_name(n) + ")",
                        "use a string, integer, boolean or array of strings")
             .at(loc_of(n.source(), path_))
             .on(rid));
    ok = false;
    return {};
  }

  void load_vars(const toml::node& n, const toml::node* other, Manifest& m) {
    auto* tbl = n.as_table();
    if (!tbl) {
      fail(Error::Invalid("[vars] must be a table", "write [vars] then NAME = value lines")
               .at(loc_of(n.source(), path_)));
      return;
    }
    each_merged(*tbl, other ? other->as_table() : nullptr,
                [&](const toml::key& k, const toml::node& v, const toml::node*) {
                  bool ok;
                  Value val = convert(v, "vars." + std::string(k.str()), "", false, ok);
                  if (ok) {
                    m.vars[std::string(k.str())] = val;
                    var_locs_[std::string(k.str())] = loc_of(k.source(), path_);
                  }
                });
  }

  const ProviderKind* kind(const std::string& type) const {
    for (const auto& k : kinds_)
      if (k.type == type) return &k;
    return nullptr;
  }

  void load_providers(const toml::node& n, const toml::node* other, Manifest& m) {
    auto* tbl = n.as_table();
    if (!tbl) {
      fail(Error::Invalid("'provider' must be a table of providers: [provider.NAME]",
                          "write [provider.lab] type = \"lab\"")
               .at(loc_of(n.source(), path_)));
      return;
    }
    std::vector<std::string> kind_names;
    for (const auto& k : kinds_) kind_names.push_back(k.type);
    each_merged(
        *tbl, other ? other->as_table() : nullptr,
        [&](const toml::key& k, const toml::node& v, const toml::node*) {
          ProviderDecl p;
          p.name = std::string(k.str());
          p.loc = loc_of(k.source(), path_);
          std::string where = "provider." + p.name;
          auto* pt = v.as_table();
          if (!pt) {
            fail(Error::Invalid(where + " must be a table", "write [" + where + "] type = \"lab\"")
                     .at(p.loc));
            return;
          }
          std::map<std::string, Loc> setting_locs;
          for (auto&& [sk, sv] : *pt) {
            bool ok;
            Value val = convert(sv, where + "." + std::string(sk.str()), where, true, ok);
            if (ok) p.settings[std::string(sk.str())] = val;
            setting_locs[std::string(sk.str())] = loc_of(sk.source(), path_);
          }
          auto t = p.settings.find("type");
          if (t == p.settings.end() || !t->second.is_string()) {
            fail(Error::Invalid(where + ": missing 'type'",
                                "add type = \"lab\", \"ldap\" or \"dns\"")
                     .at(p.loc));
            return;
          }
          p.type = t->second.as_string();
          const ProviderKind* pk = kind(p.type);
          if (!pk) {
            std::string near = closest(p.type, kind_names);
            fail(Error::Invalid(
                     where + ": unknown provider type '" + p.type + "'",
                     near.empty() ? "known types: lab, ldap, dns" : "did you mean '" + near + "'?")
                     .at(setting_locs["type"]));
            return;
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
        });
  }

  // ---- resources ----

  static const AttrSpec* find_attr(const TypeSpec& ts, std::string_view name) {
    for (const auto& a : ts.attrs)
      if (same_name(a.name, name)) return &a;
    return nullptr;
  }
  static bool is_meta(std::string_view key) {  // one of kMetaKeys
    switch (key.size()) {
      case 5:
        return key == "drift";
      case 6:
        return key == "ensure";
      case 8:
        return key == "provider" || key == "for_each";
      case 10:
        return key == "depends_on";
      default:
        return false;
    }
  }

  void load_resource(const TypeSpec& ts, std::string_view name_view, Loc loc,
                     const toml::node& node, Manifest& m) {
    std::string name(name_view);
    std::string base_id;
    base_id.reserve(ts.name.size() + 1 + name.size());
    base_id.append(ts.name).append(1, '.').append(name);
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
    // The attributes go straight into the resource, in key order as the table holds them; the
    // meta keys aside, in key order too.
    Resource& r = m.resources.emplace_back();
    r.type = &ts;
    r.name = name;
    r.attr_locs.reserve(tbl->size());
    std::vector<RawAttr>& metas = raw_;
    metas.clear();
    bool dollar = false;  // a value holds ${...}
    for (auto&& [k, v] : *tbl) {
      std::string_view key_view = k.str();
      const AttrSpec* as = find_attr(ts, key_view);
      bool meta = is_meta(key_view);
      if ((!as || as->computed) && !meta) {
        std::string key(key_view);
        Loc kl = loc_of(k.source(), path_);
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
      bool ok;
      Value val = convert(v, key_view, base_id, as && as->type == AttrType::kSecret, ok, as);
      if (!ok) continue;
      dollar = dollar || needs_resolving(val);
      const auto& at = k.source().begin;
      int line = static_cast<int>(at.line), column = static_cast<int>(at.column);
      if (meta) {
        metas.push_back(RawAttr{key_view, std::move(val), line, column, true});
        continue;
      }
      r.attrs.emplace_hint(r.attrs.end(), std::piecewise_construct,
                           std::forward_as_tuple(key_view.data(), key_view.size()),
                           std::forward_as_tuple(std::move(val)));
      r.attr_locs.push_back({std::string(key_view), line, column});
    }
    auto fe = std::find_if(metas.begin(), metas.end(),
                           [](const RawAttr& ra) { return ra.key == "for_each"; });
    if (fe == metas.end()) {
      r.id = std::move(base_id);
      r.loc = std::move(loc);
      add_instance(m, metas, nullptr, nullptr, dollar);
      return;
    }
    // for_each: what was read is the template of the instances.
    Resource tmpl = std::move(r);
    m.resources.pop_back();
    std::vector<std::string> keys;
    {
      Loc fe_loc = fe->loc(path_);
      Value v = fe->value;
      if (v.is_string()) v = substitute_vars(v, fe_loc, base_id, nullptr);
      if (!v.is_list()) {
        fail(Error::Invalid("for_each must be an array of strings (or a ${var.NAME} holding one)",
                            "write for_each = [\"EXCH1\", \"EXCH2\"]")
                 .at(fe_loc)
                 .on(base_id));
        return;
      }
      if (v.as_list().empty()) {
        fail(Error::Invalid("for_each is empty", "list at least one element or remove the resource")
                 .at(fe_loc)
                 .on(base_id));
        return;
      }
      std::set<std::string> seen;
      for (const auto& el : v.as_list()) {
        if (!(el.is_string() || el.is_int()) || el.text().empty()) {
          fail(Error::Invalid("for_each elements must be non-empty strings", "")
                   .at(fe_loc)
                   .on(base_id));
          return;
        }
        if (!seen.insert(el.text()).second) {
          fail(Error::Invalid("for_each has '" + el.text() + "' twice",
                              "each element names one instance; remove the duplicate")
                   .at(fe_loc)
                   .on(base_id));
          return;
        }
        keys.push_back(el.text());
      }
      metas.erase(fe);
    }
    for (const auto& key : keys) {
      // The last instance may take the template; earlier ones copy it.
      bool last = &key == &keys.back();
      std::vector<RawAttr> copy;
      if (!last) copy = metas;
      Resource& inst =
          last ? m.resources.emplace_back(std::move(tmpl)) : m.resources.emplace_back(tmpl);
      inst.key = key;
      inst.id = base_id + "[" + key + "]";
      inst.loc = loc;
      add_instance(m, last ? metas : copy, &key, &base_id, dollar);
    }
  }

  // Completes the resource last added to m.resources: ${var.X} and ${each.value} substituted
  // (`each` is the for_each element, `group` the TYPE.NAME, of an instance), meta keys applied,
  // the id indexed.
  void add_instance(Manifest& m, std::vector<RawAttr>& metas, const std::string* each,
                    const std::string* group, bool dollar) {
    Resource& r = m.resources.back();
    bool has_refs = dollar && substitute(r, metas, each);
    apply_meta(r, metas);
    size_t at = m.resources.size() - 1;
    if (group) m.groups[*group].push_back(at);
    if (!m.index.try_emplace(r.id, at).second) {
      fail(Error::Invalid("duplicate resource id", "rename one of them").at(r.loc).on(r.id));
      m.resources.pop_back();
      return;
    }
    has_refs_.push_back(has_refs);
  }

  // Substitutes ${var.X} and ${each.value} in the attributes and meta keys, in key order. True when
  // an attribute still holds a ${TYPE.NAME.ATTR} for resolve().
  bool substitute(Resource& r, std::vector<RawAttr>& metas, const std::string* each) {
    bool has_refs = false;
    auto it = r.attrs.begin();
    size_t li = 0, mi = 0;
    while (it != r.attrs.end() || mi < metas.size()) {
      bool meta = it == r.attrs.end() || (mi < metas.size() && metas[mi].key < it->first);
      Value& v = meta ? metas[mi].value : it->second;
      if (needs_resolving(v)) {  // lists and strings without ${ stay as they are
        std::string_view key = meta ? metas[mi].key : std::string_view(it->first);
        Loc loc =
            meta ? metas[mi].loc(path_) : Loc{path_, r.attr_locs[li].line, r.attr_locs[li].column};
        size_t before = errors_.size();
        v = substitute_vars(v, loc, r.id, each);
        if (errors_.size() != before) poisoned_.insert(r.id + "\n" + std::string(key));
        if (!meta && needs_resolving(v)) has_refs = true;
      }
      if (meta) {
        ++mi;
      } else {
        ++it;
        ++li;
      }
    }
    return has_refs;
  }

  static std::string base_group(const Resource& r) { return r.type->name + "." + r.name; }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  // Applies the meta keys of `raw` (left there, marked meta, and never stored as attributes).
  void apply_meta(Resource& r, std::vector<RawAttr>& raw) {
    auto take = [&](std::string_view k) -> const RawAttr* {
      for (const auto& ra : raw)
        if (ra.meta && ra.key == k) return &ra;
      return nullptr;
    };
    if (auto e = take("ensure")) {
      if (!e->value.is_string() ||
          (e->value.as_string() != "present" && e->value.as_string() != "absent")) {
        fail(Error::Invalid("ensure must be \"present\" or \"absent\"", "")
                 .at(e->loc(path_))
                 .on(r.id));
      } else {
        r.absent = e->value.as_string() == "absent";
        if (r.absent && r.type->check_only)
          fail(Error::Invalid("a check cannot be absent",
                              "remove ensure = \"absent\" or the resource")
                   .at(e->loc(path_))
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
        fail(Error::Invalid("drift must be \"monitor\" or \"correct\"", "")
                 .at(d->loc(path_))
                 .on(r.id));
    }
    if (auto p = take("provider")) {
      if (!p->value.is_string())
        fail(Error::Invalid("provider must be a string naming a [provider.NAME] block", "")
                 .at(p->loc(path_))
                 .on(r.id));
      else {
        r.provider = p->value.as_string();
        provider_locs_[r.id] = p->loc(path_);
      }
    }
    if (auto d = take("depends_on")) {
      if (!d->value.is_list()) {
        fail(Error::Invalid("depends_on must be an array of resource ids",
                            "write depends_on = [\"account.trg_ex\"]")
                 .at(d->loc(path_))
                 .on(r.id));
      } else {
        Loc loc = d->loc(path_);
        for (const auto& s : d->value.strings()) r.deps.push_back({s, loc, "depends_on"});
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
    if (has_refs_[i]) {
      for (auto& [k, v] : r.attrs) {
        if (!needs_resolving(v)) continue;
        if (!poisoned_.empty() && poisoned_.count(r.id + "\n" + k)) continue;
        Loc loc = r.loc_of(k);
        size_t before = errors_.size();
        v = resolve_value(m, i, v, loc);
        if (errors_.size() != before) poisoned_.insert(r.id + "\n" + k);
      }
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
      auto found_id = m.index.find(id);
      if (found_id == m.index.end()) {
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
      size_t j = found_id->second;
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
    // Where each declared attribute is in r.attrs (or would go), found in one walk over both in
    // name order.
    const std::vector<size_t>& order = settable_by_name(ts);
    places_.assign(ts.attrs.size(), r.attrs.end());
    found_.assign(ts.attrs.size(), nullptr);
    auto place = r.attrs.begin();
    for (size_t k : order) {
      while (place != r.attrs.end() && name_less(place->first, ts.attrs[k].name)) ++place;
      places_[k] = place;
    }
    for (size_t k = 0; k < ts.attrs.size(); ++k) {
      const AttrSpec& a = ts.attrs[k];
      if (a.computed) continue;
      auto it = places_[k];
      if (it == r.attrs.end() || !same_name(it->first, a.name)) {
        if (a.def)
          found_[k] = &r.attrs.emplace_hint(it, a.name, *a.def)->second;
        else if (a.required && !r.absent && !suggested(r, a.name))
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
      found_[k] = &v;
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
        // Each value must be one of the allowed ones (any case); a single one takes the
        // declared spelling.
        auto allowed = [&](const std::string& s) -> const std::string* {
          auto ok = std::find_if(a.allowed.begin(), a.allowed.end(),
                                 [&](const std::string& x) { return iequals(x, s); });
          if (ok != a.allowed.end()) return &*ok;
          std::string near = closest(s, a.allowed);
          fail(Error::Invalid("'" + a.name + "' = \"" + s + "\" is not allowed",
                              (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                                  "allowed: " + join(a.allowed))
                   .at(at())
                   .on(r.id));
          return nullptr;
        };
        if (v.is_string()) {
          if (const std::string* ok = allowed(v.as_string()); ok && *ok != v.as_string())
            v = Value::Str(*ok);  // the declared spelling
        } else {
          for (const auto& s : v.strings()) allowed(s);
        }
      }
      if (a.type == AttrType::kString && v.is_string() && v.as_string().empty() && a.required)
        fail(Error::Invalid("'" + a.name + "' must not be empty", a.doc).at(at()).on(r.id));
      if (a.compare == Compare::kRights) {
        auto mask = ad_rights_mask(strings_of(v));
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
    if (t == std::string_view("ldap_attribute") && !r.absent) {
      bool has_value = r.attrs.count("value"), has_copy = r.attrs.count("copy_from");
      if (has_value == has_copy)
        fail(Error::Invalid("set exactly one of 'value' and 'copy_from'",
                            "value = \"...\" writes a literal; copy_from = \"adminDisplayName\" "
                            "copies another attribute")
                 .at(r.loc)
                 .on(r.id));
    }
    if (t == std::string_view("exchange_role") && !r.absent) {
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
    if (t == std::string_view("dns_record") && !r.absent) {
      const Value& type_value = declared(r, "type");
      std::string type_text;
      std::string_view type = type_value.is_string()
                                  ? std::string_view(type_value.as_string())
                                  : std::string_view(type_text = type_value.text());
      const Value& values = declared(r, "values");
      size_t count = values.is_list() ? values.as_list().size() : values.is_null() ? 0 : 1;
      if (count == 0)
        fail(Error::Invalid("'values' must not be empty", "").at(r.loc_of("values")).on(r.id));
      auto check = [&](std::string_view v) {
        bool is_a = iequals(type, "a");
        Fields f = is_a ? Fields{} : fields(v);  // an address is checked whole
        bool ok = f.n > 0;
        if (is_a)
          ok = is_ipv4(v);
        else if (iequals(type, "aaaa")) {
          in6_addr a6{};
          ok = f.n == 1 && inet_pton(AF_INET6, std::string(f.at[0]).c_str(), &a6) == 1;
        } else if (iequals(type, "mx"))
          ok = f.n == 2 && is_uint(f.at[0], 65535);
        else if (iequals(type, "srv"))
          ok = f.n == 4 && is_uint(f.at[0], 65535) && is_uint(f.at[1], 65535) &&
               is_uint(f.at[2], 65535);
        else if (iequals(type, "cname") || iequals(type, "ptr") || iequals(type, "ns"))
          ok = f.n == 1;
        if (!ok)
          fail(Error::Invalid(
                   "malformed " + r.attrs["type"].text() + " value '" + std::string(v) + "'",
                   iequals(type, "mx")  ? "write \"10 exch1.target.local.\""
                   : iequals(type, "a") ? "write an IPv4 address like 192.0.2.10"
                                        : "")
                   .at(r.loc_of("values"))
                   .on(r.id));
      };
      if (values.is_list()) {
        for (const auto& e : values.as_list()) {
          if (e.is_string())
            check(e.as_string());
          else
            check(e.text());
        }
      } else if (values.is_string()) {
        check(values.as_string());
      } else if (!values.is_null()) {
        check(values.text());
      }
      const Value* ttl = found(r, "ttl");
      if (ttl && (ttl->as_int() < 0 || ttl->as_int() > 2147483647))
        fail(Error::Invalid("ttl out of range", "0 to 2147483647 seconds")
                 .at(r.loc_of("ttl"))
                 .on(r.id));
    }
  }

  // The value of the declared attribute `name` as finish() found it (it is there, or was defaulted,
  // unless null is returned), or by a lookup when the resource does not have it.
  const Value* found(Resource& r, std::string_view name) {
    const auto& attrs = r.type->attrs;
    for (size_t k = 0; k < attrs.size() && k < found_.size(); ++k)
      if (same_name(attrs[k].name, name)) return found_[k] ? found_[k] : find_value(r, name);
    return find_value(r, name);
  }
  static const Value* find_value(Resource& r, std::string_view name) {
    auto it = r.attrs.find(std::string(name));
    return it == r.attrs.end() ? nullptr : &it->second;
  }
  // r.attrs[name], as type_rules reads attributes (a missing one is added as null).
  const Value& declared(Resource& r, std::string_view name) {
    const Value* v = found(r, name);
    return v ? *v : r.attrs[std::string(name)];
  }

  // The declared attributes that are not computed, as positions in TypeSpec::attrs sorted by name.
  const std::vector<size_t>& settable_by_name(const TypeSpec& ts) {
    if (&ts == sorted_type_) return *sorted_;
    auto& order = sorted_attrs_[&ts];
    if (order.empty()) {
      for (size_t k = 0; k < ts.attrs.size(); ++k)
        if (!ts.attrs[k].computed) order.push_back(k);
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return ts.attrs[a].name < ts.attrs[b].name; });
    }
    sorted_type_ = &ts;
    sorted_ = &order;
    return order;
  }
  // a == b, for short names (no call to memcmp).
  static bool same_name(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  // a < b, as std::string compares (bytes as unsigned), for short names.
  static bool name_less(std::string_view a, std::string_view b) {
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
      if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
    return a.size() < b.size();
  }

  // v.strings(), in a vector kept for the next call.
  const std::vector<std::string>& strings_of(const Value& v) {
    size_t n = 0;
    auto add = [&](const Value& e) {
      if (n == strings_.size()) strings_.emplace_back();
      if (e.is_string())
        strings_[n++] = e.as_string();
      else
        strings_[n++] = e.text();
    };
    if (v.is_list()) {
      for (const auto& e : v.as_list()) add(e);
    } else if (!v.is_null()) {
      add(v);
    }
    strings_.resize(n);
    return strings_;
  }

  // The whitespace-separated fields of a value (as split_ws), the first four of them kept.
  struct Fields {
    std::string_view at[4];
    size_t n = 0;
  };
  static Fields fields(std::string_view s) {
    Fields f;
    size_t i = 0;
    while (true) {
      while (i < s.size() && space_ascii(s[i])) ++i;
      if (i == s.size()) break;
      size_t b = i;
      while (i < s.size() && !space_ascii(s[i])) ++i;
      if (f.n < 4) f.at[f.n] = s.substr(b, i - b);
      ++f.n;
    }
    return f;
  }

  static bool is_uint(std::string_view s, long max) {
    if (s.empty() || s.size() > 10) return false;
    long v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    return v <= max;
  }
  static bool is_ipv4(std::string_view s) {
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

  bool suggested(const Resource& r, const std::string& attr) const {
    if (suggested_.empty()) return false;
    auto it = suggested_.find(base_group(r));
    return it != suggested_.end() && it->second.count(attr);
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
    // The declared providers that serve a type, for the type of the previous resource (resources
    // of one type come together).
    const TypeSpec* serving_type = nullptr;
    std::vector<const ProviderDecl*> serving;
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
      if (r.type != serving_type) {
        serving_type = r.type;
        serving.clear();
        for (const auto& p : m.providers) {
          const ProviderKind* k = kind(p.type);
          if (k && std::find(k->serves.begin(), k->serves.end(), r.type->name) != k->serves.end())
            serving.push_back(&p);
        }
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
    FirstByKey seen(m.resources.size());
    const TypeSpec* type = nullptr;
    bool has_identity = false;
    std::string key;
    for (const auto& r : m.resources) {
      if (r.type != type) {
        type = r.type;
        has_identity = std::any_of(type->attrs.begin(), type->attrs.end(),
                                   [](const AttrSpec& a) { return a.identity; });
      }
      if (!has_identity) continue;
      key.assign(r.type->name).append(1, '|').append(r.provider).append(1, '|').append(r.identity);
      const Resource* first = seen.insert(key, &r);
      if (first != &r)
        fail(Error::Invalid("manages the same " + r.type->name + " as " + first->id + " (" +
                                first->loc.str() + ")",
                            "declare each object once")
                 .at(r.loc)
                 .on(r.id));
    }
  }

  // Strings mapped to the first resource added under each: open addressing over one buffer, no
  // allocation per entry. Holds at most `n` strings.
  class FirstByKey {
   public:
    explicit FirstByKey(size_t n) {
      size_t cap = 16;
      while (cap < 2 * n) cap *= 2;
      slots_.resize(cap);
    }
    // The resource first added under `key`; `r` when it is the first.
    const Resource* insert(std::string_view key, const Resource* r) {
      size_t h = std::hash<std::string_view>()(key), mask = slots_.size() - 1;
      for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot& s = slots_[i];
        if (!s.r) {
          s = Slot{h, arena_.size(), key.size(), r};
          arena_.append(key);
          return r;
        }
        if (s.hash == h && std::string_view(arena_).substr(s.off, s.len) == key) return s.r;
      }
    }

   private:
    struct Slot {
      size_t hash = 0, off = 0, len = 0;
      const Resource* r = nullptr;
    };
    std::vector<Slot> slots_;
    std::string arena_;
  };

  std::string path_;
  const std::vector<ProviderKind>& kinds_;
  std::vector<Error> errors_;
  const std::map<std::string, Value>* vars_ = nullptr;
  std::map<std::string, Loc> var_locs_;
  std::map<std::string, Loc> provider_locs_;
  std::vector<State> state_;
  std::vector<bool> has_refs_;  // per resource: a value still holds ${TYPE.NAME.ATTR}
  std::vector<RawAttr> raw_;    // load_resource's scratch
  // finish()'s scratch: per declared attribute, its place in the map and its value.
  std::vector<AttrMap::iterator> places_;
  std::vector<Value*> found_;
  std::vector<std::string> strings_;  // strings_of()
  std::unordered_map<const TypeSpec*, std::vector<size_t>> sorted_attrs_;
  const TypeSpec* sorted_type_ = nullptr;
  const std::vector<size_t>* sorted_ = nullptr;
  std::vector<std::pair<size_t, Loc>> stack_;  // resources being resolved, with the ref that led on
  std::unordered_set<std::string> poisoned_;   // "id\nattr" whose value already failed
  std::map<std::string, std::set<std::string>> suggested_;  // TYPE.NAME -> attribute names hinted
};

}  // namespace

std::string content_hash(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0;
  for (; i + 8 <= n; i += 8) {  // unrolled: the loop costs as much as the hashing
    h = (h ^ p[i]) * 1099511628211ull;
    h = (h ^ p[i + 1]) * 1099511628211ull;
    h = (h ^ p[i + 2]) * 1099511628211ull;
    h = (h ^ p[i + 3]) * 1099511628211ull;
    h = (h ^ p[i + 4]) * 1099511628211ull;
    h = (h ^ p[i + 5]) * 1099511628211ull;
    h = (h ^ p[i + 6]) * 1099511628211ull;
    h = (h ^ p[i + 7]) * 1099511628211ull;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
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
  std::string text;
  if (auto size = in.seekg(0, std::ios::end).tellg(); size > 0)
    text.reserve(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    text.append(buf, static_cast<size_t>(in.gcount()));
  return load_manifest_string(text, path, kinds);
}

}  // namespace converge
