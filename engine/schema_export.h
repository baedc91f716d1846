// Derived views of the type registry: the manifest JSON Schema (for editors such as Taplo /
// "Even Better TOML") and a Markdown reference of every resource type. Both are generated from
// the declarations in engine/types.cpp and checked in under schema/; a test fails when stale.
#pragma once

#include <string>
#include <vector>

namespace converge {

std::string manifest_json_schema(const std::vector<std::string>& provider_types);
std::string types_markdown();

}  // namespace converge
