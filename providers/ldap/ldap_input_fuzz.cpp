// libFuzzer target for what an LDAP server sends and converge decodes: DNs (parse_dn, dn_key,
// parent_dn, first_rdn_value, dn_within), ranged attribute descriptions and windows
// (parse_range, RangedRead), binary SIDs (objectSid -> string), paged-results cookies (the
// response control as libldap parses it, then PagedReadBudget), principal names and URL lists,
// and whole entries into observations (observe_object, observe_attribute).
//
// The input is split at 0x00 bytes into fields. Properties checked: nothing crashes or hangs;
// dn_key is idempotent on DNs that parse; a SID that decodes prints as S-1-... and parses back
// to the same binary; parse_range of range_request's output reads back the window.
#include <ldap.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "engine/api/names.h"
#include "engine/api/schema.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/ldap_text.h"
#include "providers/ldap/ldap_url.h"
#include "providers/ldap/read_limits.h"
#include "providers/ldap/security_descriptor.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "ldap_input_fuzz: %s\n", what);
  std::abort();
}

std::vector<std::string> fields(const uint8_t* data, size_t size) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0)
      out.emplace_back();
    else
      out.back() += static_cast<char>(data[i]);
  }
  while (out.size() < 4) out.emplace_back();
  return out;
}

LDAP* handle() {
  static LDAP* ld = [] {
    LDAP* h = nullptr;
    ldap_initialize(&h, "ldap://127.0.0.1");  // never connected
    return h;
  }();
  return ld;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace converge;
  using namespace converge::ldap;
  auto f = fields(data, size);
  const std::string raw(reinterpret_cast<const char*>(data), size);

  // DNs.
  for (const auto& dn : {f[0], f[1], raw}) {
    auto parsed = parse_dn(dn);
    std::string key = dn_key(dn);
    if (parsed.ok() && dn_key(key) != key) Fail("dn_key is not idempotent");
    (void)parent_dn(dn);
    (void)first_rdn_value(dn);
    (void)dn_within(dn, f[1]);
    (void)escape_dn_value(dn);
    (void)escape_filter(dn);
  }

  // Ranged retrieval.
  RangeOption r = parse_range(f[0]);
  if (r.ranged && r.high && *r.high < UINT64_MAX / 2) {
    RangeOption back = parse_range(range_request("member", r.low, *r.high - r.low + 1));
    if (!back.ranged || back.low != r.low) Fail("range_request does not read back");
  }
  ReadLimits limits;
  limits.max_range_steps = 64;
  RangedRead rr("member", "CN=g,DC=x", limits);
  std::vector<std::string> into;
  uint64_t low = 0;
  for (size_t i = 0; i + 1 < f.size() && i < 64; i += 2) {
    Entry e;
    e.attrs[f[i]] = {f[i + 1]};
    auto next = rr.absorb(e, low, into);
    if (!next.ok() || !*next) break;
    low = **next;
  }

  // SIDs.
  auto sid = sd::Sid::from_binary(std::span<const uint8_t>(data, size));
  if (sid.ok()) {
    std::string text = sid->str();
    if (text.rfind("S-1-", 0) != 0) Fail("a decoded SID does not print as S-1-...");
    auto again = sd::Sid::parse(text);
    if (!again.ok() || again->str() != text) Fail("a printed SID does not parse back");
  }

  // Paged-results cookies: the response control's value as a server would send it.
  LDAPControl ctrl{};
  ctrl.ldctl_oid = const_cast<char*>(LDAP_CONTROL_PAGEDRESULTS);
  ctrl.ldctl_value.bv_val = const_cast<char*>(raw.data());
  ctrl.ldctl_value.bv_len = raw.size();
  // An empty value is refused before libldap sees it, as Conn::search does (libldap 2.5
  // dereferences a null BerElement on it).
  LDAP* ld = raw.empty() ? nullptr : handle();
  if (ld) {
    ber_int_t count = 0;
    berval cookie{};
    if (ldap_parse_pageresponse_control(ld, &ctrl, &count, &cookie) == LDAP_SUCCESS) {
      PagedReadBudget budget("fuzz", limits);
      (void)budget.next_page(std::string_view(cookie.bv_val ? cookie.bv_val : "", cookie.bv_len));
      if (cookie.bv_val) ber_memfree(cookie.bv_val);
    }
  }

  // Names and URLs.
  (void)foreign_principal(f[0], f[1], f[2]);
  (void)strip_domain(f[0]);
  (void)is_secret_attribute(f[0]);
  (void)dns_domain_of(f[0]);
  (void)check_url_list(f[0], true, false);

  // Entries into observations.
  Entry e;
  e.dn = f[0];
  for (size_t i = 1; i + 1 < f.size(); i += 2) e.attrs[lower(f[i])].push_back(f[i + 1]);
  for (const char* t : {"ou", "container", "ldap_object", "account", "group"}) {
    const TypeSpec* spec = find_type(t);
    if (!spec) Fail("a type of the ldap provider is not declared");
    AttrMap want{{"name", Value::Str(f[1])}, {"path", Value::Str(f[2])}};
    (void)observe_object(*spec, e, want);
  }
  AttrMap want_attr{{"object", Value::Str(f[0])},
                    {"attribute", Value::Str(f[1])},
                    {"copy_from", Value::Str(f[2])}};
  (void)observe_attribute(e, want_attr);
  return 0;
}
