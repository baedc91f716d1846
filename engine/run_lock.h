// RunLock: one converge run at a time changes a target.
//
// An exclusive flock() on a lock file beside the journal. The kernel drops the lock when its
// holder dies, however it dies (SIGKILL included), so a lock left by a killed run is recovered
// without anyone deleting a file. The file also says who holds it (pid, host, start time, what),
// for the message the second run prints. The file is created 0600 and never through a symbolic
// link. Not thread-safe; one per process.
#pragma once

#include <string>

#include "engine/api/result.h"

namespace converge {

class RunLock {
 public:
  // Takes the lock at `path`. wait=false fails at once naming the holder; wait=true blocks.
  static Result<RunLock> acquire(const std::string& path, bool wait, const std::string& what);
  RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  RunLock(const RunLock&) = delete;
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace converge
