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
// The same into `out`, reusing its buffer.
void assign_canonical_name(std::string& out, std::string_view name);
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
  bool operator==(const RRset&) const = default;
};

// Canonical presentation of one record's RDATA: fields separated by one space, domain names
// absolute and lower-case, text quoted as ldns prints it ("10 exch1.target.local."). The field
// types of the managed records (and SOA) are printed straight from the rdf bytes, everything else
// by ldns_rdf2str; the result is byte for byte rdata_text_reference's.
std::string rdata_text(const ldns_rr* rr);
// The same through ldns_rdf2str for every field (slow: kept to check rdata_text against).
std::string rdata_text_reference(const ldns_rr* rr);
// One field as rdata_text prints it (DNAMEs lower-cased when `lower`), and the same through
// ldns_rdf2str.
std::string rdf_text(const ldns_rdf* f, bool lower = true);
std::string rdf_text_reference(const ldns_rdf* f, bool lower = true);
// A record's owner as the RRsets hold it (canonical_name of its presentation form), and the same
// through ldns_rdf2str.
std::string owner_name(const ldns_rr* rr);
std::string owner_name_reference(const ldns_rr* rr);

// RRsets keyed by rrset_key(owner, type).
using ZoneRRsets = std::unordered_map<std::string, RRset>;
std::string rrset_key(std::string_view owner, std::string_view type);
// Adds one record to its RRset. Records of the pseudo and meta types (TSIG, OPT) are ignored.
void add_record(ZoneRRsets& sets, const ldns_rr* rr);
// Adds every record of a list (e.g. one AXFR message's answer section).
void add_records(ZoneRRsets& sets, const ldns_rr_list* rrs);

// The RRsets of a whole zone (an AXFR), the same as add_record builds into a ZoneRRsets, but kept
// in one text buffer and flat tables: a zone of many thousand records costs no allocation per
// record (a ZoneRRsets makes four or five, and as many frees). Not thread-safe while adding.
class ZoneIndex {
 public:
  static constexpr size_t kNone = static_cast<size_t>(-1);
  struct Set {
    size_t hash = 0;
    size_t key = 0, key_size = 0, owner_size = 0;   // rrset_key() at text offset `key`
    uint32_t ttl = 0;                               // the smallest TTL of its records
    size_t first = kNone, last = kNone, count = 0;  // values, chained in order
  };

  // Adds one record to its RRset, as add_record does.
  void add(const ldns_rr* rr);
  size_t size() const { return sets_.size(); }
  // The RRset whose rrset_key() is `key`, or null.
  const Set* find(std::string_view key) const;
  std::string_view owner(const Set& s) const { return text(s.key, s.owner_size); }
  std::string_view type(const Set& s) const {
    return text(s.key + s.owner_size + 1, s.key_size - s.owner_size - 1);
  }
  // Calls f(std::string_view) on each value of `s`, in order.
  template <typename F>
  void each_value(const Set& s, F f) const {
    for (size_t i = s.first; i != kNone; i = values_[i].next)
      f(text(values_[i].offset, values_[i].size));
  }
  bool has_value(const Set& s, std::string_view v) const;
  // The distinct record types of all RRsets, in order of first appearance.
  std::vector<std::string> types() const;
  // "sha256:" and the SHA-256 (hex) of every RRset: key, TTL and values, in order. Two indexes
  // with the same digest hold the same RRsets (so give the same observations).
  std::string digest() const;
  // One RRset, or all of them, as add_record builds them.
  RRset rrset(const Set& s) const;
  ZoneRRsets rrsets() const;

 private:
  struct ValueRef {
    size_t offset, size, next;
  };
  std::string_view text(size_t offset, size_t size) const { return {text_.data() + offset, size}; }
  void grow();

  std::string text_;  // every key and value
  std::vector<Set> sets_;
  std::vector<ValueRef> values_;
  std::vector<size_t> slots_;  // open addressing: index into sets_ + 1, 0 when free
};

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

// True when `value`, a value of `type`, is written exactly as rdata_text prints it and is sure
// to parse (for any owner and zone that are plain names, see desired_spellings): a dotted quad,
// an IPv6 address as inet_ntop prints it, or MX/SRV numbers without leading zeros and absolute
// lower-case names of letters, digits, '-' and '_' (CNAME, PTR, NS, MX, SRV). False says nothing
// (TXT, for one, is always false): such values are parsed.
bool spelled_canonically(std::string_view type, std::string_view value);

// canonical presentation -> the manifest's spelling, for the desired values not spelled
// canonically. A value found verbatim among `observed` (canonical, sorted) is canonical already and
// is not parsed again (the common case: a no-op plan parses nothing), nor is one that is
// spelled_canonically when owner and zone are plain absolute names (new records of the common
// types); every other value is parsed, so a malformed one is an error.
using Spellings = std::map<std::string, std::string>;
Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed = nullptr);

// The observation attributes of an RRset, under the declared names (zone, name, type, ttl,
// values). A value equal on the wire to a desired one is given in the desired spelling, so the
// engine's textual comparison never sees a difference that is not there (no perpetual diffs).
AttrMap record_attrs(const RRset& set, const std::string& zone, const Spellings& spelled);
// The same for an RRset of a ZoneIndex whose values are all desired as they are (no spellings).
AttrMap record_attrs(const ZoneIndex& data, const ZoneIndex::Set& set, const std::string& zone);

// Values of an RRset as a sorted, unique set of canonical strings (for comparing states).
std::vector<std::string> canonical_set(const std::vector<std::string>& canonical_values);

// Human names of DNS response codes and TSIG errors ("REFUSED", "BADSIG").
std::string rcode_name(int rcode);
std::string tsig_error_name(int code);

}  // namespace converge::dns
