#include "providers/dns/dns_zone_index.h"

#include <algorithm>

#include "engine/api/names.h"

namespace converge::dns {

std::string rrset_key(std::string_view owner, std::string_view type) {
  return canonical_dns_name(owner) + "|" + canonical_type(type);
}

void add_record(ZoneRRsets& sets, const ldns_rr* rr) {
  if (!rr || !ldns_rr_owner(rr)) return;
  ldns_rr_type t = ldns_rr_get_type(rr);
  if (t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT) return;
  std::string owner = owner_name(rr), type = type_name(t);
  auto [it, added] = sets.try_emplace(owner + "|" + type);
  RRset& s = it->second;
  if (added) {
    s.owner = std::move(owner);
    s.type = std::move(type);
    s.ttl = ldns_rr_ttl(rr);
  } else {
    s.ttl = std::min(s.ttl, ldns_rr_ttl(rr));
  }
  std::string v = rdata_text(rr);
  auto pos = std::lower_bound(s.values.begin(), s.values.end(), v);
  if (pos == s.values.end() || *pos != v) s.values.insert(pos, std::move(v));
}

void add_records(ZoneRRsets& sets, const ldns_rr_list* rrs) {
  if (!rrs) return;
  for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) add_record(sets, ldns_rr_list_rr(rrs, i));
}

Result<ParsedMessage> parse_message(const uint8_t* wire, size_t size) {
  PktPtr pkt;
  ldns_status st = parse_wire(wire, size, &pkt);
  if (st != LDNS_STATUS_OK || !pkt)
    return Error::Invalid(std::string("malformed DNS message: ") + ldns_get_errorstr_by_id(st));
  ParsedMessage m;
  m.rcode = ldns_pkt_get_rcode(pkt.get());
  if (const ldns_rr* tsig = ldns_pkt_tsig(pkt.get())) {
    m.has_tsig = true;
    if (ldns_rr_rd_count(tsig) > 5 && ldns_rr_rdf(tsig, 5) &&
        ldns_rdf_size(ldns_rr_rdf(tsig, 5)) == 2)
      m.tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
  }
  add_records(m.answer, ldns_pkt_answer(pkt.get()));
  return m;
}

AttrMap record_attrs(const RRset& set, const std::string& zone, const Spellings& spelled) {
  std::vector<Value> values;
  values.reserve(set.values.size());
  for (const auto& v : set.values) {
    auto it = spelled.find(v);
    values.push_back(Value::Str(it == spelled.end() ? v : it->second));
  }
  return {{"name", Value::Str(set.owner)},
          {"ttl", Value::Int(set.ttl)},
          {"type", Value::Str(set.type)},
          {"values", Value::List(std::move(values))},
          {"zone", Value::Str(canonical_dns_name(zone))}};
}

}  // namespace converge::dns
