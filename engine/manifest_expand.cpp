// Expansion and references: for_each instances, ${var.X} and ${each.value} interpolation, meta
// keys, and ${TYPE.NAME.ATTR} resolution in dependency order.
#include <set>

#include "engine/manifest_load.h"
#include "engine/values.h"

namespace converge::manifest_load {

bool needs_resolving(const Value& v) {
  if (v.is_string()) return v.as_string().find("${") != std::string::npos;
  if (v.is_list())
    for (const auto& e : v.as_list())
      if (needs_resolving(e)) return true;
  return false;
}

namespace {

// Calls f(element) for each element of a list (a list an element expands to is spliced in), or
// once for any other value; the results make the new value.
template <class F>
Value map_strings(const Value& v, F&& f) {
  if (!v.is_list()) return f(v);
  std::vector<Value> out;
  for (const auto& el : v.as_list()) {
    Value x = f(el);
    if (x.is_list())
      for (auto& y : x.as_list()) out.push_back(y);
    else
      out.push_back(std::move(x));
  }
  return Value::List(std::move(out));
}

// ---- expansion ----

class Expander {
 public:
  Expander(Manifest& m, LoadContext& cx) : m_(m), cx_(cx) {}

  void add(RawResource raw) {
    std::string base_id = raw.type->name + "." + raw.name;
    auto fe = std::find_if(raw.meta.begin(), raw.meta.end(),
                           [](const MetaKey& k) { return k.key == "for_each"; });
    if (fe == raw.meta.end()) {
      add_instance(std::move(raw), std::move(base_id), "", nullptr);
      return;
    }
    std::vector<std::string> keys = for_each_keys(*fe, base_id);
    raw.meta.erase(fe);
    for (size_t k = 0; k < keys.size(); ++k) {
      // The last instance takes the template; earlier ones copy it.
      RawResource inst = k + 1 == keys.size() ? std::move(raw) : raw;
      add_instance(std::move(inst), base_id + "[" + keys[k] + "]", keys[k], &base_id);
    }
  }

 private:
  // The elements of a for_each; none (with the error reported) when it is not a usable list.
  std::vector<std::string> for_each_keys(const MetaKey& fe, const std::string& base_id) {
    Value v = fe.value.is_string() ? substitute(fe.value, fe.loc, base_id, nullptr) : fe.value;
    if (!v.is_list()) {
      cx_.fail(Error::Invalid("for_each must be an array of strings (or a ${var.NAME} holding one)",
                              "write for_each = [\"EXCH1\", \"EXCH2\"]")
                   .at(fe.loc)
                   .on(base_id));
      return {};
    }
    if (v.as_list().empty()) {
      cx_.fail(
          Error::Invalid("for_each is empty", "list at least one element or remove the resource")
              .at(fe.loc)
              .on(base_id));
      return {};
    }
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const auto& el : v.as_list()) {
      if (!(el.is_string() || el.is_int()) || el.text().empty()) {
        cx_.fail(Error::Invalid("for_each elements must be non-empty strings", "")
                     .at(fe.loc)
                     .on(base_id));
        return {};
      }
      if (!seen.insert(el.text()).second) {
        cx_.fail(Error::Invalid("for_each has '" + el.text() + "' twice",
                                "each element names one instance; remove the duplicate")
                     .at(fe.loc)
                     .on(base_id));
        return {};
      }
      keys.push_back(el.text());
    }
    return keys;
  }

  // One resource: ${var.X} and ${each.value} substituted (`group` is the TYPE.NAME of a for_each
  // instance, `key` its element), meta keys applied, the id indexed.
  void add_instance(RawResource raw, std::string id, const std::string& key,
                    const std::string* group) {
    Resource r;
    r.id = std::move(id);
    r.type = raw.type;
    r.name = std::move(raw.name);
    r.key = key;
    r.loc = std::move(raw.loc);
    r.attrs = std::move(raw.attrs);
    r.attr_locs = std::move(raw.attr_locs);
    const std::string* each = group ? &key : nullptr;
    for (auto& [name, v] : r.attrs)
      if (needs_resolving(v)) v = substitute_logged(v, r.loc_of(name), r.id, name, each);
    for (auto& mk : raw.meta)
      if (needs_resolving(mk.value))
        mk.value = substitute_logged(mk.value, mk.loc, r.id, mk.key, each);
    apply_meta(r, raw.meta);
    size_t at = m_.resources.size();
    if (!m_.index.try_emplace(r.id, at).second) {
      cx_.fail(Error::Invalid("duplicate resource id", "rename one of them").at(r.loc).on(r.id));
      return;
    }
    if (group) m_.groups[*group].push_back(at);
    m_.resources.push_back(std::move(r));
  }

  Value substitute_logged(const Value& v, const Loc& loc, const std::string& rid,
                          const std::string& attr, const std::string* each) {
    size_t before = cx_.errors.size();
    Value out = substitute(v, loc, rid, each);
    if (cx_.errors.size() != before) cx_.poison(rid, attr);
    return out;
  }

  // Replaces ${var.X} and ${each.value} (`each` null outside for_each); leaves ${TYPE.NAME.ATTR}
  // for resolve_references. A whole-string ${var.X} takes the variable's value and type.
  Value substitute(const Value& v, const Loc& loc, const std::string& rid,
                   const std::string* each) {
    if (v.is_list())
      return map_strings(v, [&](const Value& el) { return substitute(el, loc, rid, each); });
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
        cx_.fail(
            Error::Invalid("unterminated ${ in '" + s + "'", "close it with }").at(loc).on(rid));
        return v;
      }
      std::string expr = trim(s.substr(start + 2, end - start - 2));
      bool whole = start == 0 && end == s.size() - 1;
      i = end + 1;
      if (expr.rfind("var.", 0) == 0) {
        std::string name = expr.substr(4);
        auto it = m_.vars.find(name);
        if (it == m_.vars.end()) {
          std::vector<std::string> names;
          for (const auto& [k, _] : m_.vars) names.push_back(k);
          std::string near = closest(name, names);
          cx_.fail(Error::Invalid("unknown variable '" + name + "'",
                                  near.empty() ? "declare it under [vars]"
                                               : "did you mean 'var." + near + "'?")
                       .at(loc)
                       .on(rid));
          return v;
        }
        if (whole) return it->second;
        out += it->second.text();
      } else if (expr == "each.value" || expr == "each.key") {
        if (!each) {
          cx_.fail(Error::Invalid("${" + expr + "} outside a for_each resource",
                                  "add for_each = [...] or remove it")
                       .at(loc)
                       .on(rid));
          return v;
        }
        out += *each;
      } else {
        out += s.substr(start, end - start + 1);  // a resource reference, resolved later
      }
    }
    return Value::Str(out);
  }

  void apply_meta(Resource& r, const std::vector<MetaKey>& meta) {
    for (const auto& mk : meta) {
      const Value& v = mk.value;
      if (mk.key == "ensure") {
        if (!v.is_string() || (v.as_string() != "present" && v.as_string() != "absent")) {
          cx_.fail(
              Error::Invalid("ensure must be \"present\" or \"absent\"", "").at(mk.loc).on(r.id));
          continue;
        }
        r.absent = v.as_string() == "absent";
        if (r.absent && r.type->check_only)
          cx_.fail(Error::Invalid("a check cannot be absent",
                                  "remove ensure = \"absent\" or the resource")
                       .at(mk.loc)
                       .on(r.id));
      } else if (mk.key == "drift") {
        if (v.text() == "monitor")
          r.drift = DriftMode::kMonitor;
        else if (v.text() == "correct")
          r.drift = DriftMode::kCorrect;
        else
          cx_.fail(
              Error::Invalid("drift must be \"monitor\" or \"correct\"", "").at(mk.loc).on(r.id));
      } else if (mk.key == "provider") {
        if (!v.is_string()) {
          cx_.fail(Error::Invalid("provider must be a string naming a [provider.NAME] block", "")
                       .at(mk.loc)
                       .on(r.id));
          continue;
        }
        r.provider = v.as_string();
        cx_.provider_locs[r.id] = mk.loc;
      } else if (mk.key == "depends_on") {
        if (!v.is_list()) {
          cx_.fail(Error::Invalid("depends_on must be an array of resource ids",
                                  "write depends_on = [\"account.trg_ex\"]")
                       .at(mk.loc)
                       .on(r.id));
          continue;
        }
        for (const auto& s : v.strings()) r.deps.push_back({s, mk.loc, "depends_on"});
      }
    }
  }

  Manifest& m_;
  LoadContext& cx_;
};

// ---- references ----

// Parses "TYPE.NAME.ATTR" or "TYPE.NAME[KEY].ATTR" into (id, attr).
bool parse_ref(const std::string& expr, std::string& id, std::string& attr) {
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

// The most bytes a value may hold once its references are resolved. A reference copies its
// target's value, so a chain of attributes each referring twice to the next doubles at every
// step: 30 such lines would take a gigabyte. No real attribute comes near this.
constexpr size_t kMaxExpandedBytes = 64 * 1024;

size_t value_bytes(const Value& v) {
  if (v.is_string()) return v.as_string().size();
  size_t n = 0;
  if (v.is_list())
    for (const auto& e : v.as_list()) n += value_bytes(e);
  return n;
}

// Resolves depth-first: a resource's references are followed (and their targets finished) before
// it is finished itself, so ${ou.sync.dn} reads the derived dn.
class Resolver {
 public:
  Resolver(Manifest& m, LoadContext& cx) : m_(m), cx_(cx), state_(m.resources.size()) {}

  void run() {
    for (size_t i = 0; i < m_.resources.size(); ++i) resolve(i);
  }

 private:
  enum class State { kNew, kVisiting, kDone };

  void resolve(size_t i) {
    if (state_[i] != State::kNew) return;  // a kVisiting one is a cycle, reported by the caller
    state_[i] = State::kVisiting;
    Resource& r = m_.resources[i];
    for (auto& [k, v] : r.attrs) {
      if (!needs_resolving(v) || cx_.is_poisoned(r.id, k)) continue;
      size_t before = cx_.errors.size();
      Loc loc = r.loc_of(k);
      const std::string& name = k;  // (Clang 14 cannot capture a structured binding)
      Value resolved =
          map_strings(v, [&](const Value& el) { return resolve_string(i, el, loc, name); });
      if (cx_.errors.size() == before && value_bytes(resolved) > kMaxExpandedBytes)
        too_big(r.id, k, loc);
      // A value that failed keeps its unresolved text: what refers to it stays small.
      if (cx_.errors.size() == before) v = std::move(resolved);
      if (cx_.errors.size() != before) cx_.poison(r.id, k);
    }
    finish_resource(r, cx_);
    state_[i] = State::kDone;
  }

  Value resolve_string(size_t i, const Value& v, const Loc& loc, const std::string& attr_name) {
    if (!v.is_string() || v.as_string().find("${") == std::string::npos) return v;
    const std::string s = v.as_string();
    const std::string rid = m_.resources[i].id;
    std::string out;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t start = s.find("${", pos);
      if (start == std::string::npos) {
        out += s.substr(pos);
        break;
      }
      out += s.substr(pos, start - pos);
      size_t end = s.find('}', start);  // there is one: substitution checked
      std::string expr = trim(s.substr(start + 2, end - start - 2));
      bool whole = start == 0 && end == s.size() - 1;
      pos = end + 1;
      std::string id, attr;
      if (!parse_ref(expr, id, attr)) {
        cx_.fail(Error::Invalid("cannot understand ${" + expr + "}",
                                "write ${var.NAME}, ${each.value} or ${TYPE.NAME.ATTR}")
                     .at(loc)
                     .on(rid));
        return v;
      }
      auto found = m_.index.find(id);
      if (found == m_.index.end()) {
        cx_.fail(Error::Invalid("reference to unknown resource '" + id + "'", unknown_hint(id, rid))
                     .at(loc)
                     .on(rid));
        return v;
      }
      size_t j = found->second;
      if (state_[j] == State::kVisiting) {
        cx_.fail(Error::Invalid("reference cycle: " + describe_cycle(i, j, loc),
                                "break the cycle of ${...} references")
                     .at(loc)
                     .on(rid));
        return v;
      }
      stack_.emplace_back(i, loc);
      resolve(j);
      stack_.pop_back();
      const Resource& target = m_.resources[j];
      const AttrSpec* spec = target.type->attr(attr);
      if (!spec) {
        std::vector<std::string> names;
        for (const auto& as : target.type->attrs) names.push_back(as.name);
        std::string near = closest(attr, names);
        cx_.fail(Error::Invalid("'" + attr + "' is not an attribute of " + target.type->name,
                                near.empty() ? "" : "did you mean '" + near + "'?")
                     .at(loc)
                     .on(rid));
        return v;
      }
      if (spec->type == AttrType::kSecret) {
        cx_.fail(Error::Invalid("${" + expr + "} refers to a secret",
                                "refer to the secret's source instead")
                     .at(loc)
                     .on(rid));
        return v;
      }
      m_.resources[i].deps.push_back({id, loc, "reference"});
      auto a = target.attrs.find(attr);
      Value tv = a == target.attrs.end() ? Value() : a->second;
      if (whole) return tv;
      out += tv.text();
      if (out.size() > kMaxExpandedBytes) {
        too_big(rid, attr_name, loc);
        return v;
      }
    }
    return Value::Str(out);
  }

  void too_big(const std::string& rid, const std::string& attr, const Loc& loc) {
    cx_.fail(Error::Invalid("'" + attr + "' expands to more than " +
                                std::to_string(kMaxExpandedBytes) + " bytes",
                            "each ${...} copies the value it names; references that repeat "
                            "references grow exponentially")
                 .at(loc)
                 .on(rid));
  }

  std::string unknown_hint(const std::string& id, const std::string& rid) const {
    if (auto g = m_.groups.find(id); g != m_.groups.end())
      return id + " has for_each: name one instance, e.g. " + m_.resources[g->second[0]].id;
    std::vector<std::string> ids;
    ids.reserve(m_.index.size());
    for (const auto& [k, _] : m_.index)
      if (k != rid) ids.push_back(k);
    std::string near = closest(id, ids);
    return near.empty() ? "declare it, or fix the name" : "did you mean '" + near + "'?";
  }

  // The chain from j (being resolved, on stack_) to i, which refers back to j at `loc`.
  std::string describe_cycle(size_t i, size_t j, const Loc& loc) const {
    size_t from = 0;
    while (from < stack_.size() && stack_[from].first != j) ++from;
    std::string chain = m_.resources[j].id;
    for (size_t k = from; k < stack_.size(); ++k) {
      size_t to = k + 1 < stack_.size() ? stack_[k + 1].first : i;
      chain += " -> " + m_.resources[to].id + " (" + stack_[k].second.str() +
               ", explicit ${} reference)";
    }
    return chain + " -> " + m_.resources[j].id + " (" + loc.str() + ", explicit ${} reference)";
  }

  Manifest& m_;
  LoadContext& cx_;
  std::vector<State> state_;
  std::vector<std::pair<size_t, Loc>> stack_;  // references being followed: (from, where)
};

}  // namespace

void expand_resources(std::vector<RawResource> raw, Manifest& m, LoadContext& cx) {
  m.resources.reserve(raw.size());
  Expander ex(m, cx);
  for (auto& r : raw) ex.add(std::move(r));
}

void resolve_references(Manifest& m, LoadContext& cx) { Resolver(m, cx).run(); }

}  // namespace converge::manifest_load
