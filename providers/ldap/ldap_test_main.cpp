// doctest main for the LDAP provider's unit tests (ldap_tests).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // tests assert on values, not on log lines
  return doctest::Context(argc, argv).run();
}
