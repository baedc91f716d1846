#include "engine/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

namespace converge {
namespace {
std::string read_all(int fd) {
  std::string out;
  char buf[512];
  if (lseek(fd, 0, SEEK_SET) < 0) return out;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\0')) out.pop_back();
  return out;
}
}  // namespace

Result<RunLock> RunLock::acquire(const std::string& path, bool wait, const std::string& what) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  // O_NOFOLLOW: a symlink planted at the lock's path is refused, never followed (as root,
  // following it would truncate and overwrite whatever it points to).
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    int err = errno;
    return Error::Io("cannot open lock file " + path + ": " +
                         (err == ELOOP ? std::string("it is a symbolic link") : std::strerror(err)),
                     err == ELOOP ? "remove the link; the lock file must be a regular file" : "");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::Io("cannot use lock file " + path + ": not a regular file",
                     "remove it; converge creates the lock file itself");
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      ::close(fd);
      return Error::Io("cannot lock " + path + ": " + std::strerror(errno));
    }
    std::string holder = read_all(fd);
    if (!wait) {
      ::close(fd);
      return Error::Conflict("another converge run holds the lock " + path + ": " +
                                 (holder.empty() ? "(unknown)" : holder),
                             "wait for it, or pass --wait to queue behind it");
    }
    std::cerr << "waiting for the lock held by " << (holder.empty() ? "another run" : holder)
              << " ...\n";
    if (flock(fd, LOCK_EX) != 0) {
      ::close(fd);
      return Error::Io("cannot lock " + path + ": " + std::strerror(errno));
    }
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string info =
      "pid " + std::to_string(getpid()) + " on " + host + " since " + when + " (" + what + ")\n";
  if (ftruncate(fd, 0) == 0) {
    ssize_t n = pwrite(fd, info.data(), info.size(), 0);
    (void)n;
  }
  return RunLock(fd);
}

RunLock::~RunLock() {
  if (fd_ >= 0) {
    // Leave the file; clear who held it. The lock itself goes with the descriptor.
    if (ftruncate(fd_, 0) != 0) {
    }
    ::close(fd_);
  }
}

}  // namespace converge
