#include "engine/graph.h"

#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "engine/values.h"

namespace converge {

// Built once from the edge list: each vertex's out-edges stay in the order they were added
// (depth-first search, and so the cycle reported, follows that order).
using BGraph = boost::compressed_sparse_row_graph<boost::directedS>;

namespace {

uint64_t edge_key(size_t from, size_t to) { return (static_cast<uint64_t>(from) << 32) | to; }

// Calls f(s) for each string s of normalize(v, c).strings(); a single string is normalised into
// `buf`, without a Value or a vector (there is one per reference of every resource).
template <class F>
void each_normalized(const Value& v, Compare c, std::string& buf, F&& f) {
  buf.clear();
  if (v.is_string() && append_normalized(buf, v.as_string(), c)) return f(buf);
  for (const auto& s : normalize(v, c).strings()) f(s);
}

// Normalised values of one attribute -> the resources that have them, in manifest order.
using ValueIndex = std::unordered_map<std::string, std::vector<size_t>>;

// A reference rule of one attribute, with the types it names resolved.
struct Rule {
  const AttrSpec* attr;               // of the referring type
  const ValueIndex* index;            // of the attribute the rule matches (RefRule::match)
  std::vector<const TypeSpec*> from;  // the types named
  Compare compare;                    // the named attribute's: values are normalised by it
  std::string why;
};

// What Graph::build needs to know of one resource type, worked out once per type.
struct TypeRules {
  // Attributes some rule of some type matches against, with their index.
  std::vector<std::pair<const AttrSpec*, ValueIndex*>> indexed;
  std::vector<Rule> rules;  // in declaration order (attribute, then rule)
  std::vector<std::pair<const TypeSpec*, std::string>> after;  // after_all: (type, why)
};

// `indexes`: matched attribute name -> its index (std::map: the indexes stay where they are).
TypeRules rules_of(const TypeSpec& t, std::map<std::string, ValueIndex>& indexes) {
  TypeRules out;
  for (const auto& a : t.attrs) {
    bool wanted = false;
    for (const auto& ot : all_types())
      for (const auto& oa : ot.attrs)
        for (const auto& ref : oa.refs)
          wanted = wanted || (ref.match == a.name && std::find(ref.types.begin(), ref.types.end(),
                                                               t.name) != ref.types.end());
    if (wanted) out.indexed.emplace_back(&a, &indexes[a.name]);
    for (const auto& ref : a.refs) {
      // The named attributes compare alike (all DNs, all names): the first one's Compare.
      const TypeSpec* first = find_type(ref.types.front());
      const AttrSpec* match = first ? first->attr(ref.match) : nullptr;
      if (!match) continue;
      Rule rule{&a, &indexes[ref.match], {}, match->compare, a.name + ": " + ref.what};
      for (const auto& name : ref.types)
        if (const TypeSpec* ts = find_type(name)) rule.from.push_back(ts);
      out.rules.push_back(std::move(rule));
    }
  }
  for (const auto& name : t.after_all)
    if (const TypeSpec* ts = find_type(name))
      out.after.emplace_back(ts, t.name + " comes after every " + name);
  return out;
}

}  // namespace

struct Graph::Impl {
  BGraph g;
  std::unordered_map<uint64_t, size_t> edge_at;  // edge_key(from, to) -> index in edges_
};

Graph::~Graph() = default;

size_t Graph::size() const { return boost::num_vertices(impl_->g); }

const EdgeInfo* Graph::edge(size_t from, size_t to) const {
  auto it = impl_->edge_at.find(edge_key(from, to));
  return it == impl_->edge_at.end() ? nullptr : &edges_[it->second];
}

std::unique_ptr<Graph> Graph::build(const Manifest& m, std::vector<Error>* errors) {
  std::unique_ptr<Graph> g(new Graph());
  g->impl_ = std::make_unique<Impl>();
  size_t n = m.resources.size();
  std::unordered_set<uint64_t> reported;
  auto add = [&](size_t dep, size_t res, const std::string& kind, const std::string& why,
                 const Loc& loc) {
    if (dep == res) return;
    const Resource& d = m.resources[dep];
    const Resource& r = m.resources[res];
    if (d.absent && !r.absent) {
      if (errors && reported.insert(edge_key(dep, res)).second)
        errors->push_back(Error::Invalid("needs " + d.id + ", which is ensure = \"absent\"" +
                                             (why.empty() ? "" : " (" + why + ")"),
                                         "remove the dependency or make both absent")
                              .at(loc)
                              .on(r.id));
      return;
    }
    if (d.absent && r.absent) std::swap(dep, res);  // delete dependents first
    if (g->impl_->edge_at.try_emplace(edge_key(dep, res), g->edges_.size()).second)
      g->edges_.push_back({dep, res, kind, why, loc});
  };

  // Explicit and reference dependencies.
  for (size_t i = 0; i < n; ++i) {
    for (const auto& d : m.resources[i].deps) {
      if (auto it = m.index.find(d.target); it != m.index.end()) {
        add(it->second, i, d.kind, "", d.loc);
      } else if (auto git = m.groups.find(d.target); git != m.groups.end()) {
        for (size_t j : git->second) add(j, i, d.kind, "", d.loc);
      }
    }
  }

  // Inferred: attribute reference rules, through an index of the attributes rules match against
  // by (attribute, normalised value); a lookup then keeps the resources of the types named.
  std::unordered_map<const TypeSpec*, TypeRules> types;
  std::unordered_map<const TypeSpec*, std::vector<size_t>> by_type;
  std::map<std::string, ValueIndex> by_value;  // matched attribute -> its index
  std::string buf;
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    auto [t, added] = types.try_emplace(r.type);
    if (added) t->second = rules_of(*r.type, by_value);
    by_type[r.type].push_back(i);
    for (const auto& [a, index] : t->second.indexed)
      if (auto v = r.attrs.find(a->name); v != r.attrs.end())
        each_normalized(v->second, a->compare, buf,
                        [&, index = index](const std::string& s) { (*index)[s].push_back(i); });
  }
  const std::string inferred = "inferred";
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    const TypeRules& t = types.at(r.type);
    for (const Rule& rule : t.rules) {
      auto v = r.attrs.find(rule.attr->name);
      if (v == r.attrs.end() || rule.index->empty()) continue;
      each_normalized(v->second, rule.compare, buf, [&](const std::string& s) {
        auto found = rule.index->find(s);
        if (found == rule.index->end()) return;
        Loc loc = r.loc_of(rule.attr->name);
        for (size_t j : found->second)
          if (std::find(rule.from.begin(), rule.from.end(), m.resources[j].type) != rule.from.end())
            add(j, i, inferred, rule.why, loc);
      });
    }
    for (const auto& [type, why] : t.after)
      if (auto it = by_type.find(type); it != by_type.end())
        for (size_t j : it->second) add(j, i, inferred, why, r.loc);
  }

  // Each vertex's predecessors and successors, in the order the edges were found.
  g->pred_at_.assign(n + 1, 0);
  g->succ_at_.assign(n + 1, 0);
  for (const auto& e : g->edges_) {
    ++g->pred_at_[e.to + 1];
    ++g->succ_at_[e.from + 1];
  }
  for (size_t v = 0; v < n; ++v) {
    g->pred_at_[v + 1] += g->pred_at_[v];
    g->succ_at_[v + 1] += g->succ_at_[v];
  }
  g->preds_.resize(g->edges_.size());
  g->succs_.resize(g->edges_.size());
  std::vector<size_t> pred_next(g->pred_at_.begin(), g->pred_at_.end() - 1);
  std::vector<size_t> succ_next(g->succ_at_.begin(), g->succ_at_.end() - 1);
  std::vector<std::pair<size_t, size_t>> pairs;
  pairs.reserve(g->edges_.size());
  for (const auto& e : g->edges_) {
    g->preds_[pred_next[e.to]++] = e.from;
    g->succs_[succ_next[e.from]++] = e.to;
    pairs.emplace_back(e.from, e.to);
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
