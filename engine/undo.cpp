#include "engine/undo.h"

#include <map>

namespace converge {
namespace {

// The inverse of one applied change; action kNoop when there is nothing to reverse.
PlannedResource inverse_of(const PlannedResource& r, bool allow_destroy) {
  PlannedResource u;
  u.id = r.id;
  u.type = r.type;
  u.provider = r.provider;
  u.drift = r.drift;
  switch (r.action) {
    case Action::kCreate:
      u.action = Action::kDelete;
      u.desired = r.desired;
      u.exists = true;
      if (r.type->holds_data && !allow_destroy) {
        u.action = Action::kBlocked;
        u.reason = "undo would delete a " + r.type->name + " that holds data; pass --allow-destroy";
      }
      break;
    case Action::kUpdate:
      u.action = Action::kUpdate;
      u.desired = r.desired;
      u.exists = true;
      for (const auto& ch : r.changes) {
        u.desired[ch.attr] = ch.before;
        u.changes.push_back({ch.attr, ch.after, ch.before, ch.sensitive});
      }
      break;
    case Action::kDelete:
      u.action = Action::kCreate;
      u.desired = r.before;
      for (const auto& [k, v] : r.before) u.changes.push_back({k, Value(), v, false});
      break;
    default:
      u.action = Action::kNoop;
  }
  return u;
}

// Whether `o` is the state the applied change `orig` left behind.
bool as_left(const PlannedResource& orig, const Observation& o) {
  if (orig.action == Action::kDelete) return !o.exists;
  if (!o.exists) return false;
  if (orig.action != Action::kUpdate) return true;
  for (const auto& ch : orig.changes) {
    const AttrSpec* a = orig.type->attr(ch.attr);
    auto have = o.attrs.find(ch.attr);
    if (!a || have == o.attrs.end() || !satisfies(ch.after, have->second, a->compare)) return false;
  }
  return true;
}

}  // namespace

std::vector<const PlannedResource*> applied_changes(const Plan& stored,
                                                    const std::vector<ChangeRecord>& changes) {
  std::map<std::string, const PlannedResource*> by_id;
  for (const auto& r : stored.resources) by_id[r.id] = &r;
  std::vector<const PlannedResource*> applied;
  for (const auto& ch : changes)
    if (auto it = by_id.find(ch.resource); ch.status == "applied" && it != by_id.end())
      applied.push_back(it->second);
  return applied;
}

Plan inverse_plan(const Plan& stored, const std::vector<const PlannedResource*>& applied,
                  bool allow_destroy) {
  Plan inverse = stored;
  inverse.resources.clear();
  inverse.notes.clear();
  inverse.allow_destroy = allow_destroy;
  std::map<std::string, Action> undo_action;
  std::map<std::string, const PlannedResource*> orig;
  for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
    PlannedResource u = inverse_of(**it, allow_destroy);
    if (u.action == Action::kNoop) continue;
    undo_action[u.id] = u.action;
    orig[u.id] = *it;
    inverse.resources.push_back(std::move(u));
  }
  std::map<std::string, size_t> at;
  for (size_t k = 0; k < inverse.resources.size(); ++k) at[inverse.resources[k].id] = k;
  for (auto& u : inverse.resources) {
    for (const auto& d : orig[u.id]->depends_on) {
      auto a = undo_action.find(d);
      if (a == undo_action.end()) continue;
      if (a->second == Action::kDelete)
        inverse.resources[at[d]].depends_on.push_back(
            u.id);  // d was created before u: u goes first
      else
        u.depends_on.push_back(d);
    }
  }
  return inverse;
}

std::vector<std::string> moved_since(const std::vector<const PlannedResource*>& applied,
                                     Plan& inverse, ProviderMap& providers) {
  std::map<std::string, const PlannedResource*> orig;
  for (const auto* r : applied) orig[r->id] = r;
  std::vector<ObserveItem> items;
  for (const auto& u : inverse.resources) items.push_back({u.view(), u.provider});
  auto now = observe_all(items, providers, nullptr);
  std::vector<std::string> moved;
  for (size_t k = 0; k < inverse.resources.size(); ++k) {
    PlannedResource& u = inverse.resources[k];
    const Observation& o = now[k];
    if (o.error) {
      moved.push_back(u.id + ": cannot observe: " + o.error->str());
      continue;
    }
    if (!as_left(*orig.at(u.id), o)) moved.push_back(u.id);
    u.before = o.attrs;
  }
  return moved;
}

}  // namespace converge
