// DNS records as converge reads them: ownership of ldns objects, the canonical presentation of a
// record's owner and RDATA, record types, and the names of response codes.
//
// Canonical presentation is what the engine diffs: owner names and domain names in RDATA absolute
// and lower-case, every other field as ldns 1.8 prints it (ldns_rdf2str), fields separated by one
// space ("10 exch1.target.local."). Text keeps its case.
// Thread-safety: every function is reentrant; the RAII types own their ldns objects.
#pragma once

// ldns's common.h redefines bool/true/false unless stdbool.h came first.
#include <stdbool.h>
// clang-format off
#include <ldns/ldns.h>
// clang-format on

#include <memory>
#include <string>
#include <string_view>

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
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

// ldns_wire2pkt, after checking what ldns does not: at most one TSIG record, and it the last
// of the message (RFC 8945 5.1). ldns 1.8.3 keeps the last TSIG it reads and leaks any earlier
// one, so a message with two is refused before ldns sees it (LDNS_STATUS_WIRE_RDATA_ERR).
ldns_status parse_wire(const uint8_t* wire, size_t size, PktPtr* out);

// ---- presentation ----

// One RDATA field as ldns prints it; domain names lower-cased when `lower`.
std::string rdf_text(const ldns_rdf* f, bool lower = true);
// Canonical presentation of a record's RDATA (its fields, by rdf_text, one space apart).
std::string rdata_text(const ldns_rr* rr);
// A record's owner in canonical form (canonical_dns_name of its presentation).
std::string owner_name(const ldns_rr* rr);

// ---- names and types ----

// True when `name` (canonical) is `zone` (canonical) or below it.
bool in_zone(std::string_view name, std::string_view zone);
// Upper-case mnemonic of an RR type ("MX", "TYPE65534").
std::string type_name(ldns_rr_type t);
// A record type as the manifest writes it, in upper case ("mx" -> "MX").
std::string canonical_type(std::string_view type);
// The record types dns_record manages (any case).
bool managed_type(std::string_view type);

// Human names of DNS response codes and TSIG errors ("REFUSED", "BADSIG").
std::string rcode_name(int rcode);
std::string tsig_error_name(int code);

}  // namespace converge::dns
