// Graph: the dependency graph of a manifest's resources (Boost.Graph, hidden here).
//
// Vertices are resource positions in Manifest::resources. An edge u -> v means "u must be done
// before v". Edges come from depends_on, from ${...} references, from attribute reference rules
// declared in the type registry (a group_member needs its group and member, an ACE its object
// and principal, an MX record the address record of an in-zone target, ...) and from after_all
// rules. Between two resources that are both ensure = "absent" the edge is reversed: dependents
// go first when deleting. Each edge remembers where it came from, for cycle reports.
// Built once, then read-only: safe to read from many threads.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/manifest.h"

namespace converge {

struct EdgeInfo {
  size_t from = 0;
  size_t to = 0;
  std::string kind;  // "depends_on", "reference", "inferred"
  std::string why;   // for inferred edges: the rule
  Loc loc;
};

class Graph {
 public:
  // Builds the graph. Contradictions (a present resource that needs an absent one) are returned
  // as errors; a cycle is not an error here (see find_cycle) so that it can still be exported.
  static std::unique_ptr<Graph> build(const Manifest& m, std::vector<Error>* errors);
  ~Graph();

  size_t size() const;
  // Resources that must be done before `v` / that wait for `v`, in the order the edges were found.
  std::span<const size_t> before(size_t v) const {
    return {preds_.data() + pred_at_[v], pred_at_[v + 1] - pred_at_[v]};
  }
  std::span<const size_t> after(size_t v) const {
    return {succs_.data() + succ_at_[v], succ_at_[v + 1] - succ_at_[v]};
  }
  const std::vector<EdgeInfo>& edges() const { return edges_; }
  const EdgeInfo* edge(size_t from, size_t to) const;

  // The edges of one cycle in order, or nothing when the graph is acyclic.
  std::optional<std::vector<EdgeInfo>> find_cycle() const;
  // A topological order. REQUIRES: acyclic.
  std::vector<size_t> topo_order() const;

  std::string to_dot(const Manifest& m) const;
  std::string to_json(const Manifest& m) const;

 private:
  Graph() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<EdgeInfo> edges_;
  // Every vertex's predecessors (successors) one after the other; vertex v's start at
  // pred_at_[v] (succ_at_[v]).
  std::vector<size_t> preds_, succs_, pred_at_, succ_at_;
};

// Formats a cycle as "a -> b (file:line, explicit depends_on) -> ... -> a".
std::string describe_cycle(const Manifest& m, const std::vector<EdgeInfo>& cycle);

}  // namespace converge
