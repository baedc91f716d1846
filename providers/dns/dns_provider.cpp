#include "providers/dns/dns_provider.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "providers/dns/dns_client.h"
#include "providers/dns/dns_values.h"

namespace converge::dns {
namespace {

using Clock = std::chrono::steady_clock;

// Changes of one zone that wait together go into one UPDATE message, up to these limits.
constexpr size_t kMaxBatchChanges = 4000;
// Messages go over TCP (at most 65,535 bytes); this leaves room for the zone, TSIG and slack.
constexpr size_t kMaxBatchBytes = 56 * 1024;
// Concurrent apply() / apply_batch() calls.
constexpr int kMaxParallel = 256;

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string list_text(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::string("\"") + v[i] + "\"";
  return out + "]";
}

// ---- settings ----

struct Settings {
  Endpoint server;
  std::optional<TsigKey> key;
  bool allow_unsigned = false;
  std::chrono::milliseconds timeout{5000};
  int attempts = 3;
};

const std::vector<std::string> kSettings = {"type",           "server",         "tsig_key_file",
                                            "tsig_name",      "tsig_algorithm", "tsig_secret",
                                            "allow_unsigned", "timeout",        "attempts"};

Result<Settings> parse_settings(const ProviderConfig& cfg) {
  auto bad = [&](const std::string& setting, const std::string& msg, const std::string& hint = {}) {
    return Error::Invalid(setting + ": " + msg, hint).at(cfg.loc);
  };
  for (const auto& [k, v] : cfg.settings)
    if (std::find(kSettings.begin(), kSettings.end(), k) == kSettings.end())
      return bad(
          k, "unknown setting of a dns provider",
          "known: server, tsig_key_file, tsig_name, tsig_algorithm, tsig_secret, allow_unsigned, "
          "timeout, attempts");
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
        return canonical_name(k.name) == canonical_name(name);
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

// ---- the provider ----

// One change as one apply() call asked for it, ready to go into an UPDATE.
struct Change {
  std::string id;
  Action action = Action::kNoop;
  std::string zone, owner, type;
  uint32_t ttl = 0;
  std::vector<std::string> want;    // canonical values (create/update)
  std::vector<std::string> before;  // canonical values as planned
  ldns_rr_type rr_type = LDNS_RR_TYPE_A;
  std::vector<RrPtr> prereq, update;
  // A create guarded by "name not in use" alone (see create_guard).
  bool compact_guard = false;
  std::vector<std::string> targets;  // MX/SRV targets, for explaining a REFUSED
  size_t bytes = 0;
  Status result;
  bool done = false;           // guarded by the provider's mutex
  std::condition_variable cv;  // woken when done, or when it is this change's turn to send
};

class DnsProvider : public Provider {
 public:
  explicit DnsProvider(Settings s) : s_(std::move(s)) {
    opt_.server = s_.server;
    opt_.key = s_.key;
    opt_.timeout = s_.timeout;
  }
  ~DnsProvider() override {
    if (opt_.key) std::fill(opt_.key->secret.begin(), opt_.key->secret.end(), '\0');
    if (s_.key) std::fill(s_.key->secret.begin(), s_.key->secret.end(), '\0');
  }

  std::string kind() const override { return "dns"; }
  bool serves(const std::string& t) const override { return t == "dns_zone" || t == "dns_record"; }
  int max_parallel() const override { return kMaxParallel; }
  size_t max_batch() const override { return kMaxBatchChanges; }
  bool can_create(const std::string& t) const override { return t == "dns_record"; }

  ObserveResponse observe(const ObserveRequest& req) override {
    if (req.type && req.type->name == "dns_zone") return observe_zones(req);
    return observe_records(req);
  }

  // The zones of these records are transferred in the background; observe() takes the result
  // (once: a later observe() transfers again).
  void prefetch(const ObserveRequest& req) override {
    if (!req.type || req.type->name != "dns_record") return;
    for (const auto& r : req.resources) {
      std::string zone = canonical_name(r.str("zone"));
      if (zone.size() < 2 || prefetched_.count(zone)) continue;
      prefetched_.emplace(
          zone, std::async(std::launch::async, [this, zone] { return zone_state(zone); }));
    }
  }

  // The zones the resources are in (records) or are (zones), one per line, sorted.
  std::string observe_scope(const ObserveRequest& req) override {
    if (!req.type) return {};
    const std::string attr = req.type->name == "dns_zone" ? "name" : "zone";
    std::set<std::string> zones;
    const Value* last = nullptr;  // records of one zone mostly follow each other
    for (const auto& r : req.resources) {
      const Value& z = r.get(attr);
      if (last && z == *last) continue;
      zones.insert(canonical_name(z.text()));
      last = &z;
    }
    std::string out;
    for (const auto& z : zones) out += (out.empty() ? "" : "\n") + z;
    return out;
  }

  // Records: a SHA-256 of each zone's transfer (as ZoneIndex holds it: every RRset, TTL and
  // value), so a no-op plan known from its memo still transfers every zone it reads. Zones:
  // whether the server serves each (its SOA). Nothing when a transfer is refused (the records
  // were then read one query each) or fails.
  std::optional<std::string> fingerprint(const std::string& type,
                                         const std::string& scope) override {
    std::string out;
    size_t start = 0;
    while (start <= scope.size()) {
      size_t end = scope.find('\n', start);
      if (end == std::string::npos) end = scope.size();
      std::string zone = scope.substr(start, end - start);
      start = end + 1;
      if (zone.empty()) return std::nullopt;
      out += zone;
      out += ' ';
      if (type == "dns_zone") {
        const Result<ZoneCheck>* c = nullptr;
        if (auto it = last_checks_.find(zone); it != last_checks_.end())
          c = &it->second;
        else if (auto f = fetched_checks_.find(zone); f != fetched_checks_.end())
          c = &f->second;
        else
          c = &fetched_checks_.emplace(zone, check_zone(zone)).first->second;
        if (!c->ok()) return std::nullopt;
        out += (*c)->served ? "served" : "not served: " + (*c)->why;
      } else if (type == "dns_record") {
        std::shared_ptr<const ZoneIndex> seen;
        {
          std::lock_guard<std::mutex> lk(seen_mu_);
          if (auto it = seen_.find(zone); it != seen_.end()) seen = it->second.index;
        }
        if (seen) {
          out += seen->digest();
        } else {
          auto f = fetched_.find(zone);
          if (f == fetched_.end()) f = fetched_.emplace(zone, prefetched_or_now(zone)).first;
          if (!f->second.ok() || f->second->mode != ZoneState::kTransferred) return std::nullopt;
          out += f->second->sets.digest();
        }
      } else {
        return std::nullopt;
      }
      out += '\n';
    }
    return out;
  }

  ApplyResponse apply(const ApplyRequest& req) override {
    ApplyResponse resp;
    const std::string type = req.resource.type ? req.resource.type->name : "";
    if (type == "dns_zone") {
      std::string zone = canonical_name(req.resource.str("name"));
      resp.status = Error::Conflict(
          "zone " + zone + " cannot be " +
              (req.action == Action::kDelete ? "deleted" : "created or changed") + " over RFC 2136",
          "do it on the DNS server itself");
      return resp;
    }
    auto change = build_change(req);
    if (!change.ok()) {
      resp.status = change.error();
      return resp;
    }
    resp.status = submit(**change);
    return resp;
  }

  // Independent changes, sent as few UPDATE messages as fit: per zone, in the order given,
  // up to kMaxBatchBytes per message. Each message is built just before it is sent, so the
  // server works on the first while the next is built.
  std::vector<ApplyResponse> apply_batch(const std::vector<ApplyRequest>& reqs) override {
    std::vector<ApplyResponse> out(reqs.size());
    std::vector<std::unique_ptr<Change>> changes(reqs.size());
    std::map<std::string, std::vector<size_t>> by_zone;  // requests, by canonical zone
    for (size_t k = 0; k < reqs.size(); ++k) {
      const auto* t = reqs[k].resource.type;
      if (!t || t->name != "dns_record")
        out[k] = apply(reqs[k]);
      else
        by_zone[canonical_name(reqs[k].resource.str("zone"))].push_back(k);
    }
    for (auto& [zone, list] : by_zone) {
      std::vector<Change*> batch;
      size_t bytes = 0;
      for (size_t k : list) {
        auto c = build_change(reqs[k]);
        if (!c.ok()) {
          out[k].status = c.error();
          continue;
        }
        changes[k] = std::move(*c);
        Change* ch = changes[k].get();
        if (!batch.empty() && bytes + ch->bytes > kMaxBatchBytes) {
          send_batch(batch);
          batch.clear();
          bytes = 0;
        }
        batch.push_back(ch);
        bytes += ch->bytes;
      }
      if (!batch.empty()) send_batch(batch);
    }
    for (size_t k = 0; k < reqs.size(); ++k)
      if (changes[k]) out[k].status = changes[k]->result;
    return out;
  }

 private:
  // ---- retries ----

  template <typename F>
  auto with_retries(const std::string& what, F f) -> decltype(f()) {
    auto delay = std::chrono::milliseconds(200);
    for (int attempt = 1;; ++attempt) {
      auto r = f();
      if (r.ok() || r.error().kind != ErrorKind::kTransient || attempt >= s_.attempts) {
        if (!r.ok() && r.error().kind == ErrorKind::kTransient && s_.attempts > 1) {
          Error e = r.error();
          e.message += " (" + std::to_string(attempt) + " attempts)";
          return e;
        }
        return r;
      }
      spdlog::info("dns: {}: {}; retrying in {} ms", what, r.error().message, delay.count());
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
  }

  // ---- zones ----

  struct ZoneCheck {
    bool served = false;
    std::string why;  // when not served
  };

  // Whether the server is authoritative for `zone`: its SOA, from the zone itself.
  Result<ZoneCheck> check_zone(const std::string& zone) {
    return with_retries("SOA " + zone, [&]() -> Result<ZoneCheck> {
      PktPtr q = make_query(zone, LDNS_RR_TYPE_SOA);
      if (!q) return Error::Invalid("'" + zone + "' is not a valid zone name");
      auto r = exchange(opt_, q.get());
      if (!r.ok()) return r.error();
      if (r->rcode == LDNS_RCODE_SERVFAIL)
        return Error::Transient("the server answered SERVFAIL for zone " + zone +
                                " (did the zone fail to load?)");
      ZoneCheck c;
      if (r->rcode != LDNS_RCODE_NOERROR) {
        c.why = "the SOA query was answered " + rcode_name(r->rcode);
        return c;
      }
      ZoneRRsets sets;
      add_records(sets, ldns_pkt_answer(r->pkt.get()));
      if (ldns_pkt_aa(r->pkt.get()) && sets.count(rrset_key(zone, "SOA"))) {
        c.served = true;
      } else {
        c.why = "it is not a zone apex on this server";
      }
      return c;
    });
  }

  std::string missing_zone_note(const std::string& zone, const std::string& why) const {
    std::string z = zone.size() > 1 ? zone.substr(0, zone.size() - 1) : zone;
    std::string key = s_.key ? s_.key->name : "KEY";
    return "zone " + zone + " is not served by " + s_.server.text + " (" + why +
           "); RFC 2136 cannot create zones: create it on the server (BIND: zone \"" + z +
           "\" { type primary; file \"" + z + ".db\"; allow-update { key \"" + key +
           "\"; }; allow-transfer { key \"" + key +
           "\"; }; }; then rndc reconfig), then plan again";
  }

  ObserveResponse observe_zones(const ObserveRequest& req) {
    ObserveResponse resp;
    std::map<std::string, Result<ZoneCheck>> checked;
    for (const auto& r : req.resources) {
      Observation o;
      std::string zone = canonical_name(r.str("name"));
      auto it = checked.find(zone);
      if (it == checked.end()) {
        auto f = fetched_checks_.find(zone);  // fetched for a fingerprint
        if (f != fetched_checks_.end()) {
          it = checked.emplace(zone, std::move(f->second)).first;
          fetched_checks_.erase(f);
        } else {
          it = checked.emplace(zone, check_zone(zone)).first;
        }
      }
      const auto& c = it->second;
      if (!c.ok()) {
        o.error = Error(c.error()).on(*r.id);
      } else if (c->served) {
        o.exists = true;
        o.attrs = {{"name", Value::Str(zone)}, {"kind", Value::Str("primary")}};
      } else {
        o.note = missing_zone_note(zone, c->why);
      }
      resp.results.push_back(std::move(o));
    }
    last_checks_ = std::move(checked);
    return resp;
  }

  // ---- records ----

  struct ZoneState {
    enum Mode { kTransferred, kQueries, kMissing } mode = kTransferred;
    ZoneIndex sets;
    std::string why;  // kMissing: why; kQueries: what the AXFR was answered
  };

  Result<ZoneState> prefetched_or_now(const std::string& zone) {
    if (auto f = fetched_.find(zone); f != fetched_.end()) {  // fetched for a fingerprint
      auto r = std::move(f->second);
      fetched_.erase(f);
      return r;
    }
    auto it = prefetched_.find(zone);
    if (it == prefetched_.end()) return zone_state(zone);
    auto r = it->second.get();
    prefetched_.erase(it);
    return r;
  }

  Result<ZoneState> zone_state(const std::string& zone) {
    auto t0 = Clock::now();
    auto t = with_retries("AXFR " + zone, [&]() -> Result<Transfer> {
      auto r = axfr(opt_, zone);
      if (r.ok() && r->rcode == LDNS_RCODE_SERVFAIL)
        return Error::Transient("the server answered SERVFAIL to the transfer of " + zone);
      return r;
    });
    if (!t.ok()) {
      Error e = t.error();
      e.message = "cannot transfer zone " + zone + ": " + e.message;
      return e;
    }
    ZoneState st;
    if (t->rcode == LDNS_RCODE_NOERROR) {
      spdlog::debug("dns: AXFR {}: {} records in {} messages, {:.1f} ms", zone, t->records,
                    t->messages, ms_since(t0));
      st.sets = std::move(t->sets);
      return st;
    }
    auto c = check_zone(zone);
    if (!c.ok()) return c.error();
    if (!c->served) {
      st.mode = ZoneState::kMissing;
      st.why = c->why;
      return st;
    }
    st.mode = ZoneState::kQueries;
    st.why = rcode_name(t->rcode);
    return st;
  }

  Result<std::optional<RRset>> query_rrset(const std::string& owner, const std::string& type) {
    return with_retries("query " + owner + " " + type, [&]() -> Result<std::optional<RRset>> {
      PktPtr q = make_query(owner, ldns_get_rr_type_by_name(type.c_str()));
      if (!q) return Error::Invalid("'" + owner + "' is not a valid DNS name");
      auto r = exchange(opt_, q.get());
      if (!r.ok()) return r.error();
      if (r->rcode == LDNS_RCODE_SERVFAIL)
        return Error::Transient("the server answered SERVFAIL for " + owner + " " + type);
      if (r->rcode == LDNS_RCODE_NXDOMAIN) return std::optional<RRset>();
      if (r->rcode != LDNS_RCODE_NOERROR)
        return Error::Conflict("the query for " + owner + " " + type + " was answered " +
                               rcode_name(r->rcode));
      ZoneRRsets sets;
      add_records(sets, ldns_pkt_answer(r->pkt.get()));
      auto it = sets.find(rrset_key(owner, type));
      if (it == sets.end()) return std::optional<RRset>();
      return std::optional<RRset>(it->second);
    });
  }

  // The attributes observe_records reads, found in one walk over the resource's (sorted) map
  // rather than one lookup each.
  struct DesiredAttrs {
    const Value* zone;
    const Value* name;
    const Value* type;
    const Value* values;
  };
  static DesiredAttrs desired_attrs(const ResourceView& r) {
    static const Value kNull;
    DesiredAttrs d{&kNull, &kNull, &kNull, &kNull};
    auto is = [](const std::string& k, std::string_view name) {
      return k.size() == name.size() && std::memcmp(k.data(), name.data(), name.size()) == 0;
    };
    for (const auto& [k, v] : *r.attrs) {
      if (is(k, "zone"))
        d.zone = &v;
      else if (is(k, "name"))
        d.name = &v;
      else if (is(k, "type"))
        d.type = &v;
      else if (is(k, "values"))
        d.values = &v;
    }
    return d;
  }

  // The text of a value without copying a string (anything else as Value::text() has it, in
  // `scratch`). Valid until `scratch` or the resource changes.
  static std::string_view text_of(const Value& v, std::string& scratch) {
    if (v.is_string()) return v.as_string();
    scratch = v.text();
    return scratch;
  }

  // True when every desired value is a string found verbatim in an RRset of a transfer (whose
  // values are canonical): desired_spellings would then parse nothing and map nothing.
  static bool all_verbatim(const Value& desired, const ZoneIndex& data, const ZoneIndex::Set& set) {
    if (!desired.is_list()) return false;
    for (const Value& v : desired.as_list())
      if (!v.is_string() || !data.has_value(set, v.as_string())) return false;
    return true;
  }

  // Runs once per desired record on every plan: the strings are reused, the zone of the previous
  // record is remembered, and an RRset whose values the manifest copies verbatim (a no-op plan)
  // goes from the transfer to its attributes without parsing or copying anything else.
  ObserveResponse observe_records(const ObserveRequest& req) {
    auto t0 = Clock::now();
    ObserveResponse resp;
    resp.results.resize(req.resources.size());
    std::map<std::string, Result<ZoneState>> zones;
    std::vector<std::string> queried;  // zones observed by per-RRset queries
    size_t queries = 0;
    std::string scratch, raw_zone, zone, owner, type, key;
    bool have_zone = false;
    auto zit = zones.end();  // the state of `zone`, once looked up
    for (size_t i = 0; i < req.resources.size(); ++i) {
      const ResourceView& r = req.resources[i];
      Observation& o = resp.results[i];
      DesiredAttrs d = desired_attrs(r);
      std::string_view z = text_of(*d.zone, scratch);
      if (!have_zone || z != raw_zone) {
        raw_zone.assign(z);
        zone = canonical_name(z);
        zit = zones.end();
        have_zone = true;
      }
      assign_canonical_name(owner, text_of(*d.name, scratch));
      std::string_view raw_type = text_of(*d.type, scratch);
      type.assign(raw_type);
      for (auto& c : type)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - ('a' - 'A'));  // toupper in "C"
      if (!managed_type(type)) {
        o.error =
            Error::Invalid("unsupported record type '" + std::string(raw_type) + "'").on(*r.id);
        continue;
      }
      if (!in_zone(owner, zone)) {
        o.error = Error::Invalid("name " + owner + " is not in zone " + zone,
                                 "write the name relative to the zone, or absolute inside it")
                      .on(*r.id);
        continue;
      }
      if (zit == zones.end()) {
        zit = zones.find(zone);
        if (zit == zones.end()) zit = zones.emplace(zone, prefetched_or_now(zone)).first;
      }
      if (!zit->second.ok()) {
        o.error = Error(zit->second.error()).on(*r.id);
        continue;
      }
      const ZoneState& st = *zit->second;
      const Value& desired = *d.values;
      if (st.mode == ZoneState::kMissing) {
        if (auto bad = desired_spellings(owner, type, desired.strings(), zone); !bad.ok())
          o.error = Error(bad.error()).on(*r.id);
        else
          o.note = "zone " + zone + " is not served by " + s_.server.text + " (" + st.why + ")";
        continue;
      }
      const RRset* found = nullptr;
      std::optional<RRset> queried_set;
      if (st.mode == ZoneState::kTransferred) {
        key.assign(owner) += '|';  // rrset_key(): owner and type are canonical
        key += type;
        if (const ZoneIndex::Set* set = st.sets.find(key)) {
          if (all_verbatim(desired, st.sets, *set)) {  // the no-op plan
            o.exists = true;
            o.attrs = record_attrs(st.sets, *set, zone);
            continue;
          }
          queried_set = st.sets.rrset(*set);
          found = &*queried_set;
        }
      } else {
        if (std::find(queried.begin(), queried.end(), zone) == queried.end())
          queried.push_back(zone);
        ++queries;
        auto q = query_rrset(owner, type);
        if (!q.ok()) {
          o.error = Error(q.error()).on(*r.id);
          continue;
        }
        queried_set = std::move(*q);
        if (queried_set) found = &*queried_set;
      }
      auto spelled =
          desired_spellings(owner, type, desired.strings(), zone, found ? &found->values : nullptr);
      if (!spelled.ok()) {
        o.error = Error(spelled.error()).on(*r.id);
        continue;
      }
      if (!found) continue;
      o.exists = true;
      o.attrs = record_attrs(*found, zone, *spelled);
    }
    if (!queried.empty()) {
      std::string list;
      for (const auto& z : queried) list += (list.empty() ? "" : ", ") + z;
      resp.notes.push_back(
          "zone transfer refused by " + s_.server.text + " for " + list + " (" +
          zones.at(queried.front())->why + "); observed " + std::to_string(queries) +
          " record set(s) with one query each instead (allow AXFR for the key to make this one "
          "transfer per zone)");
    }
    spdlog::debug("dns: observed {} record(s) in {} zone(s) in {:.1f} ms", req.resources.size(),
                  zones.size(), ms_since(t0));
    {
      std::lock_guard<std::mutex> lk(seen_mu_);
      for (auto& [name, st] : zones)
        if (st.ok() && st->mode == ZoneState::kTransferred)
          seen_[name] = Seen{std::make_shared<const ZoneIndex>(std::move(st->sets)), {}};
    }
    return resp;
  }

  // ---- changes ----

  // An RR with no rdata at `owner` (a prerequisite, or "delete this RRset").
  static RrPtr empty_rr(const ldns_rdf* owner, ldns_rr_type type, ldns_rr_class cls) {
    if (!owner) return nullptr;
    RrPtr rr(ldns_rr_new());
    if (!rr) return nullptr;
    ldns_rr_set_owner(rr.get(), ldns_rdf_clone(owner));
    ldns_rr_set_type(rr.get(), type);
    ldns_rr_set_class(rr.get(), cls);
    ldns_rr_set_ttl(rr.get(), 0);
    return rr;
  }

  // The prerequisites of creating an RRset of type `t` at `owner`: it must not exist yet, and a
  // CNAME cannot share its name with other data (the server would silently ignore the
  // addition). `compact`: one prerequisite, "name not in use" (RFC 2136 2.4.5), which implies
  // both; it is used where the last transfer showed nothing at the owner, and halves what the
  // server checks and what a large UPDATE carries. Where it fails although the precise
  // prerequisites would hold (someone added another type there), the change is sent again
  // with those (send_batch), so the outcome is the same.
  static std::vector<RrPtr> create_guard(const ldns_rdf* owner, ldns_rr_type t, bool compact) {
    std::vector<RrPtr> out;
    if (t == LDNS_RR_TYPE_CNAME || compact) {
      out.push_back(empty_rr(owner, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_NONE));
    } else {
      out.push_back(empty_rr(owner, t, LDNS_RR_CLASS_NONE));
      out.push_back(empty_rr(owner, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_NONE));
    }
    return out;
  }

  // True when the last transfer of `zone` showed no record at `owner` and no change for `owner`
  // was built before in this process (so a create there may use the compact guard).
  bool first_at_empty_owner(const std::string& zone, const std::string& owner) {
    std::lock_guard<std::mutex> lk(seen_mu_);
    bool first = touched_.insert(owner).second;
    auto it = seen_.find(zone);
    if (!first || it == seen_.end()) return false;
    Seen& z = it->second;
    if (!z.types) z.types = z.index->types();
    std::string key;
    for (const auto& type : *z.types) {
      key.assign(owner) += '|';
      key += type;
      if (z.index->find(key)) return false;
    }
    return true;
  }

  static RrPtr with_class(const ldns_rr* rr, ldns_rr_class cls, uint32_t ttl) {
    RrPtr c(ldns_rr_clone(rr));
    if (c) {
      ldns_rr_set_class(c.get(), cls);
      ldns_rr_set_ttl(c.get(), ttl);
    }
    return c;
  }

  Result<std::unique_ptr<Change>> build_change(const ApplyRequest& req) {
    const ResourceView& r = req.resource;
    auto c = std::make_unique<Change>();
    c->id = r.id ? *r.id : "dns_record";
    c->action = req.action;
    c->zone = canonical_name(r.str("zone"));
    c->owner = canonical_name(r.str("name"));
    c->type = upper(r.str("type"));
    const Value& ttl = r.get("ttl");
    c->ttl = ttl.is_int() && ttl.as_int() >= 0 && ttl.as_int() <= 2147483647
                 ? static_cast<uint32_t>(ttl.as_int())
                 : 3600;
    if (!managed_type(c->type))
      return Error::Invalid("unsupported record type '" + r.str("type") + "'");
    if (!in_zone(c->owner, c->zone))
      return Error::Invalid("name " + c->owner + " is not in zone " + c->zone);
    ldns_rr_type t = ldns_get_rr_type_by_name(c->type.c_str());
    c->rr_type = t;
    auto fail = [](const RrPtr& p) { return !p; };
    ldns_rdf* owner_raw = nullptr;  // read once, cloned into each prerequisite
    if (ldns_str2rdf_dname(&owner_raw, c->owner.c_str()) != LDNS_STATUS_OK)
      return Error::Invalid("'" + c->owner + "' is not a valid DNS name");
    RdfPtr owner(owner_raw);

    std::vector<RrPtr> want;
    if (req.action == Action::kCreate || req.action == Action::kUpdate) {
      for (const auto& v : r.get("values").strings()) {
        auto rr = make_record(c->owner, c->ttl, c->type, v, c->zone);
        if (!rr.ok()) return rr.error();
        c->want.push_back(rdata_text(rr->get()));
        if (c->type == "MX" || c->type == "SRV") {
          size_t field = c->type == "MX" ? 1 : 3;
          if (ldns_rr_rd_count(rr->get()) > field)
            c->targets.push_back(rdata_text_field(rr->get(), field));
        }
        want.push_back(std::move(*rr));
      }
      if (want.empty()) return Error::Invalid("no values to write");
      c->want = canonical_set(c->want);
    }
    std::vector<RrPtr> before;
    if (req.action == Action::kUpdate || req.action == Action::kDelete) {
      auto it = req.before.find("values");
      if (it != req.before.end())
        for (const auto& v : it->second.strings()) {
          auto rr = make_record(c->owner, 0, c->type, v, c->zone);
          if (!rr.ok())
            return Error::Invalid("the planned state cannot be read back: " + rr.error().message);
          c->before.push_back(rdata_text(rr->get()));
          before.push_back(std::move(*rr));
        }
      c->before = canonical_set(c->before);
    }

    switch (req.action) {
      case Action::kCreate:
        c->compact_guard = first_at_empty_owner(c->zone, c->owner);
        c->prereq = create_guard(owner.get(), t, c->compact_guard);
        for (auto& rr : want) c->update.push_back(std::move(rr));
        break;
      case Action::kUpdate: {
        // The RRset must still hold exactly the values it held when planned.
        if (before.empty()) {
          c->prereq.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
        } else {
          for (const auto& rr : before)
            c->prereq.push_back(with_class(rr.get(), LDNS_RR_CLASS_IN, 0));
        }
        bool apex_ns = c->type == "NS" && c->owner == c->zone;
        if (apex_ns) {
          // Servers ignore deleting the apex NS RRset: remove the values that go, one by one.
          for (const auto& rr : before)
            if (!std::binary_search(c->want.begin(), c->want.end(), rdata_text(rr.get())))
              c->update.push_back(with_class(rr.get(), LDNS_RR_CLASS_NONE, 0));
        } else {
          c->update.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
        }
        for (auto& rr : want) c->update.push_back(std::move(rr));
        break;
      }
      case Action::kDelete:
        if (before.empty()) {
          c->prereq.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
        } else {
          for (const auto& rr : before)
            c->prereq.push_back(with_class(rr.get(), LDNS_RR_CLASS_IN, 0));
        }
        c->update.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
        break;
      default:
        return Error::Internal("nothing to apply for action " +
                               std::to_string(static_cast<int>(req.action)));
    }
    if (std::any_of(c->prereq.begin(), c->prereq.end(), fail) ||
        std::any_of(c->update.begin(), c->update.end(), fail))
      return Error::Internal("cannot build the update for " + c->owner);
    // What the change adds to a message: ldns compresses every owner to its labels below the
    // zone plus a pointer to the zone's name (names in rdata are counted whole).
    size_t saved = c->zone.size() > 1 ? c->zone.size() + 1 - 2 : 0;  // zone in wire form - pointer
    for (const auto* list : {&c->prereq, &c->update})
      for (const auto& rr : *list) c->bytes += ldns_rr_uncompressed_size(rr.get()) - saved;
    return c;
  }

  static std::string rdata_text_field(const ldns_rr* rr, size_t field) {
    RdfPtr f(ldns_rdf_clone(ldns_rr_rdf(rr, field)));
    if (!f) return {};
    if (ldns_rdf_get_type(f.get()) == LDNS_RDF_TYPE_DNAME) ldns_dname2canonical(f.get());
    char* s = ldns_rdf2str(f.get());
    std::string out = s ? s : "";
    std::free(s);
    return out;
  }

  // ---- group commit ----
  //
  // apply() calls for one zone that overlap are sent in one UPDATE: the first caller becomes the
  // zone's sender and sends everything queued; calls arriving meanwhile queue up and the next
  // free caller sends them together. RFC 2136 checks every prerequisite before changing
  // anything, so a batch is all or nothing; when it fails on a prerequisite or a refusal, it is
  // sent again in halves until each failing change is alone, to find out which failed and why.
  // (apply_batch() sends the batches the engine hands over the same way.)

  struct ZoneQueue {
    std::deque<Change*> pending;
    bool busy = false;
  };

  Status submit(Change& c) {
    std::unique_lock<std::mutex> lk(mu_);
    ZoneQueue& q = queues_[c.zone];
    q.pending.push_back(&c);
    for (;;) {
      if (c.done) return c.result;
      // Lead when nobody sends for this zone: on arrival, or when handed the turn as the oldest
      // waiting change. Everyone else sleeps on their own condition variable (no thundering herd).
      if (q.busy) {
        c.cv.wait(lk);
        continue;
      }
      q.busy = true;
      std::vector<Change*> batch;
      size_t bytes = 0;
      while (!q.pending.empty() && batch.size() < kMaxBatchChanges &&
             (batch.empty() || bytes + q.pending.front()->bytes <= kMaxBatchBytes)) {
        bytes += q.pending.front()->bytes;
        batch.push_back(q.pending.front());
        q.pending.pop_front();
      }
      lk.unlock();
      send_batch(batch);
      lk.lock();
      q.busy = false;
      for (Change* b : batch) {
        b->done = true;
        if (b != &c) b->cv.notify_one();
      }
      if (!q.pending.empty()) q.pending.front()->cv.notify_one();  // its turn to send
    }
  }

  Result<Reply> send_update(const std::string& zone, const std::vector<Change*>& batch) {
    PktPtr u = make_update(zone);
    if (!u) return Error::Invalid("'" + zone + "' is not a valid zone name");
    for (Change* c : batch) {
      for (const auto& rr : c->prereq)
        ldns_pkt_push_rr(u.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(rr.get()));
      for (const auto& rr : c->update)
        ldns_pkt_push_rr(u.get(), LDNS_SECTION_AUTHORITY, ldns_rr_clone(rr.get()));
    }
    auto t0 = Clock::now();
    auto r = exchange(opt_, u.get());
    spdlog::debug("dns: UPDATE {} with {} change(s): {} in {:.1f} ms", zone, batch.size(),
                  r.ok() ? rcode_name(r->rcode) : r.error().message, ms_since(t0));
    return r;
  }

  void send_batch(const std::vector<Change*>& batch) {
    const std::string& zone = batch.front()->zone;
    auto r = send_update(zone, batch);
    bool too_large = !r.ok() && r.error().message == kMessageTooLarge;  // nothing was sent
    if (batch.size() > 1 &&
        (too_large ||
         (r.ok() && r->rcode != LDNS_RCODE_NOERROR && r->rcode != LDNS_RCODE_SERVFAIL &&
          r->rcode != LDNS_RCODE_NOTAUTH && r->rcode != LDNS_RCODE_NOTIMPL))) {
      // Halve until the failing changes are alone: k failures among n cost O(k log n) messages.
      spdlog::debug("dns: UPDATE {} with {} changes {}; sending each half again", zone,
                    batch.size(), too_large ? "too large" : "answered " + rcode_name(r->rcode));
      auto mid = batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 2);
      send_batch(std::vector<Change*>(batch.begin(), mid));
      send_batch(std::vector<Change*>(mid, batch.end()));
      return;
    }
    if (batch.size() == 1 && batch.front()->compact_guard && r.ok() &&
        r->rcode == LDNS_RCODE_YXDOMAIN) {
      // "Name not in use" failed: the owner has records now. Whether they stop this create is
      // for the precise prerequisites to say.
      Change& c = *batch.front();
      c.compact_guard = false;
      RdfPtr owner(ldns_rdf_clone(ldns_rr_owner(c.prereq.front().get())));
      c.prereq = create_guard(owner.get(), c.rr_type, false);
      send_batch(batch);
      return;
    }
    for (Change* c : batch) c->result = judge(*c, r);
  }

  // What an answer means for one change.
  Status judge(Change& c, const Result<Reply>& r) {
    if (!r.ok()) return r.error();
    switch (r->rcode) {
      case LDNS_RCODE_NOERROR:
        return {};
      case LDNS_RCODE_YXDOMAIN:
      case LDNS_RCODE_YXRRSET:
      case LDNS_RCODE_NXDOMAIN:
      case LDNS_RCODE_NXRRSET:
        return explain_conflict(c, r->rcode);
      case LDNS_RCODE_REFUSED:
        return explain_refused(c);
      case LDNS_RCODE_NOTAUTH:
        return Error::NotFound("the server is not authoritative for zone " + c.zone + " (NOTAUTH)",
                               "create the zone on the server, or correct the record's zone");
      case LDNS_RCODE_NOTZONE:
        return Error::Invalid(c.owner + " is not in zone " + c.zone + " (NOTZONE)");
      case LDNS_RCODE_FORMERR:
        return Error::Invalid("the server could not parse the update for " + c.owner + " " +
                              c.type + " (FORMERR)");
      case LDNS_RCODE_NOTIMPL:
        return Error::Conflict("the server does not accept dynamic updates (NOTIMP)",
                               "enable RFC 2136 updates for zone " + c.zone);
      case LDNS_RCODE_SERVFAIL:
        return Error::Transient("the server failed to apply the update (SERVFAIL)");
      default:
        return Error::Conflict("the update was answered " + rcode_name(r->rcode));
    }
  }

  // A prerequisite failed: someone changed the RRset since the plan — unless it is already what
  // we wanted (e.g. a retried update that had been applied), which is success.
  Status explain_conflict(const Change& c, int rcode) {
    const std::string plan_again = "changed since planned, plan again";
    auto now = query_rrset(c.owner, c.type);
    if (!now.ok())
      return Error::Conflict(
          plan_again + ": " + c.type + " " + c.owner + " (" + rcode_name(rcode) + ")",
          "run converge plan again");
    std::vector<std::string> have;
    uint32_t ttl = 0;
    if (*now) {
      have = canonical_set((*now)->values);
      ttl = (*now)->ttl;
    }
    bool exists = now->has_value();
    if (c.action == Action::kDelete && !exists) return {};
    if (c.action != Action::kDelete && exists && have == c.want && ttl == c.ttl) {
      spdlog::info("dns: {}: already as desired", c.id);
      return {};
    }
    if (c.action == Action::kCreate && !exists) {
      if (c.type == "CNAME")
        return Error::Conflict(
            c.owner + " already has other records; a CNAME cannot coexist with them",
            "remove them, or use another name");
      return Error::Conflict(
          "a CNAME exists at " + c.owner + "; other records cannot be added there",
          "remove the CNAME, or use another name");
    }
    std::string state = exists
                            ? "now holds " + list_text(have) + " (ttl " + std::to_string(ttl) + ")"
                            : "no longer exists";
    std::string planned = c.action == Action::kCreate
                              ? "did not exist when planned"
                              : "held " + list_text(c.before) + " when planned";
    return Error::Conflict(
        plan_again + ": " + c.type + " " + c.owner + " " + state + ", " + planned,
        "run converge plan again to see the difference");
  }

  Status explain_refused(const Change& c) {
    for (const auto& target : c.targets) {
      if (!in_zone(target, c.zone)) continue;
      auto a = query_rrset(target, "A");
      auto aaaa = query_rrset(target, "AAAA");
      if (a.ok() && aaaa.ok() && !*a && !*aaaa)
        return Error::Conflict("the server refused the update (REFUSED): " + c.type + " target " +
                                   target + " is in zone " + c.zone + " but has no A/AAAA record",
                               "declare the target's address record");
    }
    if (!s_.key)
      return Error::Conflict(
          "the server refused the unsigned update (REFUSED)",
          "configure a TSIG key (tsig_key_file) the server allows to update zone " + c.zone);
    return Error::Conflict("the server refused the update (REFUSED)",
                           "check that key '" + s_.key->name + "' may update " + c.owner +
                               " in zone " + c.zone +
                               " (allow-update / update-policy) and the server's log");
  }

  Settings s_;
  ClientOptions opt_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ZoneQueue> queues_;
  // The last transfer of each zone, and the owners changes were built for (first_at_empty_owner).
  struct Seen {
    std::shared_ptr<const ZoneIndex> index;
    std::optional<std::vector<std::string>> types;  // index->types(), once asked
  };
  std::mutex seen_mu_;
  std::map<std::string, Seen> seen_;
  std::unordered_set<std::string> touched_;
  // Fetched by fingerprint() and not yet used by an observe() (only touched by the observing
  // thread), and the zone checks of the last observe().
  std::map<std::string, Result<ZoneState>> fetched_;
  std::map<std::string, Result<ZoneCheck>> fetched_checks_, last_checks_;
  // Zone transfers prefetch() started, by zone (only touched by the observing thread).
  std::map<std::string, std::future<Result<ZoneState>>> prefetched_;
};

}  // namespace

ProviderKind kind() { return {"dns", {"dns_zone", "dns_record"}, {"tsig_secret"}}; }

Result<std::unique_ptr<Provider>> make(const ProviderConfig& cfg) {
  auto s = parse_settings(cfg);
  if (!s.ok()) return s.error();
  spdlog::debug("dns: provider {} for {} ({})", cfg.name, s->server.text,
                s->key ? "TSIG key " + s->key->name + ", " + s->key->algorithm : "unsigned");
  return std::unique_ptr<Provider>(std::make_unique<DnsProvider>(std::move(*s)));
}

}  // namespace converge::dns
