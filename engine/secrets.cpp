#include "engine/secrets.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>

namespace converge {
namespace {

struct Cached {
  std::string value;
  std::string ref;  // as first written
};

std::mutex g_mu;
// reference as resolved (file paths made absolute against base_dir) -> value.
std::map<std::string, Cached>& cache() {
  static auto* c = new std::map<std::string, Cached>();  // lives until exit: no teardown
  return *c;
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
    s.replace(at, what.size(), with);
}

Result<std::string> read_env(const std::string& ref) {
  std::string var = ref.substr(4);
  const char* v = std::getenv(var.c_str());
  if (!v || !*v)
    return Error::NotFound("secret: environment variable " + var + " is not set (" + ref + ")",
                           "export " + var + " before running");
  return std::string(v);
}

// Reads a { file } secret: a regular file of at most kMaxSecretFileBytes. O_NONBLOCK so that
// opening a FIFO returns at once (and is then refused) instead of waiting for a writer.
Result<std::string> read_file(const std::string& ref, const std::string& path) {
  auto bad = [&](const std::string& why, const std::string& hint = "") {
    return Error::Invalid("secret: " + ref + ": " + why,
                          hint.empty() ? "point it at a regular file holding the secret" : hint);
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return Error::NotFound("secret: " + ref + ": cannot open: " + std::strerror(errno),
                           "check the path and its permissions");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad("not a regular file");
  }
  if (st.st_size > static_cast<off_t>(kMaxSecretFileBytes)) {
    ::close(fd);
    return bad("larger than " + std::to_string(kMaxSecretFileBytes) + " bytes");
  }
  std::string s(kMaxSecretFileBytes + 1, '\0');
  size_t got = 0;
  while (got < s.size()) {
    ssize_t n = ::read(fd, s.data() + got, s.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      wipe(s);
      return bad(std::string("cannot read: ") + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxSecretFileBytes) {  // grew after fstat
    wipe(s);
    return bad("larger than " + std::to_string(kMaxSecretFileBytes) + " bytes");
  }
  std::string out(s.data(), got);
  wipe(s);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (out.empty()) return bad("the file is empty", "write the secret into the file");
  return out;
}

}  // namespace

bool is_secret_reference(const std::string& s) {
  return s.rfind("env:", 0) == 0 || s.rfind("file:", 0) == 0;
}

void wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

void forget_secrets() {
  std::lock_guard<std::mutex> g(g_mu);
  for (auto& [_, c] : cache()) wipe(c.value);
  cache().clear();
}

std::string redact_secrets(std::string text) {
  std::lock_guard<std::mutex> g(g_mu);
  for (const auto& [_, c] : cache()) {
    std::string_view v = c.value;
    // Whole values first (longest match), then lines of multi-line ones.
    if (v.size() >= 3) replace_all(text, v, c.ref);
    if (v.find('\n') == std::string_view::npos) continue;
    for (size_t start = 0; start <= v.size();) {
      size_t nl = v.find('\n', start);
      std::string_view line = v.substr(start, nl == v.npos ? v.npos : nl - start);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.size() >= 3) replace_all(text, line, c.ref);
      if (nl == v.npos) break;
      start = nl + 1;
    }
  }
  return text;
}

Result<std::string> resolve_secret(const std::string& ref, const std::string& base_dir) {
  std::string key;
  std::string path;
  if (ref.rfind("env:", 0) == 0) {
    key = ref;
  } else if (ref.rfind("file:", 0) == 0) {
    path = ref.substr(5);
    if (path.empty()) return Error::Invalid("secret: " + ref + ": no path", "");
    if (path[0] != '/' && !base_dir.empty()) path = base_dir + "/" + path;
    key = "file:" + path;
  } else {
    return Error::Invalid("not a secret reference",
                          "write { env = \"VAR\" } or { file = \"path\" }");
  }
  std::lock_guard<std::mutex> g(g_mu);
  if (auto it = cache().find(key); it != cache().end()) return it->second.value;
  Result<std::string> v = path.empty() ? read_env(ref) : read_file(ref, path);
  if (v.ok()) cache().emplace(key, Cached{*v, ref});
  return v;
}

void protect_process_memory() {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit none {};
  setrlimit(RLIMIT_CORE, &none);
}

}  // namespace converge
