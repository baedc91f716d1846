// TSIG keys and the BIND key files that hold them (what tsig-keygen writes).
// Thread-safety: every function is reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"

namespace converge::dns {

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

}  // namespace converge::dns
