// doctest main for the LDAP provider's unit tests (ldap_tests).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <csignal>

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);           // as converge's main(): see ldap_deadline.h
  spdlog::set_level(spdlog::level::warn);  // tests assert on values, not on log lines
  return doctest::Context(argc, argv).run();
}
