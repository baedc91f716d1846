// Implementation notes: all multi-byte wire fields are little-endian except the SID identifier
// authority (48-bit big-endian). Bytes are assembled explicitly so the code does not depend on
// host endianness or alignment. Every read goes through a bounds check against an explicit end.
#include "providers/ldap/security_descriptor.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>
#include <utility>

namespace converge::sd {
namespace {

constexpr size_t kSdHeaderSize = 20;
constexpr size_t kAclHeaderSize = 8;
constexpr size_t kAceHeaderSize = 4;
constexpr uint32_t kObjectTypePresent = 0x1;
constexpr uint32_t kInheritedObjectTypePresent = 0x2;
constexpr uint64_t kMaxAuthority = (uint64_t{1} << 48) - 1;

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

std::string Hex(uint64_t v, int width = 0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

// True iff [off, off + n) lies within [0, end). Written to avoid overflow.
bool Fits(size_t off, size_t n, size_t end) { return off <= end && n <= end - off; }

Error At(size_t off, const std::string& what) {
  return Error::Invalid("security descriptor: offset " + std::to_string(off) + ": " + what);
}

// ---- text helpers -----------------------------------------------------------------------------

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal digits only (no sign, no spaces), value <= max.
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// "0x" / "0X" followed by 1..max_digits hex digits.
std::optional<uint64_t> ParseHexPrefixed(std::string_view s, size_t max_digits) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return std::nullopt;
  s.remove_prefix(2);
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);  // leading zeros are free
  if (s.size() > max_digits) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d = HexDigit(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

size_t Levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
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

// ---- ACL ordering -----------------------------------------------------------------------------

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

struct AppliesTo {
  const char* name;
  uint8_t flags;
};
constexpr AppliesTo kAppliesTo[] = {
    {"this_object", 0},
    {"this_and_descendants", kContainerInherit},
    {"descendants_only", kContainerInherit | kInheritOnly},
    {"children_only", kContainerInherit | kNoPropagateInherit},
};

}  // namespace

// ---- Guid -------------------------------------------------------------------------------------

Result<Guid> Guid::parse(std::string_view text) {
  std::string_view s = text;
  if (s.size() == 38 && s.front() == '{' && s.back() == '}') s = s.substr(1, 36);
  auto bad = [&](const std::string& why) {
    return Error::Invalid("invalid GUID \"" + std::string(text) + "\": " + why,
                          "expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  };
  if (s.size() != 36) return bad("wrong length");
  std::array<uint8_t, 16> t{};  // bytes in text order
  size_t n = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return bad("expected '-' at position " + std::to_string(i));
      ++i;
      continue;
    }
    int hi = HexDigit(s[i]), lo = HexDigit(s[i + 1]);
    if (hi < 0 || lo < 0) return bad("non-hex digit near position " + std::to_string(i));
    t[n++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  Guid g;
  // Data1 (4 bytes), Data2 and Data3 (2 bytes each) are little-endian on the wire.
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int i = 0; i < 16; ++i) g.b[i] = t[kOrder[i]];
  return g;
}

std::string Guid::str() const {
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    uint8_t v = b[kOrder[i]];
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

// ---- Sid --------------------------------------------------------------------------------------

Result<Sid> Sid::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error::Invalid("invalid SID \"" + std::string(text) + "\": " + why,
                          "expected S-1-<authority>-<sub>..., e.g. S-1-5-32-544");
  };
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dash = text.find('-', start);
    parts.push_back(text.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (parts.size() < 3) return bad("too few components");
  if (parts[0] != "S" && parts[0] != "s") return bad("does not start with S-");
  if (parts[1] != "1") return bad("revision must be 1");
  Sid sid;
  auto auth = parts[2].size() > 1 && (parts[2][1] == 'x' || parts[2][1] == 'X')
                  ? ParseHexPrefixed(parts[2], 12)
                  : ParseDecimal(parts[2], kMaxAuthority);
  if (!auth) return bad("identifier authority must be a number below 2^48");
  sid.authority = *auth;
  if (parts.size() - 3 > kMaxSubAuthorities) return bad("more than 15 sub-authorities");
  for (size_t i = 3; i < parts.size(); ++i) {
    auto v = ParseDecimal(parts[i], 0xFFFFFFFFu);
    if (!v) return bad("sub-authority \"" + std::string(parts[i]) + "\" is not a 32-bit number");
    sid.sub.push_back(static_cast<uint32_t>(*v));
  }
  return sid;
}

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

std::string Sid::str() const {
  std::string out = "S-" + std::to_string(revision) + "-";
  // Windows prints authorities that do not fit 32 bits as 12 hex digits.
  if (authority < (uint64_t{1} << 32)) {
    out += std::to_string(authority);
  } else {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%012llX", static_cast<unsigned long long>(authority));
    out += buf;
  }
  for (uint32_t s : sub) out += "-" + std::to_string(s);
  return out;
}

bool Sid::operator<(const Sid& o) const {
  return std::tie(revision, authority, sub) < std::tie(o.revision, o.authority, o.sub);
}

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

// ---- rights -----------------------------------------------------------------------------------

uint32_t expand_generic(uint32_t mask) {
  uint32_t out = mask & ~(kGenericAll | kGenericRead | kGenericWrite | kGenericExecute);
  if (mask & kGenericAll) out |= kAdAll;
  if (mask & kGenericRead) out |= kAdRead;
  if (mask & kGenericWrite) out |= kAdWrite;
  if (mask & kGenericExecute) out |= kAdExecute;
  return out;
}

// ---- applies to -------------------------------------------------------------------------------

Result<uint8_t> inheritance_from_applies_to(std::string_view applies_to) {
  std::string s = Lower(applies_to);
  for (const auto& a : kAppliesTo) {
    if (s == a.name) return a.flags;
  }
  if (auto v = ParseHexPrefixed(s, 2); v && (*v & ~uint64_t{kInheritanceFlags}) == 0) {
    return static_cast<uint8_t>(*v);
  }
  const char* best = kAppliesTo[0].name;
  size_t best_d = SIZE_MAX;
  for (const auto& a : kAppliesTo) {
    size_t d = Levenshtein(s, a.name);
    if (d < best_d) best_d = d, best = a.name;
  }
  return Error::Invalid("unknown applies_to \"" + std::string(applies_to) + "\"",
                        std::string("did you mean \"") + best +
                            "\"? (this_object, this_and_descendants, descendants_only, "
                            "children_only, or inheritance flags as 0x..)");
}

std::string applies_to_from_flags(uint8_t flags) {
  uint8_t f = flags & kInheritanceFlags;
  for (const auto& a : kAppliesTo) {
    if (f == a.flags) return a.name;
  }
  return Hex(f, 2);
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

// ---- debugging --------------------------------------------------------------------------------

std::string to_sddl_ace(const Ace& ace) {
  std::string out = "(";
  switch (ace.type) {
    case kAccessAllowed:
      out += "A";
      break;
    case kAccessDenied:
      out += "D";
      break;
    case kSystemAudit:
      out += "AU";
      break;
    case kAccessAllowedObject:
      out += "OA";
      break;
    case kAccessDeniedObject:
      out += "OD";
      break;
    case kSystemAuditObject:
      out += "OU";
      break;
    default:
      return "(" + Hex(ace.type, 2) + ";" + Hex(ace.flags, 2) + ";opaque " +
             std::to_string(ace.opaque.size()) + " bytes)";
  }
  out += ";";
  static constexpr std::pair<uint8_t, const char*> kFlags[] = {
      {kObjectInherit, "OI"}, {kContainerInherit, "CI"}, {kNoPropagateInherit, "NP"},
      {kInheritOnly, "IO"},   {kInherited, "ID"},        {kSuccessfulAccess, "SA"},
      {kFailedAccess, "FA"}};
  uint8_t f = ace.flags;
  for (const auto& [bit, s] : kFlags) {
    if (f & bit) out += s, f &= static_cast<uint8_t>(~bit);
  }
  if (f) out += Hex(f, 2);
  out += ";";
  static constexpr std::pair<uint32_t, const char*> kRights[] = {
      {kGenericAll, "GA"},     {kGenericRead, "GR"}, {kGenericWrite, "GW"},
      {kGenericExecute, "GX"}, {kCreateChild, "CC"}, {kDeleteChild, "DC"},
      {kListChildren, "LC"},   {kSelf, "SW"},        {kReadProperty, "RP"},
      {kWriteProperty, "WP"},  {kDeleteTree, "DT"},  {kListObject, "LO"},
      {kExtendedRight, "CR"},  {kDelete, "SD"},      {kReadControl, "RC"},
      {kWriteDacl, "WD"},      {kWriteOwner, "WO"}};
  std::string letters;
  uint32_t m = ace.mask;
  for (const auto& [bit, s] : kRights) {
    if (m & bit) letters += s, m &= ~bit;
  }
  out += m ? Hex(ace.mask, 8) : letters;
  out += ";";
  if (ace.object_type) out += ace.object_type->str();
  out += ";";
  if (ace.inherited_object_type) out += ace.inherited_object_type->str();
  out += ";" + ace.sid.str() + ")";
  return out;
}

std::string to_sddl(const SecurityDescriptor& sd) {
  std::string out;
  if (sd.owner) out += "O:" + sd.owner->str();
  if (sd.group) out += "G:" + sd.group->str();
  auto acl = [&](const char* tag, const std::optional<Acl>& a, uint16_t present, uint16_t prot,
                 uint16_t ai, uint16_t ar) {
    if (!a && !(sd.control & present)) return;
    out += tag;
    if (sd.control & prot) out += "P";
    if (sd.control & ai) out += "AI";
    if (sd.control & ar) out += "AR";
    if (!a) {
      out += "NO_ACCESS_CONTROL";
      return;
    }
    for (const Ace& e : a->aces) out += to_sddl_ace(e);
  };
  acl("D:", sd.dacl, kDaclPresent, kDaclProtected, kDaclAutoInherited, kDaclAutoInheritReq);
  acl("S:", sd.sacl, kSaclPresent, kSaclProtected, kSaclAutoInherited, kSaclAutoInheritReq);
  return out;
}

}  // namespace converge::sd
