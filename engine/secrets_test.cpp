#include "engine/secrets.h"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace converge;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/converge-secrets-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name, std::ios::binary | std::ios::trunc) << text;
    return path + "/" + name;
  }
};

}  // namespace

TEST_CASE("secrets: each reference is read once per run; forget_secrets reads it again") {
  forget_secrets();
  setenv("CONVERGE_SECRETS_TEST_A", "first", 1);
  auto a = resolve_secret("env:CONVERGE_SECRETS_TEST_A", "");
  REQUIRE(a.ok());
  CHECK(*a == "first");
  setenv("CONVERGE_SECRETS_TEST_A", "second", 1);
  CHECK(*resolve_secret("env:CONVERGE_SECRETS_TEST_A", "") == "first");

  TempDir d;
  d.write("pw", "one\n");
  CHECK(*resolve_secret("file:pw", d.path) == "one");
  d.write("pw", "two\n");
  CHECK(*resolve_secret("file:pw", d.path) == "one");
  // The same file named another way is the same reference once resolved.
  CHECK(*resolve_secret("file:" + d.path + "/pw", "") == "one");

  forget_secrets();
  CHECK(*resolve_secret("env:CONVERGE_SECRETS_TEST_A", "") == "second");
  CHECK(*resolve_secret("file:pw", d.path) == "two");
  unsetenv("CONVERGE_SECRETS_TEST_A");
  forget_secrets();
}

TEST_CASE("secrets: errors name the reference, never the value") {
  forget_secrets();
  auto unset = resolve_secret("env:CONVERGE_SECRETS_TEST_UNSET", "");
  REQUIRE_FALSE(unset.ok());
  CHECK(unset.error().str().find("env:CONVERGE_SECRETS_TEST_UNSET") != std::string::npos);

  TempDir d;
  auto missing = resolve_secret("file:nope.txt", d.path);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("file:nope.txt") != std::string::npos);

  d.write("empty", "\n");
  auto empty = resolve_secret("file:empty", d.path);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message.find("file:empty") != std::string::npos);
}

TEST_CASE("secrets: a { file } secret is a regular file of at most 64 KiB") {
  forget_secrets();
  TempDir d;
  SUBCASE("a FIFO is refused at once, without waiting for a writer") {
    std::string fifo = d.path + "/fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    auto t0 = std::chrono::steady_clock::now();
    auto r = resolve_secret("file:fifo", d.path);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "secret: file:fifo: not a regular file");
  }
  SUBCASE("a device is refused (/dev/zero would be read without end)") {
    auto r = resolve_secret("file:/dev/zero", "");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "secret: file:/dev/zero: not a regular file");
  }
  SUBCASE("a directory is refused") {
    auto r = resolve_secret("file:.", d.path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("not a regular file") != std::string::npos);
  }
  SUBCASE("a file over the cap is refused and none of it is in the error") {
    d.write("big", std::string(kMaxSecretFileBytes + 1, 'S'));
    auto r = resolve_secret("file:big", d.path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "secret: file:big: larger than 65536 bytes");
    CHECK(r.error().str().find("SS") == std::string::npos);
  }
  SUBCASE("a file at the cap is read") {
    d.write("max", std::string(kMaxSecretFileBytes, 'x'));
    auto r = resolve_secret("file:max", d.path);
    REQUIRE(r.ok());
    CHECK(r->size() == kMaxSecretFileBytes);
  }
  forget_secrets();
}

TEST_CASE("secrets: wipe overwrites and empties") {
  std::string s = "hunter2-hunter2-hunter2-hunter2";  // heap-allocated, not SSO
  const char* p = s.data();
  size_t n = s.size();
  wipe(s);
  CHECK(s.empty());
  CHECK(s.data() == p);  // the same buffer, now zeroed
  CHECK(std::string(p, n) == std::string(n, '\0'));
}

TEST_CASE("secrets: protect_process_memory makes the process non-dumpable without core files") {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    protect_process_memory();
    rlimit rl{};
    bool ok = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 && getrlimit(RLIMIT_CORE, &rl) == 0 &&
              rl.rlim_cur == 0 && rl.rlim_max == 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("secrets: redact_secrets names the reference wherever a resolved value appears") {
  forget_secrets();
  setenv("CONVERGE_SECRETS_TEST_R", "s3cret-value", 1);
  TempDir d;
  d.write("key", "line-one-secret\r\nline-two-secret\n");
  REQUIRE(resolve_secret("env:CONVERGE_SECRETS_TEST_R", "").ok());
  REQUIRE(resolve_secret("file:key", d.path).ok());
  CHECK(redact_secrets("url 's3cret-value' is not a URL; twice: s3cret-value") ==
        "url 'env:CONVERGE_SECRETS_TEST_R' is not a URL; twice: env:CONVERGE_SECRETS_TEST_R");
  CHECK(redact_secrets("whole: line-one-secret\r\nline-two-secret") == "whole: file:key");
  CHECK(redact_secrets("bad line 2: line-two-secret") == "bad line 2: file:key");
  CHECK(redact_secrets("nothing here") == "nothing here");
  forget_secrets();
  CHECK(redact_secrets("s3cret-value") == "s3cret-value");  // forgotten: nothing to redact
  unsetenv("CONVERGE_SECRETS_TEST_R");
}
