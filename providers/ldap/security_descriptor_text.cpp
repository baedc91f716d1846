// The text forms of security descriptor parts: GUIDs, SIDs, "applies to" words and SDDL.
#include <algorithm>
#include <cstdio>
#include <tuple>

#include "engine/api/names.h"
#include "providers/ldap/security_descriptor.h"
#include "providers/ldap/security_descriptor_hex.h"

namespace converge::sd {
namespace {

constexpr uint64_t kMaxAuthority = (uint64_t{1} << 48) - 1;

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

// ---- applies to -------------------------------------------------------------------------------

Result<uint8_t> inheritance_from_applies_to(std::string_view applies_to) {
  std::string s = lower(applies_to);
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
