#include "engine/saved_plan.h"

#include <set>

namespace converge {
namespace {

// The comparison "before" and "now" are held to: the attribute's own, except that comparisons
// which accept a range of observed values (at least, at most, subset) must match exactly — the
// plan was made against one value, and another one inside the range is still a different state.
Compare staleness_compare(const AttrSpec* a) {
  Compare c = a ? a->compare : Compare::kExact;
  if (c == Compare::kVersionAtLeast || c == Compare::kAtLeast || c == Compare::kAtMost ||
      c == Compare::kSubset)
    return Compare::kExact;
  return c;
}

// Why `r` is stale given what is observed now, or "" when it is not.
std::string why_stale(const PlannedResource& r, const Observation& o) {
  if (o.error) return "cannot observe: " + o.error->str();
  if (o.exists != r.exists)
    return r.exists ? "existed when planned, now gone" : "did not exist when planned, now exists";
  std::set<std::string> keys;
  for (const auto& [k, _] : r.before) keys.insert(k);
  for (const auto& [k, _] : o.attrs) keys.insert(k);
  for (const auto& k : keys) {
    Compare cmp = staleness_compare(r.type->attr(k));
    auto b = r.before.find(k);
    auto n = o.attrs.find(k);
    Value bv = b == r.before.end() ? Value() : b->second;
    Value nv = n == o.attrs.end() ? Value() : n->second;
    if (normalize(bv, cmp) != normalize(nv, cmp))
      return k + " was " + bv.repr() + " when planned, now " + nv.repr();
  }
  return "";
}

}  // namespace

std::vector<std::string> stale_resources(const Plan& plan, ProviderMap& providers) {
  std::vector<ObserveItem> items;
  std::vector<const PlannedResource*> which;
  for (const auto& r : plan.resources) {
    if (r.observe_error) continue;
    items.push_back({r.view(), r.provider});
    which.push_back(&r);
  }
  auto now = observe_all(items, providers, nullptr);
  std::vector<std::string> stale;
  for (size_t i = 0; i < items.size(); ++i)
    if (std::string why = why_stale(*which[i], now[i]); !why.empty())
      stale.push_back(which[i]->id + ": " + why);
  return stale;
}

}  // namespace converge
