// Windows self-relative security descriptors (MS-DTYP 2.4.6), their ACLs (2.4.5), ACEs (2.4.4)
// and SIDs (2.4.2), as stored in Active Directory's nTSecurityDescriptor attribute: a pure parser
// and serialiser (no I/O, no global state) plus the DACL edits an LDAP provider needs (replace or
// remove one explicit ACE while keeping canonical order and leaving inherited ACEs alone) and the
// mapping between "applies to" words and inheritance flags. Access-right names and masks are
// engine/api/ad_rights.h's (one table for the engine's comparison and the provider's writes).
//
// Thread-safety: all types are plain values and all functions are pure; concurrent use of distinct
// objects, or concurrent reads of one object, is safe.
//
// Contracts:
//  - parse() never reads outside the given span, rejects malformed input with an Error naming the
//    byte offset, and bounds every count by the bytes actually available (and sub-authorities by
//    15), so any byte string is safe to hand to it.
//  - serialize(parse(x)) == x byte for byte when x is laid out compactly in the order owner,
//    group, SACL, DACL with no slack (what Samba and Windows AD return). Otherwise the result is
//    the same descriptor, re-laid out; parse(serialize(v)) == v for every v that parse() returned.
//  - Unknown ACE types are kept verbatim (Ace::opaque), so they survive a round trip.
//
// Why not Samba's libndr (samba-dev): it would need talloc contexts threaded through every call,
// pulls in a large set of Samba-internal libraries whose headers are not a stable public API, and
// still would not give us the ACL editing rules, which are the actual work here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"

namespace converge::sd {

// A GUID held in its wire layout: Data1, Data2, Data3 little-endian, Data4 as-is. So the text
// "ab721a54-1e2f-11d0-9819-00aa0040529b" is the bytes 54 1a 72 ab 2f 1e d0 11 98 19 00 aa ...
struct Guid {
  std::array<uint8_t, 16> b{};

  // Accepts "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", any case, optionally wrapped in {}.
  static Result<Guid> parse(std::string_view text);
  // Lowercase canonical form without braces.
  std::string str() const;
  bool operator==(const Guid& o) const { return b == o.b; }
  bool operator<(const Guid& o) const { return b < o.b; }  // byte order; any strict order will do
};

// A security identifier. Valid SIDs have revision 1, authority < 2^48 and at most 15
// sub-authorities; parse()/from_binary() guarantee that, to_binary() requires it.
struct Sid {
  uint8_t revision = 1;
  uint64_t authority = 0;  // 48-bit identifier authority
  std::vector<uint32_t> sub;

  static constexpr size_t kMaxSubAuthorities = 15;

  // "S-1-5-21-1-2-3" (the leading S in any case). The authority may be decimal or, as Windows
  // prints authorities >= 2^32, "0x" followed by hex digits.
  static Result<Sid> parse(std::string_view text);
  // Exactly one binary SID (the objectSid attribute value); trailing bytes are an error.
  static Result<Sid> from_binary(std::span<const uint8_t> bytes);
  std::vector<uint8_t> to_binary() const;
  size_t binary_size() const { return 8 + 4 * sub.size(); }
  std::string str() const;
  bool valid() const {
    return revision == 1 && authority < (uint64_t{1} << 48) && sub.size() <= kMaxSubAuthorities;
  }

  bool operator==(const Sid& o) const = default;
  bool operator<(const Sid& o) const;
};

enum AceType : uint8_t {
  kAccessAllowed = 0,
  kAccessDenied = 1,
  kSystemAudit = 2,
  kAccessAllowedObject = 5,
  kAccessDeniedObject = 6,
  kSystemAuditObject = 7,
  // Every other type is kept opaque (see Ace::opaque).
};

// AceFlags.
inline constexpr uint8_t kObjectInherit = 0x01;
inline constexpr uint8_t kContainerInherit = 0x02;
inline constexpr uint8_t kNoPropagateInherit = 0x04;
inline constexpr uint8_t kInheritOnly = 0x08;
inline constexpr uint8_t kInherited = 0x10;
inline constexpr uint8_t kSuccessfulAccess = 0x40;
inline constexpr uint8_t kFailedAccess = 0x80;
// The flags that say how an ACE propagates (part of an ACE's identity).
inline constexpr uint8_t kInheritanceFlags =
    kObjectInherit | kContainerInherit | kNoPropagateInherit | kInheritOnly;

// SECURITY_DESCRIPTOR control bits.
inline constexpr uint16_t kOwnerDefaulted = 0x0001;
inline constexpr uint16_t kGroupDefaulted = 0x0002;
inline constexpr uint16_t kDaclPresent = 0x0004;
inline constexpr uint16_t kDaclDefaulted = 0x0008;
inline constexpr uint16_t kSaclPresent = 0x0010;
inline constexpr uint16_t kSaclDefaulted = 0x0020;
inline constexpr uint16_t kDaclAutoInheritReq = 0x0100;
inline constexpr uint16_t kSaclAutoInheritReq = 0x0200;
inline constexpr uint16_t kDaclAutoInherited = 0x0400;
inline constexpr uint16_t kSaclAutoInherited = 0x0800;
inline constexpr uint16_t kDaclProtected = 0x1000;
inline constexpr uint16_t kSaclProtected = 0x2000;
inline constexpr uint16_t kRmControlValid = 0x4000;
inline constexpr uint16_t kSelfRelative = 0x8000;

// Access mask bits (AD meaning).
inline constexpr uint32_t kCreateChild = 0x00000001;
inline constexpr uint32_t kDeleteChild = 0x00000002;
inline constexpr uint32_t kListChildren = 0x00000004;
inline constexpr uint32_t kSelf = 0x00000008;  // validated write
inline constexpr uint32_t kReadProperty = 0x00000010;
inline constexpr uint32_t kWriteProperty = 0x00000020;
inline constexpr uint32_t kDeleteTree = 0x00000040;
inline constexpr uint32_t kListObject = 0x00000080;
inline constexpr uint32_t kExtendedRight = 0x00000100;  // control access
inline constexpr uint32_t kDelete = 0x00010000;
inline constexpr uint32_t kReadControl = 0x00020000;
inline constexpr uint32_t kWriteDacl = 0x00040000;
inline constexpr uint32_t kWriteOwner = 0x00080000;
inline constexpr uint32_t kSynchronize = 0x00100000;
inline constexpr uint32_t kAccessSystemSecurity = 0x01000000;
inline constexpr uint32_t kMaximumAllowed = 0x02000000;
inline constexpr uint32_t kGenericAll = 0x10000000;
inline constexpr uint32_t kGenericExecute = 0x20000000;
inline constexpr uint32_t kGenericWrite = 0x40000000;
inline constexpr uint32_t kGenericRead = 0x80000000;
// What AD maps the generic rights to.
inline constexpr uint32_t kAdAll = 0x000F01FF;
inline constexpr uint32_t kAdRead = 0x00020094;
inline constexpr uint32_t kAdWrite = 0x00020028;
inline constexpr uint32_t kAdExecute = 0x00020004;

struct Ace {
  uint8_t type = kAccessAllowed;  // an AceType value, or any other byte (kept opaque)
  uint8_t flags = 0;
  uint32_t mask = 0;
  // Only for object types (5, 6, 7); the wire ObjectFlags are derived from their presence.
  std::optional<Guid> object_type, inherited_object_type;
  Sid sid;
  // For ACE types we do not interpret: the whole body after the 4-byte header, verbatim (mask and
  // sid are then unused). For interpreted types: any bytes the ACE holds after its SID (normally
  // none). Either way the round trip is byte-exact. serialize() pads it to a multiple of 4.
  std::vector<uint8_t> opaque;

  // An allow/deny ACE; object form (type 5/6) iff a GUID is given, as Windows writes them.
  static Ace make(bool deny, Sid sid, uint32_t mask, uint8_t flags = 0,
                  std::optional<Guid> object_type = {},
                  std::optional<Guid> inherited_object_type = {});

  bool inherited() const { return (flags & kInherited) != 0; }
  bool is_object() const {
    return type == kAccessAllowedObject || type == kAccessDeniedObject ||
           type == kSystemAuditObject;
  }
  bool is_deny() const { return type == kAccessDenied || type == kAccessDeniedObject; }
  bool is_allow() const { return type == kAccessAllowed || type == kAccessAllowedObject; }
  bool is_audit() const { return type == kSystemAudit || type == kSystemAuditObject; }
  // True for the six types whose body we decode.
  bool interpreted() const { return is_allow() || is_deny() || is_audit(); }

  bool operator==(const Ace& o) const = default;
};

struct Acl {
  // ACL_REVISION_DS (4) is required when object ACEs are present, else 2 suffices. serialize()
  // raises it to 4 if object ACEs are present; it never lowers it (AD writes 4 everywhere).
  uint8_t revision = 4;
  std::vector<Ace> aces;

  bool operator==(const Acl& o) const = default;
};

// An absent owner/group/ACL is written with offset 0. An absent DACL whose control still has
// kDaclPresent is a NULL DACL (grants everyone everything); serialize() preserves that, so to drop
// a DACL clear the bit too (or use dacl_only()).
struct SecurityDescriptor {
  uint16_t control = kSelfRelative;
  uint8_t rm_control = 0;  // the Sbz1 byte; resource-manager bits when kRmControlValid is set
  std::optional<Sid> owner, group;
  std::optional<Acl> sacl, dacl;

  bool operator==(const SecurityDescriptor& o) const = default;
};

// Parses a self-relative descriptor. Besides bounds, it rejects: revision != 1; missing
// kSelfRelative; an ACL offset whose kXaclPresent bit is clear; ACL revision outside 2..4 or
// object ACEs in an ACL below revision 4; nonzero Sbz fields of an ACL; AceSize not a multiple of
// 4 or too small for its type; unknown object-ACE flag bits; SIDs with revision != 1 or more than
// 15 sub-authorities. Slack after ACEs or between components, and trailing bytes, are ignored.
Result<SecurityDescriptor> parse(std::span<const uint8_t> bytes);

// Ok iff serialize() can encode `sd`: valid SIDs, GUIDs only on object ACE types, every ACE and
// ACL within the 16-bit size fields.
Status validate(const SecurityDescriptor& sd);

// Self-relative encoding, components in the order owner, group, SACL, DACL, offsets recomputed.
// control gets kSelfRelative, and kDaclPresent/kSaclPresent for ACLs that are present; all other
// bits (and rm_control) are written as given. Returns an empty vector (never a valid descriptor)
// iff validate(sd) fails.
std::vector<uint8_t> serialize(const SecurityDescriptor& sd);

// The DACL part only, as written with the LDAP SD_FLAGS control = DACL_SECURITY_INFORMATION (4):
// no owner, group or SACL, and only the DACL-related control bits.
SecurityDescriptor dacl_only(const SecurityDescriptor& sd);

// ---- Rights -----------------------------------------------------------------------------------

// Replaces the generic bits by what AD maps them to (kAdAll, kAdRead, kAdWrite, kAdExecute);
// other bits are kept. Rights by name: engine/api/ad_rights.h (ad_rights_mask / ad_rights_names).
uint32_t expand_generic(uint32_t mask);

// ---- Applies to (ADUC's "Apply onto") ---------------------------------------------------------
//   "this_object"          -> 0
//   "this_and_descendants" -> kContainerInherit
//   "descendants_only"     -> kContainerInherit | kInheritOnly
//   "children_only"        -> kContainerInherit | kNoPropagateInherit
// A hex string "0x.." of inheritance flags (as applies_to_from_flags returns for combinations
// without a name) is accepted too.
Result<uint8_t> inheritance_from_applies_to(std::string_view applies_to);
// Ignores kInherited and the audit bits; combinations without a name come back as "0x0b".
std::string applies_to_from_flags(uint8_t flags);

// ---- ACE identity and DACL edits --------------------------------------------------------------

// Identity as converge sees it: SID, kind (allow / deny / audit; object and non-object forms of a
// kind are the same kind), object_type, inherited_object_type and the kInheritanceFlags bits (for
// audit ACEs also the success/failure bits). Rights and kInherited are not part of it. Opaque
// ACEs are identical iff type, flags and body are.
bool same_identity(const Ace& a, const Ace& b);
// same_identity() and equal expand_generic(mask).
bool equivalent(const Ace& a, const Ace& b);

// Windows' canonical DACL order: explicit deny (non-object, then object), explicit allow
// (non-object, then object), then inherited ACEs (their relative order is not checked). Explicit
// ACEs of other types only have to precede the inherited ones.
bool is_canonical(const Acl& dacl);

// Makes `ace` the one explicit ACE of its identity: if exactly one explicit ACE of that identity
// exists and is equivalent(), nothing changes and false is returned. Otherwise every explicit ACE
// of that identity is removed (replace, not merge: rights they had beyond `ace` are gone) and
// `ace` (with kInherited cleared) is inserted at the end of its canonical group, i.e. before the
// first ACE that is inherited or belongs to a later group. All other ACEs keep their relative
// order and bytes; the ACL revision is raised to 4 if `ace` is an object ACE. Returns true.
bool upsert_explicit(Acl& dacl, const Ace& ace);

// Removes every explicit ACE with the same identity as `ace`; returns how many. Inherited ACEs are
// never touched.
int remove_explicit(Acl& dacl, const Ace& ace);

// ---- Debugging --------------------------------------------------------------------------------

// SDDL-like text, e.g. "(OA;CI;CR;ab721a54-...;;S-1-5-10)". SIDs are always numeric; masks with
// bits that have no SDDL letters are printed in hex.
std::string to_sddl_ace(const Ace& ace);
// "O:...G:...D:P(A;;...)...S:..." for a whole descriptor.
std::string to_sddl(const SecurityDescriptor& sd);

}  // namespace converge::sd
