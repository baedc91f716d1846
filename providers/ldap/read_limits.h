// Bounds on what one read may make converge consume, so that a hostile or broken server cannot
// keep it reading forever: pages and entries of one paged search, the size of a paged-results
// cookie, windows and values of one ranged attribute (member;range=LOW-HIGH). The limits are far
// above anything a real domain needs (Active Directory's own MaxPageSize is 1000 entries and
// MaxValRange 1500 values); exceeding one is an error naming the search.
//
// Pure; a budget is used by one thread; tested in read_limits_test.cpp and fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/api/result.h"
#include "providers/ldap/ldap_model.h"

namespace converge::ldap {

struct ReadLimits {
  uint64_t max_pages = 20000;         // pages of one paged search
  uint64_t max_entries = 2000000;     // entries of one search / values of one ranged attribute
  uint64_t max_cookie_bytes = 65536;  // one paged-results cookie
  uint64_t max_range_steps = 20000;   // windows of one ranged attribute
};

// Counts one paged search. Each call returns the error to report, or nullopt.
class PagedReadBudget {
 public:
  explicit PagedReadBudget(std::string what, ReadLimits l = {}) : what_(std::move(what)), l_(l) {}
  // A page was answered and the server sent `cookie` for the next one.
  std::optional<Error> next_page(std::string_view cookie);
  // One more entry arrived.
  std::optional<Error> entry();

 private:
  std::string what_;
  ReadLimits l_;
  uint64_t pages_ = 0, entries_ = 0;
};

// Reads one multi-valued attribute window by window.
class RangedRead {
 public:
  explicit RangedRead(std::string attr, std::string dn, ReadLimits l = {})
      : attr_(std::move(attr)), dn_(std::move(dn)), l_(l) {}
  // Takes the answer `e` to the window that starts at `low`: appends the attribute's values to
  // `into` and returns where the next window starts, or nullopt when the last window (HIGH "*",
  // or no range option at all) was read. A window that starts elsewhere than asked, ends before
  // it starts, or exceeds the limits is an error.
  Result<std::optional<uint64_t>> absorb(const Entry& e, uint64_t low,
                                         std::vector<std::string>& into);

 private:
  std::string attr_, dn_;
  ReadLimits l_;
  uint64_t steps_ = 0, values_ = 0;
};

}  // namespace converge::ldap
