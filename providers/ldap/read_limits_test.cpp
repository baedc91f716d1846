#include "providers/ldap/read_limits.h"

#include <doctest/doctest.h>

using namespace converge::ldap;

TEST_CASE("paged reads: pages, entries and cookies are bounded") {
  ReadLimits l;
  l.max_pages = 3;
  l.max_entries = 5;
  l.max_cookie_bytes = 8;
  PagedReadBudget b("search of DC=x for (objectClass=*)", l);
  CHECK_FALSE(b.next_page("c1"));
  CHECK_FALSE(b.next_page("c2"));
  // A server that keeps sending cookies cannot keep converge paging forever.
  auto e = b.next_page("c3");
  REQUIRE(e);
  CHECK(e->message.find("search of DC=x") != std::string::npos);
  CHECK(e->message.find("more than 3 pages") != std::string::npos);
  PagedReadBudget c("s", l);
  CHECK(c.next_page(std::string(9, 'x')));
  for (int i = 0; i < 5; ++i) CHECK_FALSE(c.entry());
  auto big = c.entry();
  REQUIRE(big);
  CHECK(big->message.find("more than 5 entries") != std::string::npos);
  // The defaults are far above what Active Directory serves.
  ReadLimits d;
  CHECK(d.max_pages * 1000 >= 10000000);
}

namespace {
Entry window(const std::string& desc, size_t n, size_t first = 0) {
  Entry e;
  e.dn = "CN=g,DC=x";
  for (size_t i = 0; i < n; ++i)
    e.attrs[desc].push_back("CN=u" + std::to_string(first + i) + ",DC=x");
  return e;
}
}  // namespace

TEST_CASE("ranged reads: windows follow each other and end") {
  RangedRead r("member", "CN=g,DC=x");
  std::vector<std::string> into;
  auto a = r.absorb(window("member;range=0-1", 2), 0, into);
  REQUIRE(a.ok());
  CHECK(*a == std::optional<uint64_t>(2));
  auto b = r.absorb(window("member;range=2-*", 1, 2), 2, into);
  REQUIRE(b.ok());
  CHECK_FALSE(*b);
  CHECK(into.size() == 3);
  // A small group is answered without a range option.
  RangedRead s("member", "CN=h,DC=x");
  std::vector<std::string> small;
  auto c = s.absorb(window("member", 4), 0, small);
  REQUIRE(c.ok());
  CHECK_FALSE(*c);
  CHECK(small.size() == 4);
}

TEST_CASE("ranged reads: a hostile server cannot make converge read forever") {
  ReadLimits l;
  l.max_range_steps = 10;
  l.max_entries = 1000;
  // One value per window, for ever: stopped after max_range_steps windows.
  RangedRead r("member", "CN=g,DC=x", l);
  std::vector<std::string> into;
  uint64_t low = 0;
  bool stopped = false;
  for (int i = 0; i < 100 && !stopped; ++i) {
    auto n = r.absorb(window("member;range=" + std::to_string(low) + "-" + std::to_string(low), 1),
                      low, into);
    if (!n.ok()) {
      stopped = true;
      CHECK(n.error().message.find("more than 10 windows") != std::string::npos);
      CHECK(n.error().message.find("CN=g,DC=x") != std::string::npos);
    } else {
      REQUIRE(*n);
      low = **n;
    }
  }
  CHECK(stopped);
  // A window that goes back (0-1 again when 2 was asked) would loop: refused.
  RangedRead back("member", "CN=g,DC=x");
  std::vector<std::string> v;
  CHECK_FALSE(back.absorb(window("member;range=0-1", 2), 2, v).ok());
  CHECK_FALSE(back.absorb(window("member;range=5-3", 2), 5, v).ok());
  CHECK_FALSE(back.absorb(window("member;range=0-18446744073709551615", 2), 0, v).ok());
  // Too many values in total.
  RangedRead many("member", "CN=g,DC=x", l);
  std::vector<std::string> w;
  CHECK_FALSE(many.absorb(window("member;range=0-*", 1001), 0, w).ok());
}
