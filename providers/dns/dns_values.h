// Pure conversions between DNS data (ldns records and messages) and converge values.
//
// Nothing here touches the network: these functions turn wire messages and records into the
// attributes the engine diffs (owner names absolute and lower-case, RDATA in canonical
// presentation form), parse BIND key files and server addresses, and build the records an UPDATE
// carries from a resource's attributes. The DNS wire format itself is ldns's business.
// Thread-safety: every function is reentrant; the RAII types own their ldns objects.
#pragma once

// ldns's common.h redefines bool/true/false unless stdbool.h came first.
#include <stdbool.h>
// clang-format off
#include <ldns/ldns.h>
// clang-format on

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/api/result.h"
#include "engine/api/schema.h"

namespace converge::dns {

// ---- ldns ownership ----

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RrFree {
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct BufferFree {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using BufferPtr = std::unique_ptr<ldns_buffer, BufferFree>;

// ---- settings ----

// A TSIG key. `algorithm` is canonical ("hmac-sha256."); `secret` is base64 and never printed.
struct TsigKey {
  std::string name;
  std::string algorithm;
  std::string secret;
};

// The keys in a BIND key file (`key "name" { algorithm hmac-sha256; secret "..."; };`, the output
// of tsig-keygen; comments and several keys allowed). Errors give line numbers, never the secret.
Result<std::vector<TsigKey>> parse_bind_keys(std::string_view text);

// Canonical TSIG algorithm name for ldns ("hmac-sha256" -> "hmac-sha256."), or an error listing
// the supported ones.
Result<std::string> canonical_algorithm(std::string_view name);

// True when `s` is non-empty, well-formed base64.
bool valid_base64(std::string_view s);

// "host", "host:port", "[v6]:port" or a bare IPv6 address; port defaults to 53.
struct ServerAddress {
  std::string host;
  uint16_t port = 53;
  std::string str() const;
};
Result<ServerAddress> parse_server(std::string_view text);

// ---- names and types ----

// Absolute, lower-case, one trailing dot (the engine's canonical_dns_name).
std::string canonical_name(std::string_view name);
// True when `name` (canonical) is `zone` (canonical) or below it.
bool in_zone(std::string_view name, std::string_view zone);
// Upper-case mnemonic of an RR type ("MX", "TYPE65").
std::string type_name(ldns_rr_type t);
// The record types dns_record manages.
bool managed_type(std::string_view type);

// ---- observed data ----

// Every value of one owner name and type, as observed.
struct RRset {
  std::string owner;                // canonical
  std::string type;                 // upper-case
  uint32_t ttl = 0;                 // the smallest TTL of its records
  std::vector<std::string> values;  // canonical presentation, sorted, unique
};

// Canonical presentation of one record's RDATA: fields separated by one space, domain names
// absolute and lower-case, text quoted as ldns prints it ("10 exch1.target.local.").
std::string rdata_text(const ldns_rr* rr);

// RRsets keyed by rrset_key(owner, type).
using ZoneRRsets = std::unordered_map<std::string, RRset>;
std::string rrset_key(std::string_view owner, std::string_view type);
// Adds one record to its RRset. Records of the pseudo and meta types (TSIG, OPT) are ignored.
void add_record(ZoneRRsets& sets, const ldns_rr* rr);
// Adds every record of a list (e.g. one AXFR message's answer section).
void add_records(ZoneRRsets& sets, const ldns_rr_list* rrs);

// One DNS message parsed from wire: its RCODE, the TSIG error it carries (0 when none) and the
// RRsets of its answer section. Used on AXFR messages and by the fuzz target.
struct ParsedMessage {
  int rcode = 0;
  int tsig_error = 0;
  bool has_tsig = false;
  ZoneRRsets answer;
};
Result<ParsedMessage> parse_message(const uint8_t* wire, size_t size);

// ---- desired data ----

// One record built from presentation text; relative names are relative to `zone`. Rejects
// control characters and anything ldns cannot parse, with a message naming the value.
Result<RrPtr> make_record(const std::string& owner, uint32_t ttl, const std::string& type,
                          const std::string& value, const std::string& zone);

// The canonical presentation of a desired value (what rdata_text gives once it is on the server).
Result<std::string> canonical_value(const std::string& type, const std::string& value,
                                    const std::string& zone);

// canonical presentation -> the manifest's spelling, for the desired values not spelled
// canonically. A value found verbatim among `observed` (canonical, sorted) is canonical already and
// is not parsed again (the common case: a no-op plan parses nothing); every other value is
// parsed, so a malformed one is an error.
using Spellings = std::map<std::string, std::string>;
Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed = nullptr);

// The observation attributes of an RRset, under the declared names (zone, name, type, ttl,
// values). A value equal on the wire to a desired one is given in the desired spelling, so the
// engine's textual comparison never sees a difference that is not there (no perpetual diffs).
AttrMap record_attrs(const RRset& set, const std::string& zone, const Spellings& spelled);

// Values of an RRset as a sorted, unique set of canonical strings (for comparing states).
std::vector<std::string> canonical_set(const std::vector<std::string>& canonical_values);

// Human names of DNS response codes and TSIG errors ("REFUSED", "BADSIG").
std::string rcode_name(int rcode);
std::string tsig_error_name(int code);

}  // namespace converge::dns
