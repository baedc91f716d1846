// Secret references: "env:VAR" reads an environment variable, "file:PATH" a file (relative to
// the manifest's directory; one trailing newline dropped). The value is returned to the caller
// and never logged; errors name the reference, never a value. Thread-safe (getenv is only read).
#pragma once

#include <string>

#include "engine/api/result.h"

namespace converge {

Result<std::string> resolve_secret(const std::string& ref, const std::string& base_dir);

}  // namespace converge
