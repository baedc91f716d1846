// Changes: RFC 2136 UPDATE messages. Each change carries prerequisites that hold only while its
// RRset is as planned, so a concurrent change makes it fail instead of being overwritten. The
// changes of a batch go out per zone in as few messages as fit; RFC 2136 checks every
// prerequisite before changing anything, so a message is all or nothing, and one that fails is
// sent again in halves until each failing change is alone (one answer per change).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "engine/api/names.h"
#include "providers/dns/dns_desired.h"
#include "providers/dns/dns_provider_impl.h"

namespace converge::dns {
namespace {

// Messages go over TCP (at most 65,535 bytes); this leaves room for the zone, TSIG and slack.
constexpr size_t kMaxBatchBytes = 56 * 1024;

std::string list_text(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
  return out + "]";
}

// An RR with no rdata at `owner` (a prerequisite, or "delete this RRset").
RrPtr empty_rr(const ldns_rdf* owner, ldns_rr_type type, ldns_rr_class cls) {
  RrPtr rr(ldns_rr_new());
  if (!rr) return nullptr;
  ldns_rr_set_owner(rr.get(), ldns_rdf_clone(owner));
  ldns_rr_set_type(rr.get(), type);
  ldns_rr_set_class(rr.get(), cls);
  ldns_rr_set_ttl(rr.get(), 0);
  return rr;
}

RrPtr with_class(const ldns_rr* rr, ldns_rr_class cls, uint32_t ttl) {
  RrPtr c(ldns_rr_clone(rr));
  if (c) {
    ldns_rr_set_class(c.get(), cls);
    ldns_rr_set_ttl(c.get(), ttl);
  }
  return c;
}

// The prerequisites of creating an RRset of type `t` at `owner`: it must not exist yet, and a
// CNAME cannot share its name with other data (the server would silently ignore the addition).
// For a CNAME both are "name not in use" (RFC 2136 2.4.5).
std::vector<RrPtr> create_guard(const ldns_rdf* owner, ldns_rr_type t) {
  std::vector<RrPtr> out;
  if (t == LDNS_RR_TYPE_CNAME) {
    out.push_back(empty_rr(owner, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_NONE));
  } else {
    out.push_back(empty_rr(owner, t, LDNS_RR_CLASS_NONE));
    out.push_back(empty_rr(owner, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_NONE));
  }
  return out;
}

// The RRset must still hold exactly the values it held when planned (or exist at all, when the
// plan did not say which).
std::vector<RrPtr> as_planned(const ldns_rdf* owner, ldns_rr_type t,
                              const std::vector<RrPtr>& before) {
  std::vector<RrPtr> out;
  if (before.empty()) out.push_back(empty_rr(owner, t, LDNS_RR_CLASS_ANY));
  for (const auto& rr : before) out.push_back(with_class(rr.get(), LDNS_RR_CLASS_IN, 0));
  return out;
}

}  // namespace

ApplyResponse DnsProvider::apply(const ApplyRequest& req) {
  ApplyResponse resp;
  if (req.resource.type && req.resource.type->name == "dns_zone") {
    std::string zone = canonical_dns_name(req.resource.str("name"));
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
  send_batch({&*change});
  resp.status = change->result;
  return resp;
}

std::vector<ApplyResponse> DnsProvider::apply_batch(const std::vector<ApplyRequest>& reqs) {
  std::vector<ApplyResponse> out(reqs.size());
  std::vector<std::optional<Change>> changes(reqs.size());
  std::map<std::string, std::vector<size_t>> by_zone;  // requests, by canonical zone
  for (size_t k = 0; k < reqs.size(); ++k) {
    const auto* t = reqs[k].resource.type;
    if (!t || t->name != "dns_record")
      out[k] = apply(reqs[k]);
    else
      by_zone[canonical_dns_name(reqs[k].resource.str("zone"))].push_back(k);
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
      Change* ch = &changes[k].emplace(std::move(*c));
      if (!batch.empty() &&
          (batch.size() == kMaxBatchChanges || bytes + ch->bytes > kMaxBatchBytes)) {
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

Result<Change> DnsProvider::build_change(const ApplyRequest& req) const {
  const ResourceView& r = req.resource;
  Change c;
  c.id = r.id ? *r.id : "dns_record";
  c.action = req.action;
  c.zone = canonical_dns_name(r.str("zone"));
  c.owner = canonical_dns_name(r.str("name"));
  c.type = canonical_type(r.str("type"));
  const Value& ttl = r.get("ttl");
  c.ttl = ttl.is_int() && ttl.as_int() >= 0 && ttl.as_int() <= 2147483647
              ? static_cast<uint32_t>(ttl.as_int())
              : 3600;
  if (!managed_type(c.type))
    return Error::Invalid("unsupported record type '" + r.str("type") + "'");
  if (!in_zone(c.owner, c.zone))
    return Error::Invalid("name " + c.owner + " is not in zone " + c.zone);
  ldns_rr_type t = ldns_get_rr_type_by_name(c.type.c_str());
  ldns_rdf* owner_raw = nullptr;
  if (ldns_str2rdf_dname(&owner_raw, c.owner.c_str()) != LDNS_STATUS_OK)
    return Error::Invalid("'" + c.owner + "' is not a valid DNS name");
  RdfPtr owner(owner_raw);

  std::vector<RrPtr> want;
  if (req.action == Action::kCreate || req.action == Action::kUpdate) {
    for (const auto& v : r.get("values").strings()) {
      auto rr = make_record(c.owner, c.ttl, c.type, v, c.zone);
      if (!rr.ok()) return rr.error();
      c.want.push_back(rdata_text(rr->get()));
      size_t target = c.type == "MX" ? 1 : c.type == "SRV" ? 3 : 0;
      if (target && ldns_rr_rd_count(rr->get()) > target)
        c.targets.push_back(rdf_text(ldns_rr_rdf(rr->get(), target)));
      want.push_back(std::move(*rr));
    }
    if (want.empty()) return Error::Invalid("no values to write");
    c.want = canonical_set(std::move(c.want));
  }
  std::vector<RrPtr> before;
  if (req.action == Action::kUpdate || req.action == Action::kDelete) {
    if (auto it = req.before.find("values"); it != req.before.end())
      for (const auto& v : it->second.strings()) {
        auto rr = make_record(c.owner, 0, c.type, v, c.zone);
        if (!rr.ok())
          return Error::Invalid("the planned state cannot be read back: " + rr.error().message);
        c.before.push_back(rdata_text(rr->get()));
        before.push_back(std::move(*rr));
      }
    c.before = canonical_set(std::move(c.before));
  }

  switch (req.action) {
    case Action::kCreate:
      c.prereq = create_guard(owner.get(), t);
      break;
    case Action::kUpdate:
      c.prereq = as_planned(owner.get(), t, before);
      if (c.type == "NS" && c.owner == c.zone) {
        // Servers ignore deleting the apex NS RRset: remove the values that go, one by one.
        for (const auto& rr : before)
          if (!std::binary_search(c.want.begin(), c.want.end(), rdata_text(rr.get())))
            c.update.push_back(with_class(rr.get(), LDNS_RR_CLASS_NONE, 0));
      } else {
        c.update.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
      }
      break;
    case Action::kDelete:
      c.prereq = as_planned(owner.get(), t, before);
      c.update.push_back(empty_rr(owner.get(), t, LDNS_RR_CLASS_ANY));
      break;
    default:
      return Error::Internal("nothing to apply for action " +
                             std::to_string(static_cast<int>(req.action)));
  }
  for (auto& rr : want) c.update.push_back(std::move(rr));
  auto missing = [](const RrPtr& p) { return !p; };
  if (std::any_of(c.prereq.begin(), c.prereq.end(), missing) ||
      std::any_of(c.update.begin(), c.update.end(), missing))
    return Error::Internal("cannot build the update for " + c.owner);
  // What the change adds to a message: ldns compresses every owner to its labels below the
  // zone plus a pointer to the zone's name in the zone section (names in rdata counted whole).
  size_t saved = c.zone.size() > 1 ? c.zone.size() + 1 - 2 : 0;  // zone in wire form - pointer
  for (const auto* list : {&c.prereq, &c.update})
    for (const auto& rr : *list) c.bytes += ldns_rr_uncompressed_size(rr.get()) - saved;
  return c;
}

Result<Reply> DnsProvider::send_update(const std::string& zone,
                                       const std::vector<Change*>& batch) const {
  PktPtr u = make_update(zone);
  if (!u) return Error::Invalid("'" + zone + "' is not a valid zone name");
  for (const Change* c : batch) {
    for (const auto& rr : c->prereq)
      ldns_pkt_push_rr(u.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(rr.get()));
    for (const auto& rr : c->update)
      ldns_pkt_push_rr(u.get(), LDNS_SECTION_AUTHORITY, ldns_rr_clone(rr.get()));
  }
  auto r = exchange(opt_, u.get());
  spdlog::debug("dns: UPDATE {} with {} change(s): {}", zone, batch.size(),
                r.ok() ? rcode_name(r->rcode) : r.error().message);
  return r;
}

void DnsProvider::send_batch(const std::vector<Change*>& batch) const {
  const std::string& zone = batch.front()->zone;
  auto r = send_update(zone, batch);
  bool too_large = !r.ok() && r.error().message == kMessageTooLarge;  // nothing was sent
  // Answers that say something about the changes themselves (a prerequisite, a refusal, a
  // malformed record) are found out change by change; the others hold for every change.
  bool per_change =
      too_large || (r.ok() && r->rcode != LDNS_RCODE_NOERROR && r->rcode != LDNS_RCODE_SERVFAIL &&
                    r->rcode != LDNS_RCODE_NOTAUTH && r->rcode != LDNS_RCODE_NOTIMPL);
  if (batch.size() > 1 && per_change) {
    // Halve until the failing changes are alone: k failures among n cost O(k log n) messages.
    spdlog::debug("dns: UPDATE {} with {} changes {}; sending each half again", zone, batch.size(),
                  too_large ? "too large" : "answered " + rcode_name(r->rcode));
    auto mid = batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 2);
    send_batch(std::vector<Change*>(batch.begin(), mid));
    send_batch(std::vector<Change*>(mid, batch.end()));
    return;
  }
  for (Change* c : batch) c->result = judge(*c, r);
}

Status DnsProvider::judge(const Change& c, const Result<Reply>& r) const {
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
      return Error::Invalid("the server could not parse the update for " + c.owner + " " + c.type +
                            " (FORMERR)");
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
Status DnsProvider::explain_conflict(const Change& c, int rcode) const {
  const std::string plan_again = "changed since planned, plan again";
  auto now = query_rrset(c.owner, c.type);
  if (!now.ok())
    return Error::Conflict(
        plan_again + ": " + c.type + " " + c.owner + " (" + rcode_name(rcode) + ")",
        "run converge plan again");
  bool exists = now->has_value();
  std::vector<std::string> have =
      exists ? canonical_set((*now)->values) : std::vector<std::string>();
  uint32_t ttl = exists ? (*now)->ttl : 0;
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
    return Error::Conflict("a CNAME exists at " + c.owner + "; other records cannot be added there",
                           "remove the CNAME, or use another name");
  }
  std::string state = exists ? "now holds " + list_text(have) + " (ttl " + std::to_string(ttl) + ")"
                             : "no longer exists";
  std::string planned = c.action == Action::kCreate
                            ? "did not exist when planned"
                            : "held " + list_text(c.before) + " when planned";
  return Error::Conflict(plan_again + ": " + c.type + " " + c.owner + " " + state + ", " + planned,
                         "run converge plan again to see the difference");
}

Status DnsProvider::explain_refused(const Change& c) const {
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

}  // namespace converge::dns
