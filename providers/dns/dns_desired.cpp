#include "providers/dns/dns_desired.h"

#include <algorithm>

#include "engine/api/names.h"

namespace converge::dns {

Result<RrPtr> make_record(const std::string& owner, uint32_t ttl, const std::string& type,
                          const std::string& value, const std::string& zone) {
  std::string v = trim(value);
  std::string t = canonical_type(type);
  if (v.empty()) return Error::Invalid("empty " + t + " value");
  // The value is pasted into a zone-file line: nothing in it may end the line or the record.
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 && c != '\t')
      return Error::Invalid("malformed " + t + " value: it contains a control character");
    if (c == '\\' && i + 1 < v.size()) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ';' || c == '(' || c == ')'))
      return Error::Invalid("malformed " + t + " value '" + v + "': unquoted '" +
                                std::string(1, static_cast<char>(c)) + "'",
                            "put text with ; ( ) in double quotes");
  }
  if (quoted) return Error::Invalid("malformed " + t + " value '" + v + "': unterminated quote");
  ldns_rdf* origin_raw = nullptr;
  if (ldns_str2rdf_dname(&origin_raw, canonical_dns_name(zone).c_str()) != LDNS_STATUS_OK)
    return Error::Invalid("zone '" + zone + "' is not a valid DNS name");
  RdfPtr origin(origin_raw);
  std::string line = canonical_dns_name(owner) + " " + std::to_string(ttl) + " IN " + t + " " + v;
  ldns_rr* raw = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&raw, line.c_str(), ttl, origin.get(), nullptr);
  RrPtr rr(raw);
  if (st != LDNS_STATUS_OK || !rr)
    return Error::Invalid("malformed " + t + " value '" + v + "': " + ldns_get_errorstr_by_id(st));
  if (type_name(ldns_rr_get_type(rr.get())) != t)
    return Error::Invalid("unsupported record type '" + type + "'");
  return rr;
}

Result<std::string> canonical_value(const std::string& type, const std::string& value,
                                    const std::string& zone) {
  auto rr = make_record(zone, 0, type, value, zone);
  if (!rr.ok()) return rr.error();
  return rdata_text(rr->get());
}

Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed) {
  Spellings out;
  for (const auto& v : values) {
    if (observed && std::binary_search(observed->begin(), observed->end(), v)) continue;
    auto rr = make_record(owner, 0, type, v, zone);
    if (!rr.ok()) return rr.error();
    if (std::string canonical = rdata_text(rr->get()); canonical != v) out.emplace(canonical, v);
  }
  return out;
}

std::vector<std::string> canonical_set(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace converge::dns
