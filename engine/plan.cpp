#include "engine/plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/values.h"

namespace converge {

using json = nlohmann::json;

const Value& ResourceView::get(const std::string& name) const {
  static const Value kNull;
  auto it = attrs->find(name);
  return it == attrs->end() ? kNull : it->second;
}

const char* action_name(Action a) {
  switch (a) {
    case Action::kNoop:
      return "noop";
    case Action::kCreate:
      return "create";
    case Action::kUpdate:
      return "update";
    case Action::kDelete:
      return "delete";
    case Action::kBlocked:
      return "blocked";
  }
  return "?";
}

Result<Action> action_from_name(const std::string& s) {
  for (Action a :
       {Action::kNoop, Action::kCreate, Action::kUpdate, Action::kDelete, Action::kBlocked})
    if (s == action_name(a)) return a;
  return Error::Invalid("unknown action '" + s + "'");
}

PlanSummary Plan::summary() const {
  PlanSummary s;
  for (const auto& r : resources) {
    switch (r.action) {
      case Action::kCreate:
        ++s.create;
        break;
      case Action::kUpdate:
        ++s.update;
        break;
      case Action::kDelete:
        ++s.del;
        break;
      case Action::kNoop:
        ++s.noop;
        break;
      case Action::kBlocked:
        ++s.blocked;
        break;
    }
  }
  return s;
}

ObserveGroups observe_groups(const std::vector<ObserveItem>& items) {
  ObserveGroups groups;
  for (size_t i = 0; i < items.size(); ++i)
    groups[{items[i].provider, items[i].view.type->name}].push_back(i);
  return groups;
}

std::vector<Observation> observe_all(const std::vector<ObserveItem>& items, ProviderMap& providers,
                                     std::vector<std::string>* notes) {
  std::vector<Observation> out(items.size());
  for (auto& [key, idx] : observe_groups(items)) {
    auto pit = providers.find(key.first);
    if (pit == providers.end()) {
      for (size_t i : idx) out[i].error = Error::Internal("no provider '" + key.first + "'");
      continue;
    }
    ObserveRequest req;
    req.type = items[idx[0]].view.type;
    req.resources.reserve(idx.size());
    for (size_t i : idx) req.resources.push_back(items[i].view);
    ObserveResponse resp;
    try {
      resp = pit->second->observe(req);
    } catch (const std::exception& e) {
      resp.results.clear();
      for (size_t k = 0; k < idx.size(); ++k) {
        Observation o;
        o.error = Error::Internal(std::string("provider failed while observing: ") + e.what());
        resp.results.push_back(std::move(o));
      }
    }
    spdlog::debug("observed {} {} resource(s) with provider {}", idx.size(), key.second, key.first);
    if (resp.results.size() != idx.size()) {
      for (size_t i : idx)
        out[i].error = Error::Internal("provider '" + key.first + "' answered " +
                                       std::to_string(resp.results.size()) + " observations for " +
                                       std::to_string(idx.size()) + " resources");
      continue;
    }
    for (size_t k = 0; k < idx.size(); ++k) out[idx[k]] = std::move(resp.results[k]);
    if (notes)
      for (auto& n : resp.notes) notes->push_back(key.first + ": " + n);
  }
  return out;
}

std::vector<Change> diff(const TypeSpec& t, const AttrMap& desired, const AttrMap& observed,
                         bool creating) {
  std::vector<Change> out;
  for (const auto& a : t.attrs) {
    if (a.computed) continue;
    auto d = desired.find(a.name);
    if (d == desired.end() || d->second.is_null()) continue;
    if (creating) {
      Change c{a.name, Value(), d->second, a.type == AttrType::kSecret};
      if (c.sensitive) c.after = Value::Str("(sensitive)");
      out.push_back(std::move(c));
      continue;
    }
    if (a.write_only || a.identity) continue;
    static const Value kAbsent;
    auto o = observed.find(a.name);
    const Value& observed_value = o == observed.end() ? kAbsent : o->second;
    if (satisfies(d->second, observed_value, a.compare)) continue;  // no copy for the usual case
    Value before = observed_value;
    Value after = d->second;
    if (a.compare == Compare::kSubset) {  // the union is what gets written
      std::vector<std::string> u = before.strings();
      for (const auto& s : d->second.strings())
        if (std::none_of(u.begin(), u.end(), [&](const std::string& x) { return iequals(x, s); }))
          u.push_back(s);
      after = Value::StrList(u);
    }
    out.push_back({a.name, std::move(before), std::move(after), false});
  }
  return out;
}

std::string check_failure(const TypeSpec& t, const AttrMap& desired, const AttrMap& observed,
                          bool* restart) {
  std::string out;
  for (const auto& a : t.attrs) {
    auto d = desired.find(a.name);
    if (d == desired.end() || d->second.is_null() || a.identity) continue;
    auto o = observed.find(a.name);
    Value have = o == observed.end() ? Value() : o->second;
    if (satisfies(d->second, have, a.compare)) continue;
    const char* rel = a.compare == Compare::kVersionAtLeast || a.compare == Compare::kAtLeast
                          ? ">= "
                      : a.compare == Compare::kAtMost ? "<= "
                      : a.compare == Compare::kSubset ? "including "
                                                      : "";
    if (!out.empty()) out += "; ";
    out += a.name + ": have " + have.repr() + ", need " + rel + d->second.repr();
    if (a.restart) *restart = true;
  }
  return out;
}

Observed observe_manifest(const Manifest& m, ProviderMap& providers) {
  Observed out;
  std::vector<ObserveItem> items;
  items.reserve(m.resources.size());
  for (const auto& r : m.resources) items.push_back({r.view(), r.provider});
  out.results = observe_all(items, providers, &out.notes);
  return out;
}

Plan make_plan(const Manifest& m, const Graph& g, ProviderMap& providers, const PlanOptions& opt) {
  return make_plan(m, g, observe_manifest(m, providers), providers, opt);
}

namespace {

// A resource's own verdict: what observation and its declaration say, before its dependencies
// are considered.
void decide(const Resource& r, Observation& o, Provider* prov, const PlanOptions& opt,
            PlannedResource& p) {
  const TypeSpec& t = *r.type;
  p.exists = o.exists;
  p.before = std::move(o.attrs);
  p.reason = o.note;
  if (o.error) {
    p.action = Action::kBlocked;
    p.observe_error = o.error;
    p.reason = "could not observe: " + o.error->str();
    return;
  }
  if (t.check_only || (!p.exists && !r.absent && prov && !prov->can_create(t.name))) {
    if (!p.exists) {
      p.action = Action::kBlocked;
      if (p.reason.empty())
        p.reason = t.check_only ? "check failed: not found"
                                : "missing, and provider '" + r.provider + "' cannot create it";
      else if (t.check_only)
        p.reason = "check failed: " + p.reason;
      return;
    }
    bool restart = false;
    std::string why = check_failure(t, r.attrs, p.before, &restart);
    if (!why.empty()) {
      p.action = Action::kBlocked;
      p.reason = "check failed: " + why + (p.reason.empty() ? "" : " (" + p.reason + ")");
      p.restart_required = restart;
    }
    return;
  }
  if (r.absent) {
    if (!p.exists) return;
    if (opt.allow_destroy) {
      p.action = Action::kDelete;
    } else {
      p.action = Action::kBlocked;
      p.reason = "deletion needs --allow-destroy";
    }
    return;
  }
  if (t.copy && r.attrs.count(t.copy->attr) && p.exists) {
    auto src = p.before.find(t.copy->observed);
    if (src == p.before.end() || src->second.is_null()) {
      p.action = Action::kBlocked;
      p.reason = "attribute '" + r.attrs.at(t.copy->attr).text() + "' to copy from is empty";
      return;
    }
    p.desired[t.copy->into] = src->second;
  }
  p.changes = diff(t, p.desired, p.before, !p.exists);
  p.action = !p.exists ? Action::kCreate : p.changes.empty() ? Action::kNoop : Action::kUpdate;
  for (const auto& c : p.changes)
    if (const AttrSpec* a = t.attr(c.attr); a && a->restart) p.restart_required = true;
  if (!t.restart_switch.empty()) {
    auto sw = r.attrs.find(t.restart_switch);
    if (sw == r.attrs.end() || sw->second.kind() != Value::Kind::kBool || !sw->second.as_bool())
      p.restart_required = false;
  }
}

bool is_change(Action a) {
  return a == Action::kCreate || a == Action::kUpdate || a == Action::kDelete;
}

}  // namespace

Plan make_plan(const Manifest& m, const Graph& g, Observed observed, ProviderMap& providers,
               const PlanOptions& opt) {
  Plan plan;
  plan.manifest_path = m.path;
  plan.manifest_hash = m.hash;
  plan.created_at = now_iso();
  plan.allow_destroy = opt.allow_destroy;
  plan.providers = m.providers;
  plan.notes = std::move(observed.notes);

  std::vector<size_t> order = g.topo_order();
  std::vector<size_t> pos(m.resources.size());  // manifest position -> plan position
  for (size_t k = 0; k < order.size(); ++k) pos[order[k]] = k;
  std::vector<char> pending(order.size(), 0);  // this resource or one it depends on changes now
  plan.resources.resize(order.size());

  // In dependency order, so that every dependency's verdict is final when it is consulted.
  for (size_t k = 0; k < order.size(); ++k) {
    const Resource& r = m.resources[order[k]];
    PlannedResource& p = plan.resources[k];
    p.id = r.id;
    p.type = r.type;
    p.provider = r.provider;
    p.desired = r.attrs;
    p.drift = r.drift;
    for (size_t d : g.before(order[k])) p.depends_on.push_back(m.resources[d].id);
    auto pit = providers.find(r.provider);
    decide(r, observed.results[order[k]], pit == providers.end() ? nullptr : pit->second.get(), opt,
           p);

    // A failing check whose dependencies change in this run is judged after they are applied.
    bool deps_pending = false;
    for (size_t d : g.before(order[k])) deps_pending = deps_pending || pending[pos[d]];
    if (r.type->check_only && p.action == Action::kBlocked && deps_pending && !p.observe_error) {
      p.action = Action::kNoop;
      p.deferred = true;
      p.reason = "checked after its dependencies are applied (now: " + p.reason + ")";
    }
    // A change waits for its dependencies: a blocked dependency blocks it.
    if (is_change(p.action)) {
      std::vector<std::string> roots;
      for (size_t d : g.before(order[k])) {
        const PlannedResource& dp = plan.resources[pos[d]];
        if (dp.action != Action::kBlocked) continue;
        if (dp.blocked_by.empty()) roots.push_back(dp.id);
        for (const auto& b : dp.blocked_by) roots.push_back(b);
      }
      if (!roots.empty()) {
        std::sort(roots.begin(), roots.end());
        roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
        p.blocked_by = std::move(roots);
        p.reason =
            std::string("would ") + action_name(p.action) + ", but blocked by " +
            p.blocked_by.front() +
            (p.blocked_by.size() > 1 ? " and " + std::to_string(p.blocked_by.size() - 1) + " more"
                                     : "");
        p.action = Action::kBlocked;
      }
    }
    pending[k] = deps_pending || p.deferred || is_change(p.action);
  }
  return plan;
}

// ---- JSON ----

json value_to_json(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      return nullptr;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int();
    case Value::Kind::kString:
      return v.as_string();
    case Value::Kind::kList: {
      json a = json::array();
      for (const auto& e : v.as_list()) a.push_back(value_to_json(e));
      return a;
    }
  }
  return nullptr;
}

Value value_from_json(const json& j) {
  if (j.is_boolean()) return Value::Bool(j.get<bool>());
  if (j.is_number_integer()) return Value::Int(j.get<int64_t>());
  if (j.is_string()) return Value::Str(j.get<std::string>());
  if (j.is_array()) {
    std::vector<Value> out;
    for (const auto& e : j) out.push_back(value_from_json(e));
    return Value::List(std::move(out));
  }
  return Value();
}

namespace {

AttrMap map_from_j(const json& j) {
  AttrMap m;
  for (auto it = j.begin(); it != j.end(); ++it) m[it.key()] = value_from_json(it.value());
  return m;
}

const char* drift_name(DriftMode d) {
  return d == DriftMode::kMonitor ? "monitor" : d == DriftMode::kCorrect ? "correct" : "default";
}

}  // namespace

// Keys in sorted order (nlohmann's objects are std::maps); bytes that are not UTF-8 are written
// as U+FFFD rather than refused.
std::string Plan::to_json(int indent, bool changes_only) const {
  auto attrs = [](const AttrMap& m) {
    json o = json::object();
    for (const auto& [k, v] : m) o[k] = value_to_json(v);
    return o;
  };
  PlanSummary s = summary();
  if (changes_only) s.noop = 0;
  json j;
  j["format_version"] = "1";
  j["manifest"] = {{"path", manifest_path}, {"hash", manifest_hash}};
  j["created_at"] = created_at;
  j["allow_destroy"] = allow_destroy;
  j["summary"] = {{"create", s.create},
                  {"update", s.update},
                  {"delete", s.del},
                  {"noop", s.noop},
                  {"blocked", s.blocked}};
  j["notes"] = notes;
  j["providers"] = json::array();
  for (const auto& p : providers)  // secrets are references ("env:VAR"), never values
    j["providers"].push_back({{"name", p.name}, {"type", p.type}, {"settings", attrs(p.settings)}});
  j["resources"] = json::array();
  for (const auto& r : resources) {
    if (changes_only && r.action == Action::kNoop) continue;
    json changes = json::array();
    // The journal's copy (changes_only) leaves out what a create's desired attributes say again.
    if (!changes_only || r.action != Action::kCreate)
      for (const auto& c : r.changes)
        changes.push_back({{"attribute", c.attr},
                           {"before", value_to_json(c.before)},
                           {"after", c.sensitive ? json("(sensitive)") : value_to_json(c.after)},
                           {"sensitive", c.sensitive}});
    j["resources"].push_back({{"id", r.id},
                              {"type", r.type->name},
                              {"provider", r.provider},
                              {"action", action_name(r.action)},
                              {"changes", std::move(changes)},
                              {"blocked_by", r.blocked_by},
                              {"reason", r.reason},
                              {"restart_required", r.restart_required},
                              {"exists", r.exists},
                              {"before", attrs(r.before)},
                              {"desired", attrs(r.desired)},
                              {"depends_on", r.depends_on},
                              {"drift", drift_name(r.drift)},
                              {"cause", r.cause},
                              {"deferred", r.deferred}});
  }
  std::string out = j.dump(indent, ' ', false, json::error_handler_t::replace);
  if (indent >= 0) out += "\n";
  return out;
}

Result<Plan> Plan::from_json(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Error::Invalid(std::string("not a plan file: ") + e.what(),
                          "pass a file written by `converge plan --out`")
        .at(Loc{path, 0, 0});
  }
  try {
    if (!j.is_object() || j.value("format_version", "") != "1")
      return Error::Invalid("unsupported plan format_version (this converge reads \"1\")",
                            "make the plan again with this converge")
          .at(Loc{path, 0, 0});
    Plan p;
    p.manifest_path = j.at("manifest").at("path").get<std::string>();
    p.manifest_hash = j.at("manifest").at("hash").get<std::string>();
    p.created_at = j.value("created_at", "");
    p.allow_destroy = j.value("allow_destroy", false);
    for (const auto& n : j.value("notes", json::array())) p.notes.push_back(n.get<std::string>());
    for (const auto& pj : j.at("providers")) {
      ProviderDecl d;
      d.name = pj.at("name").get<std::string>();
      d.type = pj.at("type").get<std::string>();
      d.settings = map_from_j(pj.at("settings"));
      p.providers.push_back(std::move(d));
    }
    for (const auto& rj : j.at("resources")) {
      PlannedResource r;
      r.id = rj.at("id").get<std::string>();
      r.type = find_type(rj.at("type").get<std::string>());
      if (!r.type)
        return Error::Invalid("plan names unknown type '" + rj.at("type").get<std::string>() + "'")
            .on(r.id);
      r.provider = rj.at("provider").get<std::string>();
      auto a = action_from_name(rj.at("action").get<std::string>());
      if (!a.ok()) return Error(a.error()).on(r.id);
      r.action = *a;
      for (const auto& c : rj.value("changes", json::array())) {
        Change ch;
        ch.attr = c.at("attribute").get<std::string>();
        ch.before = value_from_json(c.at("before"));
        ch.after = value_from_json(c.at("after"));
        ch.sensitive = c.value("sensitive", false);
        r.changes.push_back(std::move(ch));
      }
      for (const auto& b : rj.at("blocked_by")) r.blocked_by.push_back(b.get<std::string>());
      r.reason = rj.value("reason", "");
      r.restart_required = rj.value("restart_required", false);
      r.exists = rj.value("exists", false);
      r.before = map_from_j(rj.at("before"));
      r.desired = map_from_j(rj.at("desired"));
      for (const auto& d : rj.at("depends_on")) r.depends_on.push_back(d.get<std::string>());
      std::string drift = rj.value("drift", "default");
      r.drift = drift == "monitor"   ? DriftMode::kMonitor
                : drift == "correct" ? DriftMode::kCorrect
                                     : DriftMode::kDefault;
      r.cause = rj.value("cause", "");
      r.deferred = rj.value("deferred", false);
      p.resources.push_back(std::move(r));
    }
    return p;
  } catch (const json::exception& e) {
    return Error::Invalid(std::string("malformed plan file: ") + e.what(),
                          "make the plan again with `converge plan --out`")
        .at(Loc{path, 0, 0});
  }
}

}  // namespace converge
