// Test runner for the dns provider (doctest). The suite "bind" needs a running BIND 9 (the ctest
// fixture starts one and passes its env file in CONVERGE_TEST_BIND_ENV); every other suite runs
// anywhere.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // tests assert on values, not on log lines
  return doctest::Context(argc, argv).run();
}
