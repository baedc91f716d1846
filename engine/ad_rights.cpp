// Directory access rights by name (engine/api/ad_rights.h): the rights a DACL's masks are made
// of, their aliases in the guide's wording, and the GENERIC_* bits expanded as AD does.
#include "engine/api/ad_rights.h"

#include <sstream>
#include <stdexcept>

#include "engine/api/names.h"
#include "engine/values.h"

namespace converge {

namespace {
struct RightName {
  std::string_view name;
  uint32_t mask;
};
constexpr uint32_t kGenericAllExpanded = 0x000F01FF;
constexpr uint32_t kGenericReadExpanded = 0x00020094;
constexpr uint32_t kGenericWriteExpanded = 0x00020028;
constexpr uint32_t kGenericExecuteExpanded = 0x00020004;
const RightName kRights[] = {
    {"CreateChild", 0x1},
    {"DeleteChild", 0x2},
    {"ListChildren", 0x4},
    {"Self", 0x8},
    {"ReadProperty", 0x10},
    {"WriteProperty", 0x20},
    {"DeleteTree", 0x40},
    {"ListObject", 0x80},
    {"ExtendedRight", 0x100},
    {"Delete", 0x10000},
    {"ReadControl", 0x20000},
    {"WriteDacl", 0x40000},
    {"WriteOwner", 0x80000},
    {"GenericAll", kGenericAllExpanded},
    {"GenericRead", kGenericReadExpanded},
    {"GenericWrite", kGenericWriteExpanded},
    {"GenericExecute", kGenericExecuteExpanded},
};
const std::pair<std::string_view, std::string_view> kAliases[] = {
    {"FullControl", "GenericAll"},      {"Read", "GenericRead"},    {"Write", "GenericWrite"},
    {"ControlAccess", "ExtendedRight"}, {"ValidatedWrite", "Self"},
};
uint32_t expand_generic(uint32_t m) {
  uint32_t out = m & 0x0FFFFFFF;
  if (m & 0x10000000) out |= kGenericAllExpanded;
  if (m & 0x80000000) out |= kGenericReadExpanded;
  if (m & 0x40000000) out |= kGenericWriteExpanded;
  if (m & 0x20000000) out |= kGenericExecuteExpanded;
  return out;
}
}  // namespace

const std::vector<std::string>& ad_right_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& r : kRights) v.emplace_back(r.name);
    for (const auto& a : kAliases) v.emplace_back(a.first);
    return v;
  }();
  return names;
}

Result<uint32_t> ad_rights_mask(const std::vector<std::string>& names) {
  uint32_t mask = 0;
  for (const auto& raw : names) {
    std::string trimmed = trim(raw);
    std::string_view n = trimmed;
    for (const auto& a : kAliases)
      if (iequals(n, a.first)) n = a.second;
    if (n.size() > 2 && n[0] == '0' && (n[1] == 'x' || n[1] == 'X')) {
      try {
        size_t used = 0;
        std::string hex(n);
        unsigned long v = std::stoul(hex, &used, 16);
        if (used != hex.size() || v > 0xFFFFFFFFul) throw std::invalid_argument(hex);
        mask |= expand_generic(static_cast<uint32_t>(v));
        continue;
      } catch (const std::exception&) {
        return Error::Invalid("invalid rights mask '" + raw + "'", "write a hex mask like 0x20094");
      }
    }
    bool found = false;
    for (const auto& r : kRights) {
      if (iequals(n, r.name)) {
        mask |= r.mask;
        found = true;
        break;
      }
    }
    if (!found) {
      std::string near = closest(n, ad_right_names());
      return Error::Invalid("unknown right '" + raw + "'",
                            near.empty() ? "known rights: GenericAll, GenericRead, ReadProperty, "
                                           "WriteProperty, CreateChild, ExtendedRight, ..."
                                         : "did you mean '" + near + "'?");
    }
  }
  return mask;
}

std::vector<std::string> ad_rights_names(uint32_t mask) {
  mask = expand_generic(mask);
  if (mask == kGenericAllExpanded) return {"GenericAll"};
  if (mask == kGenericReadExpanded) return {"GenericRead"};
  std::vector<std::string> out;
  uint32_t left = mask;
  for (const auto& r : kRights) {
    if (r.mask & (r.mask - 1)) continue;  // composite names only for exact matches
    if (mask & r.mask) {
      out.emplace_back(r.name);
      left &= ~r.mask;
    }
  }
  if (left) {
    std::ostringstream os;
    os << "0x" << std::hex << left;
    out.push_back(os.str());
  }
  return out;
}

}  // namespace converge
