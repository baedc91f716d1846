#include "engine/saved_plan.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace converge {
namespace {

using json = nlohmann::json;

// Counts nesting while nlohmann's (iterative) parser reads the text, and stops it past the limit:
// nothing recursive (building the tree, converting values, printing) ever sees deeper input.
class DepthLimit : public nlohmann::json_sax<json> {
 public:
  bool too_deep = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool enter() {
    if (++depth_ <= kMaxPlanDepth) return true;
    too_deep = true;
    return false;
  }
  bool leave() {
    --depth_;
    return true;
  }
  int depth_ = 0;
};

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string list_text(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return "[" + join(v) + "]";
}

std::string change_text(const Change& c) {
  if (c.sensitive) return "(sensitive)";
  return c.before.repr() + " -> " + c.after.repr();
}

// Keys whose values differ between two attribute maps (a null value is the same as no value).
std::vector<std::string> differing_keys(const AttrMap& a, const AttrMap& b) {
  std::set<std::string> keys;
  for (const auto& [k, _] : a) keys.insert(k);
  for (const auto& [k, _] : b) keys.insert(k);
  std::vector<std::string> out;
  static const Value kNone;
  for (const auto& k : keys) {
    auto x = a.find(k);
    auto y = b.find(k);
    const Value& xv = x == a.end() ? kNone : x->second;
    const Value& yv = y == b.end() ? kNone : y->second;
    if (xv != yv) out.push_back(k);
  }
  return out;
}

// The attribute changes of `f` (the file) against `m` (the manifest's), one text per attribute.
std::vector<std::string> change_differences(const PlannedResource& f, const PlannedResource& m) {
  std::map<std::string, std::vector<const Change*>> fc, mc;
  for (const auto& c : f.changes) fc[c.attr].push_back(&c);
  for (const auto& c : m.changes) mc[c.attr].push_back(&c);
  std::set<std::string> attrs;
  for (const auto& [a, _] : fc) attrs.insert(a);
  for (const auto& [a, _] : mc) attrs.insert(a);
  std::vector<std::string> out;
  for (const auto& a : attrs) {
    auto x = fc.find(a);
    auto y = mc.find(a);
    if (y == mc.end()) {
      out.push_back(a + " (only in the plan: " + change_text(*x->second.front()) + ")");
    } else if (x == fc.end()) {
      out.push_back(a + " (missing from the plan; the manifest gives " +
                    change_text(*y->second.front()) + ")");
    } else if (x->second.size() != 1) {
      out.push_back(a + " (changed " + std::to_string(x->second.size()) + " times in the plan)");
    } else {
      const Change& p = *x->second.front();
      const Change& q = *y->second.front();
      if (p.before != q.before || p.after != q.after || p.sensitive != q.sensitive)
        out.push_back(a + " (the plan says " + change_text(p) + ", the manifest gives " +
                      change_text(q) + ")");
    }
  }
  return out;
}

void compare_resource(const PlannedResource& f, const PlannedResource& m,
                      std::vector<std::string>& out) {
  auto say = [&](const std::string& what) { out.push_back(f.id + ": " + what); };
  if (f.type != m.type) {
    say("different type (the plan says " + f.type->name + ", the manifest declares " +
        m.type->name + ")");
    return;  // the rest compares attributes of another type
  }
  if (f.provider != m.provider)
    say("different provider (the plan says '" + f.provider + "', the manifest says '" + m.provider +
        "')");
  if (f.action != m.action)
    say(std::string("different action (the plan says ") + action_name(f.action) +
        ", the manifest gives " + action_name(m.action) + ")");
  if (auto d = change_differences(f, m); !d.empty()) say("different attributes: " + join(d, "; "));
  // Names only: desired values may be secret references.
  if (auto d = differing_keys(f.desired, m.desired); !d.empty())
    say("different desired attributes: " + join(d));
  if (auto d = differing_keys(f.before, m.before); !d.empty())
    say("different observed attributes: " + join(d));
  if (f.exists != m.exists) say("different observed existence");
  std::vector<std::string> fd = f.depends_on, md = m.depends_on;
  std::sort(fd.begin(), fd.end());
  std::sort(md.begin(), md.end());
  if (fd != md)
    say("different dependencies (the plan says " + list_text(fd) + ", the manifest gives " +
        list_text(md) + ")");
  if (f.blocked_by != m.blocked_by)
    say("different blocked_by (the plan says " + list_text(f.blocked_by) + ", the manifest gives " +
        list_text(m.blocked_by) + ")");
  if (f.deferred != m.deferred) say("different deferred flag");
  if (f.restart_required != m.restart_required) say("different restart_required flag");
  if (f.drift != m.drift) say("different drift mode");
}

void compare_providers(const std::vector<ProviderDecl>& file,
                       const std::vector<ProviderDecl>& manifest, std::vector<std::string>& out) {
  std::map<std::string, const ProviderDecl*> mine;
  for (const auto& p : manifest) mine.emplace(p.name, &p);
  std::set<std::string> seen;
  for (const auto& p : file) {
    std::string id = "provider." + p.name;
    if (!seen.insert(p.name).second) {
      out.push_back(id + ": listed twice in the plan");
      continue;
    }
    auto it = mine.find(p.name);
    if (it == mine.end()) {
      out.push_back(id + ": added to the plan (the manifest does not declare it)");
      continue;
    }
    if (p.type != it->second->type)
      out.push_back(id + ": different type (the plan says " + p.type + ", the manifest says " +
                    it->second->type + ")");
    if (auto d = differing_keys(p.settings, it->second->settings); !d.empty())
      out.push_back(id + ": different settings: " + join(d));
  }
  for (const auto& p : manifest)
    if (!seen.count(p.name))
      out.push_back("provider." + p.name + ": removed from the plan (the manifest declares it)");
}

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

constexpr std::string_view kNotObserved = "could not observe: ";

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32)
    throw std::runtime_error("SHA-256 is not available from libcrypto");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string manifest_digest(std::string_view manifest_bytes) {
  return "sha256:" + sha256_hex(manifest_bytes);
}

Result<Plan> load_plan(const std::string& text, const std::string& path) {
  DepthLimit limit;
  json::sax_parse(text, &limit);  // a syntax error is left to from_json, which reports it
  if (limit.too_deep)
    return Error::Invalid(
               "not a plan file: nested deeper than " + std::to_string(kMaxPlanDepth) + " levels",
               "pass a file written by `converge plan --out`")
        .at(Loc{path, 0, 0});
  return Plan::from_json(text, path);
}

Plan replan(const Plan& file, const Manifest& m, const Graph& g, ProviderMap& providers) {
  std::unordered_map<std::string, const PlannedResource*> recorded;
  for (const auto& r : file.resources) recorded.emplace(r.id, &r);  // a duplicate is a difference
  Observed observed;
  observed.results.resize(m.resources.size());
  for (size_t i = 0; i < m.resources.size(); ++i) {
    Observation& o = observed.results[i];
    auto it = recorded.find(m.resources[i].id);
    if (it == recorded.end()) {
      o.error = Error::NotFound("not in the saved plan");
      continue;
    }
    const PlannedResource& r = *it->second;
    if (r.observe_error) {
      o.error = r.observe_error;
    } else if (r.action == Action::kBlocked && r.reason.rfind(kNotObserved, 0) == 0) {
      o.error = Error::Io(r.reason.substr(kNotObserved.size()));
    } else {
      o.exists = r.exists;
      o.attrs = r.before;
    }
  }
  PlanOptions opt;
  opt.allow_destroy = file.allow_destroy;
  Plan p = make_plan(m, g, std::move(observed), providers, opt);
  p.created_at = file.created_at;
  return p;
}

std::vector<std::string> plan_differences(const Plan& file, const Plan& replanned) {
  std::vector<std::string> out;
  compare_providers(file.providers, replanned.providers, out);
  std::unordered_map<std::string, const PlannedResource*> mine;
  for (const auto& r : replanned.resources) mine.emplace(r.id, &r);
  std::set<std::string> seen;
  for (const auto& f : file.resources) {
    if (!seen.insert(f.id).second) {
      out.push_back(f.id + ": listed twice in the plan");
      continue;
    }
    auto it = mine.find(f.id);
    if (it == mine.end()) {
      out.push_back(f.id + ": added to the plan (the manifest does not declare it)");
      continue;
    }
    compare_resource(f, *it->second, out);
  }
  for (const auto& r : replanned.resources)
    if (!seen.count(r.id))
      out.push_back(r.id + ": removed from the plan (the manifest declares it)");
  return out;
}

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
