#include "providers/ldap/read_limits.h"

#include "engine/api/names.h"
#include "providers/ldap/ldap_text.h"

namespace converge::ldap {
namespace {

Error too_much(const std::string& what, const std::string& detail) {
  Error e;
  e.kind = ErrorKind::kConflict;
  e.message = what + ": " + detail + "; converge stopped reading";
  e.hint =
      "the server sent far more than any domain needs: check that url names a domain "
      "controller";
  return e;
}

}  // namespace

std::optional<Error> PagedReadBudget::next_page(std::string_view cookie) {
  if (cookie.size() > l_.max_cookie_bytes)
    return too_much(what_, "the server's paged-results cookie has " +
                               std::to_string(cookie.size()) + " bytes (at most " +
                               std::to_string(l_.max_cookie_bytes) + ")");
  if (++pages_ >= l_.max_pages)
    return too_much(what_, "more than " + std::to_string(l_.max_pages) + " pages");
  return std::nullopt;
}

std::optional<Error> PagedReadBudget::entry() {
  if (++entries_ > l_.max_entries)
    return too_much(what_, "more than " + std::to_string(l_.max_entries) + " entries");
  return std::nullopt;
}

Result<std::optional<uint64_t>> RangedRead::absorb(const Entry& e, uint64_t low,
                                                   std::vector<std::string>& into) {
  const std::string what = "ranged read of " + attr_ + " of " + dn_;
  if (++steps_ > l_.max_range_steps)
    return too_much(what, "more than " + std::to_string(l_.max_range_steps) + " windows");
  std::optional<uint64_t> next;
  bool seen = false;
  for (const auto& [desc, values] : e.attrs) {
    RangeOption r = parse_range(desc);
    if (lower(r.attr) != lower(attr_)) continue;
    if (seen) return too_much(what, "the answer holds two windows of the attribute");
    seen = true;
    values_ += values.size();
    if (values_ > l_.max_entries)
      return too_much(what, "more than " + std::to_string(l_.max_entries) + " values");
    if (r.ranged) {
      if (r.low != low)
        return too_much(what, "the server answered the window starting at " +
                                  std::to_string(r.low) + " when " + std::to_string(low) +
                                  " was asked");
      if (r.high && (*r.high < r.low || *r.high == UINT64_MAX))
        return too_much(what, "the server's window " + desc + " ends before it starts");
    }
    for (const auto& v : values) into.push_back(dn_key(v));
    if (r.ranged && r.high && !values.empty()) next = *r.high + 1;
  }
  return next;
}

}  // namespace converge::ldap
