// libFuzzer target for the security descriptor codec. Property checked: any input parse() accepts
// serialises (serialize() never refuses a parsed value), the result parses back to an equal
// value, and serialising that again gives the same bytes. Also exercises the text formatters and
// the DACL edits on whatever parsed, since they must hold for arbitrary ACLs.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "providers/ldap/security_descriptor.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "security_descriptor_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace converge::sd;
  auto first = parse(std::span<const uint8_t>(data, size));
  if (!first.ok()) {
    if (first.error().message.empty()) Fail("error without a message");
    return 0;
  }
  const SecurityDescriptor& sd = *first;
  std::vector<uint8_t> once = serialize(sd);
  if (once.empty()) Fail("serialize() refused a parsed descriptor");
  auto second = parse(once);
  if (!second.ok()) Fail("serialized descriptor does not parse");
  if (!(*second == sd)) Fail("round trip changed the descriptor");
  if (serialize(*second) != once) Fail("second serialisation differs");
  (void)to_sddl(sd);

  if (sd.dacl && !sd.dacl->aces.empty()) {
    // Upserting an ACE that is already there (as the only one of its identity) is a no-op, and
    // removing what was upserted leaves the other ACEs in their order.
    Acl acl = *sd.dacl;
    Ace ace = acl.aces[size % acl.aces.size()];
    ace.flags &= static_cast<uint8_t>(~kInherited);
    ace.mask ^= kWriteDacl;
    upsert_explicit(acl, ace);
    if (upsert_explicit(acl, ace)) Fail("second upsert changed the ACL");
    if (remove_explicit(acl, ace) != 1) Fail("upserted ACE not removed exactly once");
    std::vector<Ace> kept;
    for (const Ace& a : sd.dacl->aces) {
      if (a.inherited() || !same_identity(a, ace)) kept.push_back(a);
    }
    if (acl.aces != kept) Fail("upsert/remove disturbed other ACEs");
    if (is_canonical(*sd.dacl)) {
      Acl c = *sd.dacl;
      upsert_explicit(c, ace);
      if (!is_canonical(c)) Fail("upsert broke canonical order");
    }
  }
  return 0;
}
