// Hex formatting shared by the security descriptor codec (security_descriptor.cpp) and its text
// forms (security_descriptor_text.cpp): "0x" then at least `width` lowercase hex digits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace converge::sd {

inline std::string Hex(uint64_t v, int width = 0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace converge::sd
