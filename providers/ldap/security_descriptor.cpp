// Implementation notes: all multi-byte wire fields are little-endian except the SID identifier
// authority (48-bit big-endian). Bytes are assembled explicitly so the code does not depend on
// host endianness or alignment. Every read goes through a bounds check against an explicit end.
#include "providers/ldap/security_descriptor.h"

#include <algorithm>
#include <utility>

#include "providers/ldap/security_descriptor_hex.h"

namespace converge::sd {
namespace {

constexpr size_t kSdHeaderSize = 20;
constexpr size_t kAclHeaderSize = 8;
constexpr size_t kAceHeaderSize = 4;
constexpr uint32_t kObjectTypePresent = 0x1;
constexpr uint32_t kInheritedObjectTypePresent = 0x2;

// ---- byte helpers -----------------------------------------------------------------------------

uint16_t Le16(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}
uint32_t Le32(std::span<const uint8_t> b, size_t off) {
  return uint32_t{b[off]} | (uint32_t{b[off + 1]} << 8) | (uint32_t{b[off + 2]} << 16) |
         (uint32_t{b[off + 3]} << 24);
}
void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void Put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void Set16(std::vector<uint8_t>& out, size_t off, uint16_t v) {
  out[off] = static_cast<uint8_t>(v);
  out[off + 1] = static_cast<uint8_t>(v >> 8);
}
void Set32(std::vector<uint8_t>& out, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// True iff [off, off + n) lies within [0, end). Written to avoid overflow.
bool Fits(size_t off, size_t n, size_t end) { return off <= end && n <= end - off; }

Error At(size_t off, const std::string& what) {
  return Error::Invalid("security descriptor: offset " + std::to_string(off) + ": " + what);
}

// ---- binary parsing ---------------------------------------------------------------------------

// A SID at `off` that must end at or before `end`.
Result<Sid> ParseSidAt(std::span<const uint8_t> b, size_t off, size_t end, const char* what) {
  std::string w = what;
  if (!Fits(off, 8, end))
    return At(off, w + " SID: needs 8 header bytes, input ends at " + std::to_string(end));
  Sid sid;
  sid.revision = b[off];
  if (sid.revision != 1) {
    return At(off, w + " SID: revision " + std::to_string(sid.revision) + ", expected 1");
  }
  size_t count = b[off + 1];
  if (count > Sid::kMaxSubAuthorities) {
    return At(off + 1, w + " SID: sub-authority count " + std::to_string(count) +
                           " exceeds the maximum of 15");
  }
  if (!Fits(off, 8 + 4 * count, end)) {
    return At(off, w + " SID: " + std::to_string(count) + " sub-authorities need " +
                       std::to_string(8 + 4 * count) + " bytes, only " + std::to_string(end - off) +
                       " available");
  }
  for (size_t i = 0; i < 6; ++i) sid.authority = (sid.authority << 8) | b[off + 2 + i];
  sid.sub.reserve(count);
  for (size_t i = 0; i < count; ++i) sid.sub.push_back(Le32(b, off + 8 + 4 * i));
  return sid;
}

// One ACE at `off`, ending at or before `end` (the end of its ACL). Sets *size to its AceSize.
Result<Ace> ParseAceAt(std::span<const uint8_t> b, size_t off, size_t end, size_t* size) {
  if (!Fits(off, kAceHeaderSize, end)) {
    return At(off, "ACE header needs 4 bytes, ACL ends at " + std::to_string(end));
  }
  Ace ace;
  ace.type = b[off];
  ace.flags = b[off + 1];
  size_t ace_size = Le16(b, off + 2);
  if (ace_size < kAceHeaderSize || ace_size % 4 != 0) {
    return At(off + 2, "AceSize " + std::to_string(ace_size) +
                           " is smaller than the ACE header or not a multiple of 4");
  }
  if (!Fits(off, ace_size, end)) {
    return At(off + 2, "AceSize " + std::to_string(ace_size) + " runs past the end of the ACL (" +
                           std::to_string(end) + ")");
  }
  *size = ace_size;
  const size_t ace_end = off + ace_size;
  size_t pos = off + kAceHeaderSize;
  if (!ace.interpreted()) {
    ace.opaque.assign(b.begin() + pos, b.begin() + ace_end);
    return ace;
  }
  const std::string tname = "ACE type " + std::to_string(ace.type);
  if (!Fits(pos, 4, ace_end)) return At(pos, tname + ": AceSize too small for the access mask");
  ace.mask = Le32(b, pos);
  pos += 4;
  if (ace.is_object()) {
    if (!Fits(pos, 4, ace_end)) return At(pos, tname + ": AceSize too small for object flags");
    uint32_t oflags = Le32(b, pos);
    if (oflags & ~(kObjectTypePresent | kInheritedObjectTypePresent)) {
      return At(pos, tname + ": unknown object ACE flags " + Hex(oflags));
    }
    pos += 4;
    for (uint32_t bit : {kObjectTypePresent, kInheritedObjectTypePresent}) {
      if (!(oflags & bit)) continue;
      if (!Fits(pos, 16, ace_end)) return At(pos, tname + ": AceSize too small for its GUIDs");
      Guid g;
      std::copy(b.begin() + pos, b.begin() + pos + 16, g.b.begin());
      (bit == kObjectTypePresent ? ace.object_type : ace.inherited_object_type) = g;
      pos += 16;
    }
  }
  auto sid = ParseSidAt(b, pos, ace_end, "ACE");
  if (!sid.ok()) return std::move(sid).error();
  ace.sid = std::move(sid).value();
  pos += ace.sid.binary_size();
  ace.opaque.assign(b.begin() + pos, b.begin() + ace_end);  // trailing data, normally empty
  return ace;
}

Result<Acl> ParseAclAt(std::span<const uint8_t> b, size_t off, const char* what) {
  std::string w = what;
  if (!Fits(off, kAclHeaderSize, b.size())) {
    return At(off, w + " header needs 8 bytes, descriptor is " + std::to_string(b.size()));
  }
  Acl acl;
  acl.revision = b[off];
  if (acl.revision < 2 || acl.revision > 4) {
    return At(off, w + " revision " + std::to_string(acl.revision) + ", expected 2..4");
  }
  if (b[off + 1] != 0) return At(off + 1, w + " Sbz1 is not zero");
  size_t acl_size = Le16(b, off + 2);
  size_t count = Le16(b, off + 4);
  if (Le16(b, off + 6) != 0) return At(off + 6, w + " Sbz2 is not zero");
  if (acl_size < kAclHeaderSize || !Fits(off, acl_size, b.size())) {
    return At(off + 2, w + " AclSize " + std::to_string(acl_size) + " is below 8 or runs past " +
                           "the end of the descriptor (" + std::to_string(b.size()) + ")");
  }
  if (count > (acl_size - kAclHeaderSize) / kAceHeaderSize) {
    return At(off + 4, w + " AceCount " + std::to_string(count) + " cannot fit in AclSize " +
                           std::to_string(acl_size));
  }
  const size_t end = off + acl_size;
  size_t pos = off + kAclHeaderSize;
  acl.aces.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    size_t ace_size = 0;
    auto ace = ParseAceAt(b, pos, end, &ace_size);
    if (!ace.ok()) {
      Error e = std::move(ace).error();
      e.message += " (" + w + " ACE #" + std::to_string(i) + ")";
      return e;
    }
    if (ace->is_object() && acl.revision < 4) {
      return At(pos, w + " revision " + std::to_string(acl.revision) +
                         " cannot hold object ACEs (needs 4)");
    }
    acl.aces.push_back(std::move(ace).value());
    pos += ace_size;
  }
  return acl;
}

// ---- binary writing ---------------------------------------------------------------------------

void PutSid(std::vector<uint8_t>& out, const Sid& sid) {
  auto bin = sid.to_binary();
  out.insert(out.end(), bin.begin(), bin.end());
}

size_t Padded(size_t n) { return (n + 3) & ~size_t{3}; }

size_t AceWireSize(const Ace& ace) {
  if (!ace.interpreted()) return kAceHeaderSize + Padded(ace.opaque.size());
  size_t n = kAceHeaderSize + 4;
  if (ace.is_object()) n += 4 + (ace.object_type ? 16 : 0) + (ace.inherited_object_type ? 16 : 0);
  return n + ace.sid.binary_size() + Padded(ace.opaque.size());
}

void PutAce(std::vector<uint8_t>& out, const Ace& ace) {
  out.push_back(ace.type);
  out.push_back(ace.flags);
  Put16(out, static_cast<uint16_t>(AceWireSize(ace)));
  if (ace.interpreted()) {
    Put32(out, ace.mask);
    if (ace.is_object()) {
      Put32(out, (ace.object_type ? kObjectTypePresent : 0) |
                     (ace.inherited_object_type ? kInheritedObjectTypePresent : 0));
      if (ace.object_type)
        out.insert(out.end(), ace.object_type->b.begin(), ace.object_type->b.end());
      if (ace.inherited_object_type) {
        out.insert(out.end(), ace.inherited_object_type->b.begin(),
                   ace.inherited_object_type->b.end());
      }
    }
    PutSid(out, ace.sid);
  }
  out.insert(out.end(), ace.opaque.begin(), ace.opaque.end());
  out.resize(out.size() + Padded(ace.opaque.size()) - ace.opaque.size(), 0);
}

bool HasObjectAce(const Acl& acl) {
  return std::any_of(acl.aces.begin(), acl.aces.end(), [](const Ace& a) { return a.is_object(); });
}

size_t AclWireSize(const Acl& acl) {
  size_t n = kAclHeaderSize;
  for (const Ace& a : acl.aces) n += AceWireSize(a);
  return n;
}

void PutAcl(std::vector<uint8_t>& out, const Acl& acl) {
  uint8_t rev = acl.revision;
  if (rev < 4 && HasObjectAce(acl)) rev = 4;
  out.push_back(rev);
  out.push_back(0);
  Put16(out, static_cast<uint16_t>(AclWireSize(acl)));
  Put16(out, static_cast<uint16_t>(acl.aces.size()));
  Put16(out, 0);
  for (const Ace& a : acl.aces) PutAce(out, a);
}

Status ValidateSid(const Sid& sid, const std::string& what) {
  if (!sid.valid()) {
    return Error::Invalid(what + " SID " + sid.str() +
                          " cannot be encoded (needs revision 1, authority < 2^48, <= 15 "
                          "sub-authorities)");
  }
  return {};
}

Status ValidateAcl(const Acl& acl, const std::string& what) {
  if (acl.revision < 2 || acl.revision > 4) {
    return Error::Invalid(what + " revision " + std::to_string(acl.revision) + ", expected 2..4");
  }
  for (size_t i = 0; i < acl.aces.size(); ++i) {
    const Ace& a = acl.aces[i];
    std::string w = what + " ACE #" + std::to_string(i);
    if (!a.is_object() && (a.object_type || a.inherited_object_type)) {
      return Error::Invalid(w + ": GUIDs on non-object ACE type " + std::to_string(a.type),
                            "use Ace::make(), which picks the object type");
    }
    if (a.interpreted()) CONVERGE_TRY(ValidateSid(a.sid, w));
    if (AceWireSize(a) > 0xFFFF) return Error::Invalid(w + " exceeds 65535 bytes");
  }
  if (AclWireSize(acl) > 0xFFFF) {
    return Error::Invalid(what + " needs " + std::to_string(AclWireSize(acl)) +
                          " bytes; the limit is 65535");
  }
  return {};
}

}  // namespace

Result<Sid> Sid::from_binary(std::span<const uint8_t> bytes) {
  auto sid = ParseSidAt(bytes, 0, bytes.size(), "binary");
  if (!sid.ok()) return sid;
  if (sid->binary_size() != bytes.size()) {
    return Error::Invalid("binary SID: " + std::to_string(bytes.size() - sid->binary_size()) +
                          " trailing bytes after a " + std::to_string(sid->binary_size()) +
                          "-byte SID");
  }
  return sid;
}

std::vector<uint8_t> Sid::to_binary() const {
  std::vector<uint8_t> out;
  out.reserve(binary_size());
  out.push_back(revision);
  out.push_back(static_cast<uint8_t>(sub.size()));
  for (int i = 5; i >= 0; --i) out.push_back(static_cast<uint8_t>(authority >> (8 * i)));
  for (uint32_t s : sub) Put32(out, s);
  return out;
}

// ---- descriptor -------------------------------------------------------------------------------

Result<SecurityDescriptor> parse(std::span<const uint8_t> b) {
  if (b.size() < kSdHeaderSize) {
    return At(0, "header needs 20 bytes, got " + std::to_string(b.size()));
  }
  if (b[0] != 1) return At(0, "revision " + std::to_string(b[0]) + ", expected 1");
  SecurityDescriptor sd;
  sd.rm_control = b[1];
  sd.control = Le16(b, 2);
  if (!(sd.control & kSelfRelative)) {
    return At(2, "control " + Hex(sd.control, 4) +
                     " lacks SE_SELF_RELATIVE; absolute descriptors are not supported");
  }
  const size_t offsets[4] = {Le32(b, 4), Le32(b, 8), Le32(b, 12), Le32(b, 16)};
  static constexpr const char* kNames[4] = {"owner", "group", "SACL", "DACL"};
  for (int i = 0; i < 4; ++i) {
    size_t off = offsets[i];
    if (off != 0 && (off < kSdHeaderSize || off >= b.size())) {
      return At(4 + 4 * i, std::string(kNames[i]) + " offset " + std::to_string(off) +
                               " is outside the descriptor body [20, " + std::to_string(b.size()) +
                               ")");
    }
  }
  if (offsets[0]) {
    auto s = ParseSidAt(b, offsets[0], b.size(), "owner");
    if (!s.ok()) return std::move(s).error();
    sd.owner = std::move(s).value();
  }
  if (offsets[1]) {
    auto s = ParseSidAt(b, offsets[1], b.size(), "group");
    if (!s.ok()) return std::move(s).error();
    sd.group = std::move(s).value();
  }
  // An ACL offset without its PRESENT bit would be ignored by Windows; accepting it here would
  // make serialize() turn it into a live ACL, so it is refused.
  for (int i = 2; i < 4; ++i) {
    if (!offsets[i]) continue;
    uint16_t present = i == 2 ? kSaclPresent : kDaclPresent;
    if (!(sd.control & present)) {
      return At(4 + 4 * i, std::string(kNames[i]) + " offset is set but control " +
                               Hex(sd.control, 4) + " lacks its PRESENT bit");
    }
    auto acl = ParseAclAt(b, offsets[i], kNames[i]);
    if (!acl.ok()) return std::move(acl).error();
    (i == 2 ? sd.sacl : sd.dacl) = std::move(acl).value();
  }
  return sd;
}

Status validate(const SecurityDescriptor& sd) {
  if (sd.owner) CONVERGE_TRY(ValidateSid(*sd.owner, "owner"));
  if (sd.group) CONVERGE_TRY(ValidateSid(*sd.group, "group"));
  if (sd.sacl) CONVERGE_TRY(ValidateAcl(*sd.sacl, "SACL"));
  if (sd.dacl) CONVERGE_TRY(ValidateAcl(*sd.dacl, "DACL"));
  return {};
}

std::vector<uint8_t> serialize(const SecurityDescriptor& sd) {
  if (!validate(sd).ok()) return {};
  uint16_t control = sd.control | kSelfRelative;
  if (sd.sacl) control |= kSaclPresent;
  if (sd.dacl) control |= kDaclPresent;
  std::vector<uint8_t> out(kSdHeaderSize, 0);
  out[0] = 1;
  out[1] = sd.rm_control;
  Set16(out, 2, control);
  // Offsets fit 32 bits: two SIDs of at most 68 bytes and two ACLs of at most 65535 bytes.
  if (sd.owner) {
    Set32(out, 4, static_cast<uint32_t>(out.size()));
    PutSid(out, *sd.owner);
  }
  if (sd.group) {
    Set32(out, 8, static_cast<uint32_t>(out.size()));
    PutSid(out, *sd.group);
  }
  if (sd.sacl) {
    Set32(out, 12, static_cast<uint32_t>(out.size()));
    PutAcl(out, *sd.sacl);
  }
  if (sd.dacl) {
    Set32(out, 16, static_cast<uint32_t>(out.size()));
    PutAcl(out, *sd.dacl);
  }
  return out;
}

SecurityDescriptor dacl_only(const SecurityDescriptor& sd) {
  SecurityDescriptor out;
  out.control =
      static_cast<uint16_t>((sd.control & (kDaclPresent | kDaclDefaulted | kDaclAutoInheritReq |
                                           kDaclAutoInherited | kDaclProtected)) |
                            kSelfRelative);
  out.dacl = sd.dacl;
  return out;
}

}  // namespace converge::sd
