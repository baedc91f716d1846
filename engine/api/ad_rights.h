// Directory access rights as names and masks (MS-ADTS 5.1.3.2, MS-DTYP 2.4.3).
//
// The value domain of an `ace` resource's `rights`, shared by the engine (to compare "GenericAll"
// with its expansion without a perpetual diff) and by providers (to build access masks).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/api/result.h"

namespace converge {

// Mask from names (case-insensitive: GenericAll, FullControl, GenericRead, GenericWrite,
// GenericExecute, CreateChild, DeleteChild, ListChildren, Self, ReadProperty, WriteProperty,
// DeleteTree, ListObject, ExtendedRight, Delete, ReadControl, WriteDacl, WriteOwner) or 0x masks.
// Generic rights are expanded with the directory's mapping, so the result is what AD stores.
Result<uint32_t> ad_rights_mask(const std::vector<std::string>& names);
// Canonical names for a stored mask: {"GenericAll"} for the full expansion, {"GenericRead"} for
// its expansion, otherwise the individual rights in a fixed order (unknown bits as 0x...).
std::vector<std::string> ad_rights_names(uint32_t mask);
// Every accepted right name, for docs and hints.
const std::vector<std::string>& ad_right_names();

}  // namespace converge
