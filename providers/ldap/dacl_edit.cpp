// DACL edits: generic rights expanded as AD maps them, ACE identity, Windows' canonical order,
// and replacing or removing one explicit ACE.
#include <algorithm>

#include "providers/ldap/security_descriptor.h"

namespace converge::sd {
namespace {

// Canonical group of an explicit ACE: 0 deny, 1 object deny, 2 allow, 3 object allow; -1 for types
// that do not take part in ordering (audit, labels, ...). Callback variants rank like their base.
int Rank(const Ace& a) {
  switch (a.type) {
    case kAccessDenied:
    case 0x0A:  // ACCESS_DENIED_CALLBACK
      return 0;
    case kAccessDeniedObject:
    case 0x0C:  // ACCESS_DENIED_CALLBACK_OBJECT
      return 1;
    case kAccessAllowed:
    case 0x09:  // ACCESS_ALLOWED_CALLBACK
      return 2;
    case kAccessAllowedObject:
    case 0x0B:  // ACCESS_ALLOWED_CALLBACK_OBJECT
      return 3;
    default:
      return -1;
  }
}

}  // namespace

// ---- Ace --------------------------------------------------------------------------------------

Ace Ace::make(bool deny, Sid sid, uint32_t mask, uint8_t flags, std::optional<Guid> object_type,
              std::optional<Guid> inherited_object_type) {
  Ace a;
  bool object = object_type.has_value() || inherited_object_type.has_value();
  a.type = deny ? (object ? kAccessDeniedObject : kAccessDenied)
                : (object ? kAccessAllowedObject : kAccessAllowed);
  a.flags = flags;
  a.mask = mask;
  a.object_type = object_type;
  a.inherited_object_type = inherited_object_type;
  a.sid = std::move(sid);
  return a;
}

// ---- rights -----------------------------------------------------------------------------------

uint32_t expand_generic(uint32_t mask) {
  uint32_t out = mask & ~(kGenericAll | kGenericRead | kGenericWrite | kGenericExecute);
  if (mask & kGenericAll) out |= kAdAll;
  if (mask & kGenericRead) out |= kAdRead;
  if (mask & kGenericWrite) out |= kAdWrite;
  if (mask & kGenericExecute) out |= kAdExecute;
  return out;
}

// ---- identity and edits -----------------------------------------------------------------------

bool same_identity(const Ace& a, const Ace& b) {
  if (!a.interpreted() || !b.interpreted()) {
    return a.type == b.type && a.flags == b.flags && a.opaque == b.opaque;
  }
  if (a.is_allow() != b.is_allow() || a.is_deny() != b.is_deny()) return false;
  uint8_t id_flags = kInheritanceFlags;
  if (a.is_audit()) id_flags |= kSuccessfulAccess | kFailedAccess;
  return a.sid == b.sid && a.object_type == b.object_type &&
         a.inherited_object_type == b.inherited_object_type &&
         (a.flags & id_flags) == (b.flags & id_flags);
}

bool equivalent(const Ace& a, const Ace& b) {
  return same_identity(a, b) && expand_generic(a.mask) == expand_generic(b.mask);
}

bool is_canonical(const Acl& dacl) {
  bool seen_inherited = false;
  int last_rank = 0;
  for (const Ace& a : dacl.aces) {
    if (a.inherited()) {
      seen_inherited = true;
      continue;
    }
    if (seen_inherited) return false;
    int r = Rank(a);
    if (r < 0) continue;
    if (r < last_rank) return false;
    last_rank = r;
  }
  return true;
}

bool upsert_explicit(Acl& dacl, const Ace& ace_in) {
  Ace ace = ace_in;
  ace.flags &= static_cast<uint8_t>(~kInherited);
  int matches = 0;
  const Ace* match = nullptr;
  for (const Ace& a : dacl.aces) {
    if (!a.inherited() && same_identity(a, ace)) ++matches, match = &a;
  }
  if (matches == 1 && equivalent(*match, ace)) return false;
  remove_explicit(dacl, ace);
  const int rank = Rank(ace);
  // End of the canonical group: before the first inherited ACE or explicit ACE of a later group.
  // Unranked ACEs (rank -1) never stop the scan, and an unranked `ace` goes before the inherited.
  auto pos = std::find_if(dacl.aces.begin(), dacl.aces.end(), [&](const Ace& a) {
    return a.inherited() || (rank >= 0 && Rank(a) > rank);
  });
  dacl.aces.insert(pos, std::move(ace));
  if (ace_in.is_object() && dacl.revision < 4) dacl.revision = 4;
  return true;
}

int remove_explicit(Acl& dacl, const Ace& ace) {
  auto it = std::remove_if(dacl.aces.begin(), dacl.aces.end(),
                           [&](const Ace& a) { return !a.inherited() && same_identity(a, ace); });
  int n = static_cast<int>(dacl.aces.end() - it);
  dacl.aces.erase(it, dacl.aces.end());
  return n;
}

}  // namespace converge::sd
