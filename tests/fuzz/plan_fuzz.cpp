// libFuzzer target: loading a plan file (JSON -> Plan) on arbitrary bytes, and its round trip.
// Whatever the input, load_plan() must return a plan or an error (never crash, overflow the stack
// on deep nesting, or hang); a plan that loads must serialise, load again, and serialise to the
// same bytes (pretty and one-line forms).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/saved_plan.h"

namespace {

void round_trip(const converge::Plan& p, int indent) {
  std::string once = p.to_json(indent);
  auto again = converge::load_plan(once, "fuzz.json");
  if (!again.ok()) std::abort();  // what converge writes, converge reads
  if (again->to_json(indent) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto p = converge::load_plan(text, "fuzz.json");
  if (!p.ok()) {
    if (p.error().message.empty()) std::abort();  // every error says something
    return 0;
  }
  round_trip(*p, 2);
  round_trip(*p, -1);
  return 0;
}
