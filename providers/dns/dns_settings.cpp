// The dns provider's settings, its construction and its kind.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/api/names.h"
#include "providers/dns/dns_provider.h"
#include "providers/dns/dns_provider_impl.h"

namespace converge::dns {
namespace {

const std::vector<std::string> kSettings = {"type",
                                            "server",
                                            "tsig_key_file",
                                            "tsig_name",
                                            "tsig_algorithm",
                                            "tsig_secret",
                                            "allow_unsigned",
                                            "timeout",
                                            "attempts",
                                            "transfer_timeout",
                                            "max_transfer_records",
                                            "max_transfer_messages",
                                            "max_transfer_bytes"};

// Transfers may take this many times `timeout` unless transfer_timeout says otherwise.
constexpr int64_t kTransferTimeoutFactor = 30;

}  // namespace

Result<Settings> parse_settings(const ProviderConfig& cfg) {
  auto bad = [&](const std::string& setting, const std::string& msg, const std::string& hint = {}) {
    return Error::Invalid(setting + ": " + msg, hint).at(cfg.loc);
  };
  for (const auto& [k, v] : cfg.settings)
    if (std::find(kSettings.begin(), kSettings.end(), k) == kSettings.end())
      return bad(
          k, "unknown setting of a dns provider",
          "known: server, tsig_key_file, tsig_name, tsig_algorithm, tsig_secret, allow_unsigned, "
          "timeout, attempts, transfer_timeout, max_transfer_records, max_transfer_messages, "
          "max_transfer_bytes");
  auto has = [&](const char* k) { return cfg.settings.count(k) && !cfg.settings.at(k).is_null(); };
  auto ref = [](const std::string& s) {
    return s.rfind("env:", 0) == 0 || s.rfind("file:", 0) == 0;
  };
  // A string setting; { env = ... } / { file = ... } references are resolved.
  auto text = [&](const char* k) -> Result<std::string> {
    const Value& v = cfg.settings.at(k);
    if (!v.is_string()) return bad(k, "must be a string");
    if (!ref(v.as_string())) return v.as_string();
    if (!cfg.resolve_secret) return bad(k, "cannot resolve " + v.as_string());
    auto r = cfg.resolve_secret(v.as_string());
    if (!r.ok()) return bad(k, r.error().message, r.error().hint);
    return *r;
  };
  auto integer = [&](const char* k, int64_t lo, int64_t hi, int64_t def) -> Result<int64_t> {
    if (!has(k)) return def;
    const Value& v = cfg.settings.at(k);
    if (!v.is_int() || v.as_int() < lo || v.as_int() > hi)
      return bad(k, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return v.as_int();
  };

  Settings s;
  std::string server = "127.0.0.1:53530";
  if (has("server")) {
    auto t = text("server");
    if (!t.ok()) return t.error();
    server = *t;
  }
  auto addr = parse_server(server);
  if (!addr.ok()) return bad("server", addr.error().message, addr.error().hint);
  auto ep = resolve_endpoint(*addr);
  if (!ep.ok()) return bad("server", ep.error().message, ep.error().hint);
  s.server = *ep;

  if (has("allow_unsigned")) {
    if (!cfg.settings.at("allow_unsigned").is_bool())
      return bad("allow_unsigned", "must be true or false");
    s.allow_unsigned = cfg.settings.at("allow_unsigned").as_bool();
  }
  auto timeout = integer("timeout", 1, 300, 5);
  if (!timeout.ok()) return timeout.error();
  s.timeout = std::chrono::seconds(*timeout);
  auto attempts = integer("attempts", 1, 10, 3);
  if (!attempts.ok()) return attempts.error();
  s.attempts = static_cast<int>(*attempts);
  auto transfer_timeout = integer("transfer_timeout", 1, 3600,
                                  std::min<int64_t>(3600, kTransferTimeoutFactor * *timeout));
  if (!transfer_timeout.ok()) return transfer_timeout.error();
  s.transfer_timeout = std::chrono::seconds(*transfer_timeout);
  const TransferLimits def;
  auto records =
      integer("max_transfer_records", 1, int64_t{1} << 32, static_cast<int64_t>(def.records));
  if (!records.ok()) return records.error();
  auto messages =
      integer("max_transfer_messages", 1, int64_t{1} << 32, static_cast<int64_t>(def.messages));
  if (!messages.ok()) return messages.error();
  auto bytes =
      integer("max_transfer_bytes", 512, int64_t{1} << 40, static_cast<int64_t>(def.bytes));
  if (!bytes.ok()) return bytes.error();
  s.limits = {static_cast<uint64_t>(*messages), static_cast<uint64_t>(*records),
              static_cast<uint64_t>(*bytes)};

  std::string name, alg;
  if (has("tsig_name")) {
    auto t = text("tsig_name");
    if (!t.ok()) return t.error();
    name = *t;
  }
  if (has("tsig_algorithm")) {
    auto t = text("tsig_algorithm");
    if (!t.ok()) return t.error();
    alg = *t;
  }
  if (has("tsig_key_file")) {
    if (has("tsig_secret") || has("tsig_algorithm"))
      return bad("tsig_key_file",
                 "set either tsig_key_file or tsig_secret/tsig_algorithm, not both");
    const Value& v = cfg.settings.at("tsig_key_file");
    if (!v.is_string()) return bad("tsig_key_file", "must be a path");
    std::string path = v.as_string();
    if (path.rfind("file:", 0) == 0) {
      path = path.substr(5);  // { file = "tsig.key" } names the key file itself
    } else {
      auto t = text("tsig_key_file");
      if (!t.ok()) return t.error();
      path = *t;
    }
    if (path.empty()) return bad("tsig_key_file", "is empty");
    if (path[0] != '/' && !cfg.manifest_dir.empty()) path = cfg.manifest_dir + "/" + path;
    std::ifstream in(path, std::ios::binary);
    if (!in) return bad("tsig_key_file", "cannot read " + path + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    auto keys = parse_bind_keys(ss.str());
    if (!keys.ok())
      return bad("tsig_key_file", path + ": " + keys.error().message, keys.error().hint);
    if (!name.empty()) {
      auto it = std::find_if(keys->begin(), keys->end(), [&](const TsigKey& k) {
        return canonical_dns_name(k.name) == canonical_dns_name(name);
      });
      if (it == keys->end()) return bad("tsig_name", "no key '" + name + "' in " + path);
      s.key = *it;
    } else if (keys->size() > 1) {
      return bad("tsig_key_file", path + " holds " + std::to_string(keys->size()) + " keys",
                 "set tsig_name to pick one");
    } else {
      s.key = keys->front();
    }
  } else if (has("tsig_secret") || !name.empty()) {
    if (name.empty()) return bad("tsig_name", "is required with tsig_secret");
    if (!has("tsig_secret"))
      return bad("tsig_secret", "is required with tsig_name",
                 "write tsig_secret = { env = \"VAR\" }");
    auto secret = text("tsig_secret");
    if (!secret.ok()) return secret.error();
    if (!valid_base64(*secret))
      return bad("tsig_secret", "is not valid base64", "use the secret tsig-keygen printed");
    auto a = canonical_algorithm(alg.empty() ? "hmac-sha256" : alg);
    if (!a.ok()) return bad("tsig_algorithm", a.error().message, a.error().hint);
    s.key = TsigKey{name, *a, *secret};
  } else if (has("tsig_algorithm")) {
    return bad("tsig_algorithm", "needs tsig_name and tsig_secret");
  }
  if (!s.key && !s.allow_unsigned)
    return Error::Invalid(
               "no TSIG key: updates are always signed",
               "set tsig_key_file (a BIND key file), or tsig_name and tsig_secret = { env = ... }; "
               "allow_unsigned = true only for a server that accepts unsigned updates")
        .at(cfg.loc);
  if (s.key) {
    auto a = canonical_algorithm(s.key->algorithm);
    if (!a.ok()) return bad("tsig_algorithm", a.error().message, a.error().hint);
    s.key->algorithm = *a;
  }
  return s;
}

DnsProvider::DnsProvider(Settings s) : s_(std::move(s)) {
  opt_.server = s_.server;
  opt_.key = s_.key;
  opt_.timeout = s_.timeout;
  opt_.transfer_timeout = s_.transfer_timeout;
  opt_.limits = s_.limits;
}

DnsProvider::~DnsProvider() {
  if (opt_.key) std::fill(opt_.key->secret.begin(), opt_.key->secret.end(), '\0');
  if (s_.key) std::fill(s_.key->secret.begin(), s_.key->secret.end(), '\0');
}

ProviderKind kind() { return {"dns", {"dns_zone", "dns_record"}, {"tsig_secret"}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  auto s = parse_settings(cfg);
  if (!s.ok()) return s.error();
  spdlog::debug("dns: provider {} for {} ({})", cfg.name, s->server.text,
                s->key ? "TSIG key " + s->key->name + ", " + s->key->algorithm : "unsigned");
  return std::unique_ptr<Provider>(std::make_unique<DnsProvider>(std::move(*s)));
}

}  // namespace converge::dns
