// The ldap provider's settings, connections and caches; make() and kind().
#include "providers/ldap/ldap_provider.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "engine/api/names.h"
#include "providers/ldap/ldap_provider_impl.h"
#include "providers/ldap/ldap_url.h"

namespace converge::ldap {
namespace {

const std::vector<std::string> kServes = {"ou",    "container",    "account",
                                          "group", "group_member", "exchange_role",
                                          "ace",   "ldap_object",  "ldap_attribute"};
const std::vector<std::string> kSettings = {"type",     "url",         "base_dn",  "bind_dn",
                                            "password", "ca_file",     "starttls", "allow_insecure",
                                            "timeout",  "max_parallel"};

}  // namespace

Result<const RootDse*> LdapProvider::root(Conn& c) {
  std::lock_guard<std::mutex> lk(root_mu_);
  if (!root_) {
    auto r = Directory::read_root(c, name_);
    if (!r.ok()) return r.error();
    root_ = std::move(*r);
  }
  return &*root_;
}

Status LdapProvider::with_directory(int attempts, const Work& fn) {
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    Status st;
    {
      auto lease = pool_.acquire();
      if (!lease.ok()) {
        st = lease.error();
      } else {
        auto r = root(**lease);
        if (!r.ok()) {
          st = r.error();
        } else {
          Directory d(**lease, *r, s_.base_dn, name_, &no_value_delete_);
          st = fn(d);
        }
      }
    }
    if (st.ok() || st.error().kind != ErrorKind::kTransient || attempt >= attempts) return st;
    spdlog::warn("ldap provider '{}': {}; retrying in {} ms", name_, st.error().message,
                 delay.count());
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

std::optional<Error> LdapProvider::check_dn(const RootDse& root, const std::string& what,
                                            const std::string& dn) const {
  auto parsed = parse_dn(dn);
  if (!parsed.ok())
    return Error::Invalid(what + ": " + parsed.error().message, parsed.error().hint);
  if (parsed->empty())
    return Error::Invalid(what + " is empty", "write a DN such as OU=unit,DC=example,DC=com");
  if (naming_context_of(root, dn).empty()) {
    std::string ncs;
    for (const auto& nc : root.naming_contexts) ncs += (ncs.empty() ? "" : "; ") + nc;
    return Error::NotFound(what + " '" + dn + "' is in none of the server's naming contexts",
                           "they are: " + ncs);
  }
  return std::nullopt;
}

std::optional<Error> LdapProvider::check_principal(const RootDse& root, const std::string& what,
                                                   const std::string& name) const {
  auto why = foreign_principal(name, root.netbios, root.dns_domain);
  if (!why) return std::nullopt;
  return Error::Invalid(what + ": " + *why,
                        "name accounts of the target domain (" + root.netbios +
                            "\\name or a bare "
                            "name); a foreign account needs its SID (S-1-5-21-...)");
}

std::optional<Error> LdapProvider::check_not_secret(const std::string& what,
                                                    const std::string& name,
                                                    const SchemaName& schema) const {
  if (!is_secret_attribute(name) && !is_secret_attribute(schema.ldap_name) && !schema.confidential)
    return std::nullopt;
  return Error::Invalid(what + " '" + name +
                            "' holds secrets (a password, recovery key or confidential "
                            "attribute): its values would be copied into plans, the journal "
                            "and reports",
                        "converge does not manage secret attributes with ldap_attribute; set "
                        "passwords with account.password");
}

void LdapProvider::remember(const std::string& name, const Principal& p) {
  std::lock_guard<std::mutex> lk(cache_mu_);
  principal_cache_[lower(name)] = p;
}

namespace {
// Looks `names` up in `cache` (keyed by key(name)), asks `fetch` once for all that are missing,
// remembers what it found. Empty names and repeats are skipped.
template <class Cache, class KeyOf, class Fetch>
auto through_cache(std::mutex& mu, Cache& cache, const std::vector<std::string>& names,
                   KeyOf key_of, Fetch fetch)
    -> Result<std::map<std::string, typename Cache::mapped_type>> {
  std::map<std::string, typename Cache::mapped_type> out;
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lk(mu);
    std::set<std::string> seen;
    for (const auto& n : names) {
      if (n.empty()) continue;
      std::string k = key_of(n);
      if (!seen.insert(k).second) continue;
      if (auto it = cache.find(k); it != cache.end())
        out[k] = it->second;
      else
        missing.push_back(n);
    }
  }
  if (!missing.empty()) {
    auto found = fetch(missing);
    if (!found.ok()) return found.error();
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [k, v] : *found) {
      cache[k] = v;
      out[k] = v;
    }
  }
  return out;
}
}  // namespace

Result<std::map<std::string, Principal>> LdapProvider::cached_principals(
    Directory& d, const std::vector<std::string>& names) {
  return through_cache(
      cache_mu_, principal_cache_, names, [](const std::string& n) { return lower(n); },
      [&](const std::vector<std::string>& m) { return d.principals(m); });
}

Result<std::map<std::string, SchemaName>> LdapProvider::cached_schema(
    Directory& d, const std::vector<std::string>& names) {
  return through_cache(
      cache_mu_, schema_cache_, names, [](const std::string& n) { return object_type_key(n); },
      [&](const std::vector<std::string>& m) { return d.schema_names(m); });
}

Result<Settings> parse_settings(const ProviderConfig& cfg) {
  prepare_libldap();
  Settings s;
  s.conn.provider = cfg.name;
  auto bad = [&](const std::string& m, const std::string& h = {}) {
    return Error::Invalid("ldap: " + m, h).at(cfg.loc);
  };
  for (const auto& [k, v] : cfg.settings) {
    if (std::find(kSettings.begin(), kSettings.end(), k) == kSettings.end())
      return bad("unknown setting '" + k + "'",
                 "known settings: url, base_dn, bind_dn, password, ca_file, starttls, "
                 "allow_insecure, timeout, "
                 "max_parallel");
  }
  auto get = [&](const std::string& k) -> const Value* {
    auto it = cfg.settings.find(k);
    return it == cfg.settings.end() ? nullptr : &it->second;
  };
  // String settings; { env = "VAR" } / { file = "path" } references are resolved here.
  auto text = [&](const std::string& k, bool required, bool secret) -> Result<std::string> {
    const Value* v = get(k);
    if (!v) {
      if (required) return bad("missing setting '" + k + "'");
      return std::string();
    }
    if (!v->is_string()) return bad("'" + k + "' must be a string");
    const std::string& sv = v->as_string();
    bool ref = sv.rfind("env:", 0) == 0 || sv.rfind("file:", 0) == 0;
    if (!ref) {
      if (secret) return bad("'" + k + "' must be { env = \"VAR\" } or { file = \"path\" }");
      return sv;
    }
    if (!cfg.resolve_secret) return bad("'" + k + "': cannot resolve " + sv);
    auto r = cfg.resolve_secret(sv);
    if (!r.ok()) return bad(k + ": " + r.error().message, r.error().hint);
    return *r;
  };
  auto flag = [&](const std::string& k, bool def) -> Result<bool> {
    const Value* v = get(k);
    if (!v) return def;
    if (!v->is_bool()) return bad("'" + k + "' must be true or false");
    return v->as_bool();
  };
  auto number = [&](const std::string& k, int def, int lo, int hi) -> Result<int> {
    const Value* v = get(k);
    if (!v) return def;
    if (!v->is_int() || v->as_int() < lo || v->as_int() > hi)
      return bad("'" + k + "' must be an integer from " + std::to_string(lo) + " to " +
                 std::to_string(hi));
    return static_cast<int>(v->as_int());
  };

  auto url = text("url", true, false);
  if (!url.ok()) return url.error();
  s.conn.url = *url;
  auto base = text("base_dn", true, false);
  if (!base.ok()) return base.error();
  if (auto p = parse_dn(*base); !p.ok() || p->empty())
    return bad("base_dn '" + *base + "' is not a DN", "write base_dn = \"DC=example,DC=com\"");
  s.base_dn = *base;
  auto bind = text("bind_dn", true, false);
  if (!bind.ok()) return bind.error();
  if (bind->find('=') != std::string::npos) {
    if (auto p = parse_dn(*bind); !p.ok()) return bad("bind_dn: " + p.error().message);
  } else if (bind->find('@') == std::string::npos) {
    return bad("bind_dn '" + *bind + "' is neither a DN nor user@domain");
  }
  s.conn.bind_dn = *bind;
  auto pw = text("password", true, true);
  if (!pw.ok()) return pw.error();
  s.conn.password = *pw;
  auto ca = text("ca_file", false, false);
  if (!ca.ok()) return ca.error();
  if (!ca->empty()) {
    std::string path = *ca;
    if (path[0] != '/' && !cfg.manifest_dir.empty()) path = cfg.manifest_dir + "/" + path;
    std::ifstream probe(path);
    if (!probe)
      return bad("ca_file " + path + " cannot be read",
                 "give the PEM file of the CA that signed the server's certificate");
    s.conn.ca_file = path;
  }
  auto starttls = flag("starttls", true);
  if (!starttls.ok()) return starttls.error();
  auto insecure = flag("allow_insecure", false);
  if (!insecure.ok()) return insecure.error();
  s.conn.starttls = *starttls;
  s.conn.allow_insecure = *insecure;
  if (auto urls = check_url_list(*url, *starttls, *insecure); !urls.ok())
    return bad(urls.error().message, urls.error().hint);
  auto timeout = number("timeout", 60, 1, 3600);
  if (!timeout.ok()) return timeout.error();
  s.conn.timeout_s = *timeout;
  s.conn.connect_timeout_s = std::min(*timeout, 10);
  auto par = number("max_parallel", 4, 1, 32);
  if (!par.ok()) return par.error();
  s.max_parallel = *par;
  return s;
}

std::string role_group(const std::string& role_in) {
  std::string role = lower(role_in);
  if (role == "organization_administrator") return "Exchange Organization Administrators";
  if (role == "recipient_administrator") return "Exchange Recipient Administrators";
  if (role == "public_folder_administrator") return "Exchange Public Folder Administrators";
  if (role == "view_only_administrator") return "Exchange View-Only Administrators";
  return "";
}

ProviderKind kind() { return {"ldap", kServes, {"password"}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  auto s = parse_settings(cfg);
  if (!s.ok()) return s.error();
  return std::unique_ptr<Provider>(new LdapProvider(cfg.name, std::move(*s)));
}

}  // namespace converge::ldap
