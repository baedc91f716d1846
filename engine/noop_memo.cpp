#include "engine/noop_memo.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/manifest_cache.h"

namespace converge {

namespace {
constexpr const char* kFormat = "converge-noop-memo-1";
}  // namespace

std::string plan_options_key(const PlanOptions& opt) {
  return std::string("allow_destroy=") + (opt.allow_destroy ? "1" : "0");
}

std::string encode_noop_memo(const NoopMemo& m, std::string_view build) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : m.groups)
    groups.push_back({{"provider", g.provider},
                      {"type", g.type},
                      {"scope", g.scope},
                      {"fingerprint", g.fingerprint}});
  nlohmann::json j = {{"format", kFormat},           {"build", std::string(build)},
                      {"manifest", m.manifest_path}, {"manifest_hash", m.manifest_hash},
                      {"options", m.options},        {"groups", std::move(groups)},
                      {"unchanged", m.unchanged}};
  return j.dump();
}

std::optional<NoopMemo> decode_noop_memo(std::string_view bytes, std::string_view build) {
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto text = [&](const nlohmann::json& o, const char* key) -> const std::string* {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const std::string* format = text(j, "format");
  const std::string* b = text(j, "build");
  if (!format || *format != kFormat || !b || *b != build) return std::nullopt;
  NoopMemo m;
  const std::string* path = text(j, "manifest");
  const std::string* hash = text(j, "manifest_hash");
  const std::string* options = text(j, "options");
  auto groups = j.find("groups");
  auto unchanged = j.find("unchanged");
  if (!path || !hash || !options || groups == j.end() || !groups->is_array() || groups->empty() ||
      unchanged == j.end() || !unchanged->is_number_integer())
    return std::nullopt;
  m.manifest_path = *path;
  m.manifest_hash = *hash;
  m.options = *options;
  m.unchanged = unchanged->get<int64_t>();
  if (m.unchanged < 0 || m.unchanged > 100000000) return std::nullopt;
  for (const auto& g : *groups) {
    if (!g.is_object()) return std::nullopt;
    const std::string* provider = text(g, "provider");
    const std::string* type = text(g, "type");
    const std::string* scope = text(g, "scope");
    const std::string* fingerprint = text(g, "fingerprint");
    if (!provider || !type || !scope || !fingerprint || scope->empty() || fingerprint->empty())
      return std::nullopt;
    m.groups.push_back({*provider, *type, *scope, *fingerprint});
  }
  return m;
}

std::string noop_memo_file(const std::string& dir, const std::string& path) {
  std::filesystem::path f = manifest_cache_file(dir, path);
  f.replace_extension(".noop");
  return f.string();
}

std::optional<NoopMemo> read_noop_memo(const std::string& dir, const std::string& path) {
  if (build_identity().empty()) return std::nullopt;
  std::ifstream in(noop_memo_file(dir, path), std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto m = decode_noop_memo(bytes, build_identity());
  if (!m || m->manifest_path != path) return std::nullopt;
  return m;
}

void write_noop_memo(const std::string& dir, const NoopMemo& m) {
  if (build_identity().empty()) return;
  write_state_file(noop_memo_file(dir, m.manifest_path), encode_noop_memo(m, build_identity()));
}

void drop_noop_memo(const std::string& dir, const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(noop_memo_file(dir, path), ec);
}

bool is_clean_noop(const Plan& plan) {
  if (!plan.notes.empty() || plan.resources.empty()) return false;
  for (const auto& r : plan.resources)
    if (r.action != Action::kNoop || r.deferred || r.observe_error) return false;
  return true;
}

std::optional<NoopMemo> make_noop_memo(const Manifest& m, const Plan& plan, ProviderMap& providers,
                                       const PlanOptions& opt) {
  if (!is_clean_noop(plan)) return std::nullopt;
  NoopMemo memo;
  memo.manifest_path = m.path;
  memo.manifest_hash = m.hash;
  memo.options = plan_options_key(opt);
  memo.unchanged = static_cast<int64_t>(plan.resources.size());
  std::vector<ObserveItem> items;
  items.reserve(m.resources.size());
  for (const auto& r : m.resources) items.push_back({r.view(), r.provider});
  for (const auto& [key, idx] : observe_groups(items)) {
    auto p = providers.find(key.first);
    if (p == providers.end()) return std::nullopt;
    ObserveRequest req;
    req.type = items[idx.front()].view.type;
    req.resources.reserve(idx.size());
    for (size_t i : idx) req.resources.push_back(items[i].view);
    std::string scope = p->second->observe_scope(req);
    if (scope.empty()) return std::nullopt;
    auto fp = p->second->fingerprint(key.second, scope);
    if (!fp || fp->empty()) return std::nullopt;
    memo.groups.push_back({key.first, key.second, std::move(scope), std::move(*fp)});
  }
  return memo;
}

bool noop_memo_holds(const NoopMemo& memo, ProviderMap& providers) {
  for (const auto& g : memo.groups) {
    auto p = providers.find(g.provider);
    if (p == providers.end()) return false;
    auto fp = p->second->fingerprint(g.type, g.scope);
    if (!fp || *fp != g.fingerprint) {
      spdlog::debug("no-op memo: {} {} changed since the last plan", g.provider, g.type);
      return false;
    }
  }
  return true;
}

}  // namespace converge
