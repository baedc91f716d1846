// Observed DNS data: records grouped into RRsets (one owner name and type), as a zone transfer or
// a query answer delivers them, and the observation attributes the engine diffs.
// Thread-safety: every function is reentrant.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/api/result.h"
#include "engine/api/schema.h"
#include "providers/dns/dns_rdata.h"

namespace converge::dns {

// Every value of one owner name and type, as observed.
struct RRset {
  std::string owner;                // canonical
  std::string type;                 // upper-case
  uint32_t ttl = 0;                 // the smallest TTL of its records
  std::vector<std::string> values;  // canonical presentation, sorted, unique
  bool operator==(const RRset&) const = default;
};

// RRsets keyed by rrset_key(owner, type): "owner.|TYPE", canonical.
using ZoneRRsets = std::unordered_map<std::string, RRset>;
std::string rrset_key(std::string_view owner, std::string_view type);
// Adds one record to its RRset. Records of the pseudo and meta types (TSIG, OPT) are ignored.
void add_record(ZoneRRsets& sets, const ldns_rr* rr);
// Adds every record of a list (e.g. one AXFR message's answer section).
void add_records(ZoneRRsets& sets, const ldns_rr_list* rrs);

// One DNS message parsed from wire: its RCODE, the TSIG error it carries (0 when none) and the
// RRsets of its answer section. The pure parser of what a server sends (unit tests, fuzz target).
struct ParsedMessage {
  int rcode = 0;
  int tsig_error = 0;
  bool has_tsig = false;
  ZoneRRsets answer;
};
Result<ParsedMessage> parse_message(const uint8_t* wire, size_t size);

// canonical presentation -> the manifest's spelling of a desired value (desired_spellings).
using Spellings = std::map<std::string, std::string>;

// The observation attributes of an RRset, under the declared names (zone, name, type, ttl,
// values). A value equal on the wire to a desired one is given in the desired spelling, so the
// engine's textual comparison never sees a difference that is not there (no perpetual diffs).
AttrMap record_attrs(const RRset& set, const std::string& zone, const Spellings& spelled);

}  // namespace converge::dns
