#include "engine/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "engine/values.h"

namespace converge {

using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                     boost::property<boost::edge_index_t, size_t>>;

struct Graph::Impl {
  BGraph g;
  std::unordered_map<uint64_t, size_t> edge_at;  // (from << 32 | to) -> index in edges_
};

Graph::~Graph() = default;

size_t Graph::size() const { return boost::num_vertices(impl_->g); }

const EdgeInfo* Graph::edge(size_t from, size_t to) const {
  auto it = impl_->edge_at.find((static_cast<uint64_t>(from) << 32) | to);
  return it == impl_->edge_at.end() ? nullptr : &edges_[it->second];
}

std::unique_ptr<Graph> Graph::build(const Manifest& m, std::vector<Error>* errors) {
  std::unique_ptr<Graph> g(new Graph());
  g->impl_ = std::make_unique<Impl>();
  size_t n = m.resources.size();
  g->impl_->g = BGraph(n);
  g->preds_.resize(n);
  g->succs_.resize(n);

  std::unordered_set<uint64_t> reported;
  auto add = [&](size_t dep, size_t res, std::string kind, std::string why, Loc loc) {
    if (dep == res) return;
    const Resource& d = m.resources[dep];
    const Resource& r = m.resources[res];
    if (d.absent && !r.absent) {
      if (errors && reported.insert((static_cast<uint64_t>(dep) << 32) | res).second)
        errors->push_back(Error::Invalid("needs " + d.id + ", which is ensure = \"absent\"" +
                                             (why.empty() ? "" : " (" + why + ")"),
                                         "remove the dependency or make both absent")
                              .at(loc)
                              .on(r.id));
      return;
    }
    if (d.absent && r.absent) std::swap(dep, res);  // delete dependents first
    uint64_t key = (static_cast<uint64_t>(dep) << 32) | res;
    if (g->impl_->edge_at.count(key)) return;
    g->impl_->edge_at[key] = g->edges_.size();
    boost::add_edge(dep, res, g->edges_.size(), g->impl_->g);
    g->edges_.push_back({dep, res, std::move(kind), std::move(why), std::move(loc)});
    g->preds_[res].push_back(dep);
    g->succs_[dep].push_back(res);
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

  // Inferred: attribute reference rules. Index the attributes that rules match against, by
  // (attribute, normalised value), once; a rule's lookup then filters by the types it names.
  std::unordered_set<std::string> wanted;  // "type|attr"
  for (const auto& t : all_types())
    for (const auto& a : t.attrs)
      for (const auto& rule : a.refs)
        for (const auto& tt : rule.types) wanted.insert(tt + "|" + rule.match);
  std::unordered_map<std::string, std::vector<size_t>> by_value;  // "attr\0value" -> resources
  std::unordered_map<std::string, std::vector<size_t>> by_type;
  std::string key;
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    by_type[r.type->name].push_back(i);
    for (const auto& a : r.type->attrs) {
      if (!wanted.count(r.type->name + "|" + a.name)) continue;
      auto it = r.attrs.find(a.name);
      if (it == r.attrs.end()) continue;
      for (const auto& v : normalize(it->second, a.compare).strings()) {
        key.assign(a.name).push_back('\0');
        key += v;
        by_value[key].push_back(i);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const Resource& r = m.resources[i];
    for (const auto& a : r.type->attrs) {
      if (a.refs.empty()) continue;
      auto it = r.attrs.find(a.name);
      if (it == r.attrs.end()) continue;
      for (const auto& rule : a.refs) {
        // The rule's target attributes compare alike (all DNs, all names): normalise once.
        const TypeSpec* first = find_type(rule.types.front());
        const AttrSpec* ma = first ? first->attr(rule.match) : nullptr;
        if (!ma) continue;
        for (const auto& v : normalize(it->second, ma->compare).strings()) {
          key.assign(rule.match).push_back('\0');
          key += v;
          auto hit = by_value.find(key);
          if (hit == by_value.end()) continue;
          for (size_t j : hit->second) {
            const std::string& tn = m.resources[j].type->name;
            if (std::find(rule.types.begin(), rule.types.end(), tn) != rule.types.end())
              add(j, i, "inferred", a.name + ": " + rule.what, r.loc_of(a.name));
          }
        }
      }
    }
    for (const auto& tt : r.type->after_all) {
      auto hit = by_type.find(tt);
      if (hit == by_type.end()) continue;
      for (size_t j : hit->second)
        add(j, i, "inferred", r.type->name + " comes after every " + tt, r.loc);
    }
  }
  return g;
}

namespace {
struct CycleVisitor : boost::default_dfs_visitor {
  std::vector<size_t>* stack;
  std::vector<size_t>* cycle;
  void discover_vertex(size_t v, const BGraph&) const { stack->push_back(v); }
  void finish_vertex(size_t, const BGraph&) const { stack->pop_back(); }
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
  for (size_t v = 0; v < size(); ++v) indegree[v] = preds_[v].size();
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t v = 0; v < size(); ++v)
    if (indegree[v] == 0) ready.push(v);
  while (!ready.empty()) {
    size_t v = ready.top();
    ready.pop();
    out.push_back(v);
    for (size_t w : succs_[v])
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
