#include "engine/graph.h"

#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <string_view>
#include <unordered_set>

#include "engine/values.h"

namespace converge {

// Built once from the edge list: no allocation per edge, and each vertex's out-edges stay in the
// order they were added (depth-first search, and so the cycle reported, follows that order).
using BGraph = boost::compressed_sparse_row_graph<boost::directedS>;

namespace {

// (from << 32 | to) -> index in edges_: open addressing, no allocation per edge.
class EdgeIndex {
 public:
  // The index stored under `key`, after storing `value` there when there was none.
  size_t insert(uint64_t key, size_t value) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    Slot& s = slots_[find(key)];
    if (s.value == kEmpty) {
      s = Slot{key, value};
      ++used_;
    }
    return s.value;
  }
  const size_t* get(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    const Slot& s = slots_[find(key)];
    return s.value == kEmpty ? nullptr : &s.value;
  }

 private:
  static constexpr size_t kEmpty = ~size_t{0};
  struct Slot {
    uint64_t key = 0;
    size_t value = kEmpty;
  };
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  size_t find(uint64_t key) const {
    size_t mask = slots_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask)
      if (slots_[i].value == kEmpty || slots_[i].key == key) return i;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : 2 * old.size(), Slot{});
    for (const Slot& s : old)
      if (s.value != kEmpty) slots_[find(s.key)] = s;
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

// Normalised attribute values -> the resources that have them, in the order they were added.
// The strings live in one buffer; open addressing; no allocation per entry.
class ValueIndex {
 public:
  void add(std::string_view key, size_t res) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    size_t h = std::hash<std::string_view>()(key);
    Slot& s = slots_[find(key, h)];
    size_t node = nodes_.size();
    nodes_.push_back({res, kNone});
    if (s.head == kNone) {
      s = Slot{h, arena_.size(), key.size(), node, node};
      arena_.append(key);
      ++used_;
    } else {
      nodes_[s.tail].next = node;
      s.tail = node;
    }
  }
  static constexpr size_t kNone = ~size_t{0};
  // The first of the resources added under `key` (kNone when none); next() gives the others.
  size_t first(std::string_view key) const {
    if (slots_.empty()) return kNone;
    return slots_[find(key, std::hash<std::string_view>()(key))].head;
  }
  size_t next(size_t node) const { return nodes_[node].next; }
  size_t resource(size_t node) const { return nodes_[node].res; }

 private:
  struct Slot {
    size_t hash = 0, off = 0, len = 0;
    size_t head = kNone, tail = kNone;
  };
  struct Node {
    size_t res, next;
  };
  size_t find(std::string_view key, size_t h) const {
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.head == kNone) return i;
      if (s.hash == h && std::string_view(arena_).substr(s.off, s.len) == key) return i;
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : 2 * old.size(), Slot{});
    size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.head == kNone) continue;
      size_t i = s.hash & mask;
      while (slots_[i].head != kNone) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::vector<Node> nodes_;
  std::string arena_;
  size_t used_ = 0;
};

// Calls f(string) for each string of normalize(v, c).strings(); one string values need no Value.
template <class F>
void each_normalized(const Value& v, Compare c, std::string& buf, F&& f) {
  if (v.is_string()) {
    buf.clear();
    if (append_normalized(buf, v.as_string(), c)) return f(std::string_view(buf));
  }
  for (const auto& s : normalize(v, c).strings()) f(std::string_view(s));
}

// What Graph::build needs to know about one resource type, worked out once per type.
struct TypeInfo {
  const TypeSpec* spec = nullptr;
  size_t name_id = 0;  // types are told apart by name, as the declarations name them
  // Attributes that reference rules of any type match against: (attribute, value index).
  std::vector<std::pair<const AttrSpec*, size_t>> indexed;
  // The attributes read (indexed or with rules), each once: looked up once per resource for both
  // passes; `indexed_at` and Rule::at are positions in it.
  std::vector<const AttrSpec*> used;
  std::vector<size_t> indexed_at;
  struct Rule {
    const AttrSpec* attr = nullptr;     // of this type, with the rule
    size_t at = 0;                      // attr in `used`
    size_t index = 0;                   // value index of rule.match
    Compare compare = Compare::kExact;  // how the rule's target attribute compares
    std::vector<bool> from;             // by name_id: types the rule names
    std::string why;
    // The last string values looked up and what they found: neighbours often refer to the
    // same few things (a zone, an OU, a database).
    static constexpr size_t kRecent = 4;
    std::string recent[kRecent];
    size_t recent_first[kRecent] = {};
    size_t recent_count = 0;
  };
  mutable std::vector<Rule> rules;  // in declaration order (attribute, then rule)
  struct After {
    size_t name_id;  // or kNoType when no resource has that type
    std::string why;
  };
  std::vector<After> after;
};
constexpr size_t kNoType = ~size_t{0};

// out[k] = the value of attribute used[k], or null.
void find_values(const AttrMap& attrs, const std::vector<const AttrSpec*>& used,
                 std::vector<const Value*>& out) {
  out.resize(used.size());
  for (size_t k = 0; k < used.size(); ++k) {
    auto it = attrs.find(used[k]->name);
    out[k] = it == attrs.end() ? nullptr : &it->second;
  }
}

}  // namespace

struct Graph::Impl {
  BGraph g;
  EdgeIndex edge_at;  // (from << 32 | to) -> index in edges_
};

Graph::~Graph() = default;

size_t Graph::size() const { return boost::num_vertices(impl_->g); }

const EdgeInfo* Graph::edge(size_t from, size_t to) const {
  const size_t* at = impl_->edge_at.get((static_cast<uint64_t>(from) << 32) | to);
  return at ? &edges_[*at] : nullptr;
}

std::unique_ptr<Graph> Graph::build(const Manifest& m, std::vector<Error>* errors) {
  std::unique_ptr<Graph> g(new Graph());
  g->impl_ = std::make_unique<Impl>();
  size_t n = m.resources.size();

  // Edges are collected first and stored once their number is known.
  struct Found {
    size_t from, to;
    const std::string* kind;
    const std::string* why;
    const Loc* loc;           // where it was declared, or
    const std::string* attr;  // the attribute of resource `attr_of` (its location) that made it
    size_t attr_of;
  };
  std::vector<Found> found;
  std::unordered_set<uint64_t> reported;
  auto add = [&](size_t dep, size_t res, const std::string& kind, const std::string& why,
                 const Loc* loc, const std::string* attr) {
    if (dep == res) return;
    const Resource& d = m.resources[dep];
    const Resource& r = m.resources[res];
    if (d.absent && !r.absent) {
      if (errors && reported.insert((static_cast<uint64_t>(dep) << 32) | res).second)
        errors->push_back(Error::Invalid("needs " + d.id + ", which is ensure = \"absent\"" +
                                             (why.empty() ? "" : " (" + why + ")"),
                                         "remove the dependency or make both absent")
                              .at(loc ? *loc : r.loc_of(*attr))
                              .on(r.id));
      return;
    }
    size_t attr_of = res;  // the resource whose attribute made it, before the swap below
    if (d.absent && r.absent) std::swap(dep, res);  // delete dependents first
    uint64_t key = (static_cast<uint64_t>(dep) << 32) | res;
    if (g->impl_->edge_at.insert(key, found.size()) != found.size()) return;
    found.push_back({dep, res, &kind, &why, loc, attr, attr_of});
  };

  // Explicit and reference dependencies.
  const std::string no_why;
  for (size_t i = 0; i < n; ++i) {
    for (const auto& d : m.resources[i].deps) {
      if (auto it = m.index.find(d.target); it != m.index.end()) {
        add(it->second, i, d.kind, no_why, &d.loc, nullptr);
      } else if (auto git = m.groups.find(d.target); git != m.groups.end()) {
        for (size_t j : git->second) add(j, i, d.kind, no_why, &d.loc, nullptr);
      }
    }
  }

  // Inferred: attribute reference rules. Index the attributes that rules match against, by
  // (attribute, normalised value), once; a rule's lookup then filters by the types it names.
  // Resources of one type come together: the type of each is found from the previous one's.
  std::vector<TypeInfo> infos;
  std::vector<const std::string*> names;  // by name_id
  std::vector<size_t> info_of(n);
  for (size_t i = 0, last = kNoType; i < n; ++i) {
    const TypeSpec* t = m.resources[i].type;
    if (last == kNoType || infos[last].spec != t) {
      last = 0;
      while (last < infos.size() && infos[last].spec != t) ++last;
      if (last == infos.size()) {
        TypeInfo info;
        info.spec = t;
        info.name_id = 0;
        while (info.name_id < names.size() && *names[info.name_id] != t->name) ++info.name_id;
        if (info.name_id == names.size()) names.push_back(&t->name);
        infos.push_back(std::move(info));
      }
    }
    info_of[i] = last;
  }
  auto name_id = [&](const std::string& type) {
    for (size_t k = 0; k < names.size(); ++k)
      if (*names[k] == type) return k;
    return kNoType;
  };
  std::vector<std::string> matched;  // attribute names rules match, one value index each
  auto index_of = [&](const std::string& attr) {
    size_t k = std::find(matched.begin(), matched.end(), attr) - matched.begin();
    if (k == matched.size()) matched.push_back(attr);
    return k;
  };
  for (const auto& t : all_types())
    for (const auto& a : t.attrs)
      for (const auto& rule : a.refs) index_of(rule.match);
  for (auto& info : infos) {
    const TypeSpec& t = *info.spec;
    for (const auto& a : t.attrs) {
      bool wanted = false;  // some rule of some type matches this type's attribute
      for (const auto& ot : all_types())
        for (const auto& oa : ot.attrs)
          for (const auto& rule : oa.refs)
            wanted = wanted ||
                     (rule.match == a.name &&
                      std::find(rule.types.begin(), rule.types.end(), t.name) != rule.types.end());
      if (wanted) info.indexed.emplace_back(&a, index_of(a.name));
      for (const auto& rule : a.refs) {
        // The rule's target attributes compare alike (all DNs, all names): normalise once.
        const TypeSpec* first = find_type(rule.types.front());
        const AttrSpec* ma = first ? first->attr(rule.match) : nullptr;
        if (!ma) continue;
        TypeInfo::Rule ri;
        ri.attr = &a;
        ri.index = index_of(rule.match);
        ri.compare = ma->compare;
        ri.from.assign(names.size(), false);
        ri.why = a.name + ": " + rule.what;
        for (const auto& tt : rule.types)
          if (size_t id = name_id(tt); id != kNoType) ri.from[id] = true;
        info.rules.push_back(std::move(ri));
      }
    }
    for (const auto& tt : t.after_all)
      info.after.push_back({name_id(tt), t.name + " comes after every " + tt});
  }

  // Only values some resource here will look up are indexed.
  std::vector<bool> looked_up(matched.size(), false);
  for (const auto& info : infos)
    for (const auto& rule : info.rules) looked_up[rule.index] = true;
  for (auto& info : infos) {
    info.indexed.erase(std::remove_if(info.indexed.begin(), info.indexed.end(),
                                      [&](const auto& e) { return !looked_up[e.second]; }),
                       info.indexed.end());
    for (const auto& e : info.indexed) info.used.push_back(e.first);
    for (const auto& rule : info.rules) info.used.push_back(rule.attr);
    std::sort(info.used.begin(), info.used.end(),
              [](const AttrSpec* a, const AttrSpec* b) { return a->name < b->name; });
    info.used.erase(std::unique(info.used.begin(), info.used.end()), info.used.end());
    auto at = [&](const AttrSpec* a) {
      return static_cast<size_t>(std::find(info.used.begin(), info.used.end(), a) -
                                 info.used.begin());
    };
    for (const auto& e : info.indexed) info.indexed_at.push_back(at(e.first));
    for (auto& rule : info.rules) rule.at = at(rule.attr);
  }
  std::vector<ValueIndex> by_value(matched.size());
  std::vector<std::vector<size_t>> by_type(names.size());
  std::string buf;
  // The attributes each resource's rules read, found once for both passes.
  std::vector<size_t> values_at(n + 1, 0);
  for (size_t i = 0; i < n; ++i) values_at[i + 1] = values_at[i] + infos[info_of[i]].used.size();
  std::vector<const Value*> all_values(values_at[n]), found_values;
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    const TypeInfo& info = infos[info_of[i]];
    by_type[info.name_id].push_back(i);
    if (info.used.empty()) continue;
    find_values(r.attrs, info.used, found_values);
    std::copy(found_values.begin(), found_values.end(), all_values.begin() + values_at[i]);
    const Value* const* values = all_values.data() + values_at[i];
    for (size_t k = 0; k < info.indexed.size(); ++k) {
      const Value* v = values[info.indexed_at[k]];
      if (!v) continue;
      const auto& [a, index] = info.indexed[k];
      each_normalized(*v, a->compare, buf,
                      [&, index = index](std::string_view s) { by_value[index].add(s, i); });
    }
  }
  const std::string inferred = "inferred";
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    const TypeInfo& info = infos[info_of[i]];
    const Value* const* values = all_values.data() + values_at[i];
    for (auto& rule : info.rules) {
      const AttrSpec* attr = rule.attr;
      const Value* value = values[rule.at];
      if (!value) continue;
      const ValueIndex& index = by_value[rule.index];
      auto from = [&](size_t node) {
        for (; node != ValueIndex::kNone; node = index.next(node)) {
          size_t j = index.resource(node);
          if (rule.from[infos[info_of[j]].name_id])
            add(j, i, inferred, rule.why, nullptr, &attr->name);
        }
      };
      if (value->is_string()) {
        const std::string& s = value->as_string();
        size_t k = 0, known = std::min(rule.recent_count, TypeInfo::Rule::kRecent);
        // (names that differ mostly differ at the end: bench_user_1, bench_user_2)
        auto same = [&](const std::string& x) {
          return x.size() == s.size() && (s.empty() || x.back() == s.back()) && x == s;
        };
        while (k < known && !same(rule.recent[k])) ++k;
        if (k < known) {
          from(rule.recent_first[k]);
          continue;
        }
        buf.clear();
        if (append_normalized(buf, s, rule.compare)) {
          size_t slot = rule.recent_count++ % TypeInfo::Rule::kRecent;
          rule.recent[slot] = s;
          rule.recent_first[slot] = index.first(buf);
          from(rule.recent_first[slot]);
          continue;
        }
      }
      each_normalized(*value, rule.compare, buf, [&](std::string_view v) { from(index.first(v)); });
    }
    for (const auto& after : info.after) {
      if (after.name_id == kNoType) continue;
      for (size_t j : by_type[after.name_id]) add(j, i, inferred, after.why, &r.loc, nullptr);
    }
  }

  // Store the edges: each vertex's lists in the order the edges were found.
  g->pred_at_.assign(n + 1, 0);
  g->succ_at_.assign(n + 1, 0);
  for (const auto& f : found) {
    ++g->pred_at_[f.to + 1];
    ++g->succ_at_[f.from + 1];
  }
  for (size_t v = 0; v < n; ++v) {
    g->pred_at_[v + 1] += g->pred_at_[v];
    g->succ_at_[v + 1] += g->succ_at_[v];
  }
  g->preds_.resize(found.size());
  g->succs_.resize(found.size());
  std::vector<size_t> pred_next(g->pred_at_.begin(), g->pred_at_.end() - 1);
  std::vector<size_t> succ_next(g->succ_at_.begin(), g->succ_at_.end() - 1);
  g->edges_.reserve(found.size());
  std::vector<std::pair<size_t, size_t>> pairs;
  pairs.reserve(found.size());
  for (const auto& f : found) {
    g->edges_.push_back(
        {f.from, f.to, *f.kind, *f.why, f.loc ? *f.loc : m.resources[f.attr_of].loc_of(*f.attr)});
    g->preds_[pred_next[f.to]++] = f.from;
    g->succs_[succ_next[f.from]++] = f.to;
    pairs.emplace_back(f.from, f.to);
  }
  g->impl_->g = BGraph(boost::edges_are_unsorted_multi_pass, pairs.begin(), pairs.end(), n);
  return g;
}

namespace {
struct CycleVisitor : boost::default_dfs_visitor {
  std::vector<size_t>* stack;
  std::vector<size_t>* cycle;
  template <class V>
  void discover_vertex(V v, const BGraph&) const {
    stack->push_back(v);
  }
  template <class V>
  void finish_vertex(V, const BGraph&) const {
    stack->pop_back();
  }
  template <class E>
  void back_edge(E e, const BGraph& g) const {
    if (!cycle->empty()) return;
    size_t u = boost::source(e, g), v = boost::target(e, g);
    auto it = std::find(stack->begin(), stack->end(), v);
    cycle->assign(it, stack->end());
    (void)u;
  }
};
}  // namespace

std::optional<std::vector<EdgeInfo>> Graph::find_cycle() const {
  std::vector<size_t> stack, cycle;
  CycleVisitor vis;
  vis.stack = &stack;
  vis.cycle = &cycle;
  boost::depth_first_search(impl_->g, boost::visitor(vis));
  if (cycle.empty()) return std::nullopt;
  std::vector<EdgeInfo> out;
  for (size_t i = 0; i < cycle.size(); ++i) {
    size_t a = cycle[i], b = cycle[(i + 1) % cycle.size()];
    if (const EdgeInfo* e = edge(a, b)) out.push_back(*e);
  }
  return out;
}

std::vector<size_t> Graph::topo_order() const {
  // Kahn's algorithm, always taking the ready resource declared first: plans read in manifest
  // order wherever dependencies allow.
  std::vector<size_t> indegree(size(), 0), out;
  out.reserve(size());
  for (size_t v = 0; v < size(); ++v) indegree[v] = before(v).size();
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t v = 0; v < size(); ++v)
    if (indegree[v] == 0) ready.push(v);
  while (!ready.empty()) {
    size_t v = ready.top();
    ready.pop();
    out.push_back(v);
    for (size_t w : after(v))
      if (--indegree[w] == 0) ready.push(w);
  }
  return out;
}

std::string describe_cycle(const Manifest& m, const std::vector<EdgeInfo>& cycle) {
  std::string out;
  for (const auto& e : cycle) {
    if (out.empty()) out = m.resources[e.from].id;
    std::string how = e.kind == "depends_on"  ? "explicit depends_on"
                      : e.kind == "reference" ? "explicit ${} reference"
                                              : "inferred: " + e.why;
    out += " -> " + m.resources[e.to].id + " (" + e.loc.str() + ", " + how + ")";
  }
  return out;
}

std::string Graph::to_dot(const Manifest& m) const {
  std::string out =
      "digraph converge {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  auto q = [](const std::string& s) {
    std::string r = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') r += '\\';
      r += c;
    }
    return r + "\"";
  };
  for (const auto& r : m.resources) {
    out += "  " + q(r.id);
    if (r.type->check_only)
      out += " [style=dashed]";
    else if (r.absent)
      out += " [color=red]";
    out += ";\n";
  }
  for (const auto& e : edges_) {
    out += "  " + q(m.resources[e.from].id) + " -> " + q(m.resources[e.to].id);
    if (e.kind == "inferred") out += " [style=dotted, tooltip=" + q(e.why) + "]";
    out += ";\n";
  }
  return out + "}\n";
}

std::string Graph::to_json(const Manifest& m) const {
  nlohmann::json j;
  j["format_version"] = "1";
  j["nodes"] = nlohmann::json::array();
  for (const auto& r : m.resources)
    j["nodes"].push_back(
        {{"id", r.id}, {"type", r.type->name}, {"ensure", r.absent ? "absent" : "present"}});
  j["edges"] = nlohmann::json::array();
  for (const auto& e : edges_)
    j["edges"].push_back({{"from", m.resources[e.from].id},
                          {"to", m.resources[e.to].id},
                          {"kind", e.kind},
                          {"why", e.why},
                          {"at", e.loc.str()}});
  if (auto c = find_cycle()) j["cycle"] = describe_cycle(m, *c);
  return j.dump(2) + "\n";
}

}  // namespace converge
