// Secret references: "env:VAR" reads an environment variable, "file:PATH" a file (relative to
// the manifest's directory; one trailing newline dropped). The value is returned to the caller
// and never logged; errors name the reference ("env:VAR", "file:PATH" as written), never a value
// or any part of a file.
//
// Each reference is read once per process (one process is one run): the first resolution is
// cached, so a run uses one value throughout even if the file or variable changes under it, and
// a file is opened once. A { file } secret must be a regular file (not a FIFO, device or
// directory: opening one must never block or read without end) of at most kMaxSecretFileBytes.
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "engine/api/result.h"

namespace converge {

inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;

Result<std::string> resolve_secret(const std::string& ref, const std::string& base_dir);

// True for "env:..." and "file:..." (the form { env } / { file } tables load as).
bool is_secret_reference(const std::string& s);

// `text` with every value resolved so far in this run (and each line of a multi-line one)
// replaced by the reference it came from ("env:VAR", "file:PATH" as written). Everything the
// command line prints about a failure goes through this, so a provider that echoes a value it
// was given does not disclose it. Values under 3 bytes are left alone: they would replace
// letters of ordinary words, and are no secret.
std::string redact_secrets(std::string text);

// Overwrites the bytes of `s` (so a copy of a secret does not linger in freed memory) and
// empties it.
void wipe(std::string& s);
// Wipes and forgets every cached secret; the next resolution reads the source again.
void forget_secrets();

// Keeps secrets out of core files and away from other processes of the same user: the process
// becomes non-dumpable (no core file, no ptrace attach, /proc/PID/mem and environ unreadable
// to others) and its core size limit 0. Called once at start by the command line.
void protect_process_memory();

}  // namespace converge
