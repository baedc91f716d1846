// Desired DNS data: the records an UPDATE carries, built from a resource's attributes, and the
// canonical form of the values a manifest writes (to compare them with what was observed).
// Thread-safety: every function is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "providers/dns/dns_rdata.h"
#include "providers/dns/dns_zone_index.h"

namespace converge::dns {

// One record built from presentation text; relative names are relative to `zone`. Rejects
// control characters, unquoted ; ( ) and anything ldns cannot parse, with a message naming the
// value.
Result<RrPtr> make_record(const std::string& owner, uint32_t ttl, const std::string& type,
                          const std::string& value, const std::string& zone);

// The canonical presentation of a desired value (what rdata_text gives once it is on the server).
Result<std::string> canonical_value(const std::string& type, const std::string& value,
                                    const std::string& zone);

// canonical presentation -> the manifest's spelling, for every desired value of one RRset whose
// spelling differs from its canonical form. A value found verbatim among `observed` (canonical,
// sorted) is canonical already and is not parsed (a no-op plan parses nothing, which is most of
// the cost of observing beyond the transfer); every other value is parsed, so a malformed one is an
// error.
Result<Spellings> desired_spellings(const std::string& owner, const std::string& type,
                                    const std::vector<std::string>& values, const std::string& zone,
                                    const std::vector<std::string>* observed = nullptr);

// Values of an RRset as a sorted, unique set of canonical strings (for comparing states).
std::vector<std::string> canonical_set(std::vector<std::string> canonical_values);

}  // namespace converge::dns
