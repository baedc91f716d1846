// Observation: zone checks (one SOA query per zone), one zone transfer per zone per observe()
// call, and one query per RRset where the server refuses transfers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <thread>

#include "engine/api/names.h"
#include "providers/dns/dns_desired.h"
#include "providers/dns/dns_provider_impl.h"

namespace converge::dns {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

template <typename F>
auto DnsProvider::with_retries(const std::string& what, F f) const -> decltype(f()) {
  auto delay = std::chrono::milliseconds(200);
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || r.error().kind != ErrorKind::kTransient) return r;
    if (attempt >= s_.attempts) {
      if (s_.attempts == 1) return r;
      Error e = r.error();
      e.message += " (" + std::to_string(attempt) + " attempts)";
      return e;
    }
    spdlog::info("dns: {}: {}; retrying in {} ms", what, r.error().message, delay.count());
    std::this_thread::sleep_for(delay);  // backoff before the next attempt
    delay *= 2;
  }
}

ObserveResponse DnsProvider::observe(const ObserveRequest& req) {
  if (req.type && req.type->name == "dns_zone") return observe_zones(req);
  return observe_records(req);
}

// ---- zones ----

Result<DnsProvider::ZoneCheck> DnsProvider::check_zone(const std::string& zone) const {
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
    if (ldns_pkt_aa(r->pkt.get()) && sets.count(rrset_key(zone, "SOA")))
      c.served = true;
    else
      c.why = "it is not a zone apex on this server";
    return c;
  });
}

std::string DnsProvider::missing_zone_note(const std::string& zone, const std::string& why) const {
  std::string z = zone.size() > 1 ? zone.substr(0, zone.size() - 1) : zone;
  std::string key = s_.key ? s_.key->name : "KEY";
  return "zone " + zone + " is not served by " + s_.server.text + " (" + why +
         "); RFC 2136 cannot create zones: create it on the server (BIND: zone \"" + z +
         "\" { type primary; file \"" + z + ".db\"; allow-update { key \"" + key +
         "\"; }; allow-transfer { key \"" + key + "\"; }; }; then rndc reconfig), then plan again";
}

ObserveResponse DnsProvider::observe_zones(const ObserveRequest& req) const {
  ObserveResponse resp;
  std::map<std::string, Result<ZoneCheck>> checked;
  for (const auto& r : req.resources) {
    Observation o;
    std::string zone = canonical_dns_name(r.str("name"));
    auto it = checked.find(zone);
    if (it == checked.end()) it = checked.emplace(zone, check_zone(zone)).first;
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
  return resp;
}

// ---- records ----

Result<DnsProvider::ZoneState> DnsProvider::zone_state(const std::string& zone) const {
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

Result<std::optional<RRset>> DnsProvider::query_rrset(const std::string& owner,
                                                      const std::string& type) const {
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
    return std::optional<RRset>(std::move(it->second));
  });
}

ObserveResponse DnsProvider::observe_records(const ObserveRequest& req) const {
  auto t0 = Clock::now();
  ObserveResponse resp;
  resp.results.resize(req.resources.size());
  std::map<std::string, Result<ZoneState>> zones;
  std::vector<std::string> queried;  // zones observed by per-RRset queries
  size_t queries = 0;
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const ResourceView& r = req.resources[i];
    Observation& o = resp.results[i];
    std::string zone = canonical_dns_name(r.str("zone"));
    std::string owner = canonical_dns_name(r.str("name"));
    std::string type = canonical_type(r.str("type"));
    if (!managed_type(type)) {
      o.error = Error::Invalid("unsupported record type '" + r.str("type") + "'").on(*r.id);
      continue;
    }
    if (!in_zone(owner, zone)) {
      o.error = Error::Invalid("name " + owner + " is not in zone " + zone,
                               "write the name relative to the zone, or absolute inside it")
                    .on(*r.id);
      continue;
    }
    auto zit = zones.find(zone);
    if (zit == zones.end()) zit = zones.emplace(zone, zone_state(zone)).first;
    if (!zit->second.ok()) {
      o.error = Error(zit->second.error()).on(*r.id);
      continue;
    }
    const ZoneState& st = *zit->second;
    const std::vector<std::string> desired = r.get("values").strings();
    if (st.mode == ZoneState::kMissing) {
      if (auto bad = desired_spellings(owner, type, desired, zone); !bad.ok())
        o.error = Error(bad.error()).on(*r.id);
      else
        o.note = "zone " + zone + " is not served by " + s_.server.text + " (" + st.why + ")";
      continue;
    }
    std::optional<RRset> found;
    if (st.mode == ZoneState::kTransferred) {
      if (auto it = st.sets.find(rrset_key(owner, type)); it != st.sets.end()) found = it->second;
    } else {
      if (std::find(queried.begin(), queried.end(), zone) == queried.end()) queried.push_back(zone);
      ++queries;
      auto q = query_rrset(owner, type);
      if (!q.ok()) {
        o.error = Error(q.error()).on(*r.id);
        continue;
      }
      found = std::move(*q);
    }
    auto spelled = desired_spellings(owner, type, desired, zone, found ? &found->values : nullptr);
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
  return resp;
}

}  // namespace converge::dns
