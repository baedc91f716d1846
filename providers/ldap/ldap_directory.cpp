#include "providers/ldap/ldap_directory.h"

#include <ldap.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "engine/api/names.h"
#include "providers/ldap/ldap_text.h"
#include "providers/ldap/read_limits.h"

namespace converge::ldap {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string sid_text(const std::string& binary) {
  auto sid = sd::Sid::from_binary(bytes_of(binary));
  return sid.ok() ? sid->str() : std::string();
}

// searchFlags of an attributeSchema entry (0 when absent or not a number).
uint32_t search_flags(const Entry& e) {
  try {
    return static_cast<uint32_t>(
        std::stol(e.first("searchflags").empty() ? "0" : e.first("searchflags")));
  } catch (const std::exception&) {
    return 0;
  }
}

std::function<void(DaclWindow, const std::string&)>& dacl_window_hook() {
  static std::function<void(DaclWindow, const std::string&)> hook;
  return hook;
}

}  // namespace

void set_dacl_window_hook(std::function<void(DaclWindow, const std::string& dn)> hook) {
  dacl_window_hook() = std::move(hook);
}

std::string naming_context_of(const RootDse& root, const std::string& dn) {
  std::string best;
  for (const auto& nc : root.naming_contexts)
    if (dn_within(dn, nc) && dn_key(nc).size() > dn_key(best).size()) best = nc;
  return best;
}

Error Directory::error(const LdapStatus& st) const {
  return error_of(kind_for(st.code), "ldap provider '" + provider_ + "': " + st.text);
}

Result<RootDse> Directory::read_root(Conn& c, const std::string& provider) {
  RootDse r;
  bool found = false;
  LdapStatus st = c.search(
      "", Conn::kBase, "(objectClass=*)",
      {"defaultNamingContext", "configurationNamingContext", "schemaNamingContext",
       "namingContexts", "supportedControl"},
      [&](Entry&& e) {
        found = true;
        r.default_nc = e.first("defaultnamingcontext");
        r.config_nc = e.first("configurationnamingcontext");
        r.schema_nc = e.first("schemanamingcontext");
        r.naming_contexts = e.values("namingcontexts");
        r.supported_controls = e.values("supportedcontrol");
      },
      0, 0);
  if (!st.ok()) return error_of(kind_for(st.code), "ldap provider '" + provider + "': " + st.text);
  if (!found || r.naming_contexts.empty())
    return Error::Conflict(
        "ldap provider '" + provider + "': the server's root DSE lists no naming contexts",
        "is this an Active Directory / Samba AD domain controller?");
  if (!r.config_nc.empty() && !r.default_nc.empty()) {
    st = c.search(
        "CN=Partitions," + r.config_nc, Conn::kOneLevel,
        "(&(objectClass=crossRef)(nCName=" + escape_filter(r.default_nc) + "))",
        {"nETBIOSName", "dnsRoot"},
        [&](Entry&& e) {
          r.netbios = e.first("netbiosname");
          r.dns_domain = lower(e.first("dnsroot"));
        },
        0, 0);
    if (!st.ok() && st.code != LDAP_NO_SUCH_OBJECT && st.code != LDAP_INSUFFICIENT_ACCESS)
      return error_of(kind_for(st.code), "ldap provider '" + provider + "': " + st.text);
  }
  if (r.dns_domain.empty()) r.dns_domain = dns_domain_of(r.default_nc);
  if (r.netbios.empty()) {
    std::string label = r.dns_domain.substr(0, r.dns_domain.find('.'));
    for (char& ch : label) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    r.netbios = label;
  }
  return r;
}

Result<std::map<std::string, Entry>> Directory::read_dns(const std::vector<std::string>& dns,
                                                         const std::vector<std::string>& attrs,
                                                         uint32_t sd_flags) {
  std::map<std::string, std::vector<std::string>> by_nc;
  std::set<std::string> seen;
  for (const auto& dn : dns) {
    std::string key = dn_key(dn);
    if (!seen.insert(key).second) continue;
    std::string nc = naming_context_of(*root_, dn);
    if (nc.empty()) continue;
    by_nc[nc].push_back(escape_filter(dn));
  }
  std::map<std::string, Entry> out;
  for (const auto& [nc, escaped] : by_nc) {
    for (const auto& filter : or_filters("", "distinguishedName", escaped, kFilterChunk)) {
      LdapStatus st = c_.search(
          nc, Conn::kSubtree, filter, attrs,
          [&](Entry&& e) {
            std::string key = dn_key(e.dn);
            out[key] = std::move(e);
          },
          sd_flags);
      if (!st.ok()) return error(st);
    }
  }
  return out;
}

Result<std::optional<Entry>> Directory::read_one(const std::string& dn,
                                                 const std::vector<std::string>& attrs,
                                                 uint32_t sd_flags) {
  std::optional<Entry> out;
  LdapStatus st = c_.search(
      dn, Conn::kBase, "(objectClass=*)", attrs, [&](Entry&& e) { out = std::move(e); }, sd_flags,
      0);
  if (st.code == LDAP_NO_SUCH_OBJECT) return std::optional<Entry>();
  if (!st.ok()) return error(st);
  return out;
}

Result<std::vector<Entry>> Directory::find_by(const std::string& class_clause,
                                              const std::string& attr,
                                              const std::vector<std::string>& values,
                                              const std::vector<std::string>& attrs) {
  std::vector<std::string> escaped;
  std::set<std::string> seen;
  for (const auto& v : values)
    if (seen.insert(lower(v)).second) escaped.push_back(escape_filter(v));
  std::vector<Entry> out;
  for (const auto& filter : or_filters(class_clause, attr, escaped, kFilterChunk)) {
    LdapStatus st = c_.search(base_dn_, Conn::kSubtree, filter, attrs,
                              [&](Entry&& e) { out.push_back(std::move(e)); });
    if (!st.ok()) return error(st);
  }
  return out;
}

Result<std::vector<Entry>> Directory::list(const std::string& base, const std::string& filter,
                                           const std::vector<std::string>& attrs) {
  std::vector<Entry> out;
  LdapStatus st = c_.search(base, Conn::kOneLevel, filter, attrs,
                            [&](Entry&& e) { out.push_back(std::move(e)); });
  if (st.code == LDAP_NO_SUCH_OBJECT) return out;  // the container does not exist (yet)
  if (!st.ok()) return error(st);
  return out;
}

Result<std::map<std::string, Principal>> Directory::principals(
    const std::vector<std::string>& names) {
  std::map<std::string, Principal> out;
  std::vector<std::string> sams;
  std::map<std::string, std::vector<std::string>> by_sid;  // binary SID -> names asking for it
  for (const auto& n : names) {
    std::string key = lower(n);
    if (out.count(key)) continue;
    std::optional<std::string> sid_str;
    if (looks_like_sid(n))
      sid_str = n;
    else
      sid_str = well_known_sid(n);
    if (sid_str) {
      auto sid = sd::Sid::parse(*sid_str);
      if (!sid.ok()) continue;  // not a SID after all: unresolvable
      out[key] = Principal{"", sid->str(), ""};
      auto bin = sid->to_binary();
      by_sid[std::string(bin.begin(), bin.end())].push_back(key);
    } else {
      sams.push_back(strip_domain(n));
    }
  }
  const std::vector<std::string> attrs = {"sAMAccountName", "objectSid"};
  if (!sams.empty()) {
    auto found = find_by("", "sAMAccountName", sams, attrs);
    if (!found.ok()) return found.error();
    std::map<std::string, const Entry*> by_sam;
    for (const auto& e : *found) by_sam[lower(e.first("samaccountname"))] = &e;
    for (const auto& n : names) {
      if (looks_like_sid(n) || well_known_sid(n)) continue;
      auto it = by_sam.find(lower(strip_domain(n)));
      if (it == by_sam.end()) continue;
      out[lower(n)] = Principal{it->second->dn, sid_text(it->second->first("objectsid")),
                                it->second->first("samaccountname")};
    }
  }
  if (!by_sid.empty()) {
    // Objects for SIDs (foreign security principals, or accounts named by SID), for their DNs.
    std::vector<std::string> escaped;
    for (const auto& [bin, _] : by_sid) escaped.push_back(escape_filter_bytes(bin));
    for (const auto& filter : or_filters("", "objectSid", escaped, kFilterChunk)) {
      LdapStatus st = c_.search(base_dn_, Conn::kSubtree, filter, attrs, [&](Entry&& e) {
        auto it = by_sid.find(e.first("objectsid"));
        if (it == by_sid.end()) return;
        for (const auto& key : it->second) {
          out[key].dn = e.dn;
          out[key].sam = e.first("samaccountname");
        }
      });
      if (!st.ok()) return error(st);
    }
  }
  return out;
}

Result<std::map<std::string, std::vector<std::string>>> Directory::members(
    const std::vector<std::string>& group_dns) {
  std::map<std::string, std::vector<std::string>> out;
  // The first window of every group in one batched search; then the rest of the large ones. A
  // server may serve a smaller window than asked for ("member;range=0-999"); "-*" marks the
  // last. RangedRead bounds the windows and values a server can make converge read.
  auto first = read_dns(group_dns, {range_request("member", 0, kRangeWindow)});
  if (!first.ok()) return first.error();
  std::vector<std::pair<std::string, uint64_t>> more;
  std::map<std::string, RangedRead> reads;
  for (auto& [key, e] : *first) {
    auto& rr = reads.emplace(key, RangedRead("member", e.dn)).first->second;
    auto next = rr.absorb(e, 0, out[key]);
    if (!next.ok()) return next.error();
    if (*next) more.emplace_back(e.dn, **next);
  }
  for (auto& [dn, start] : more) {
    std::optional<uint64_t> low = start;
    auto& into = out[dn_key(dn)];
    auto& rr = reads.at(dn_key(dn));
    while (low) {
      std::optional<uint64_t> next;
      std::optional<Error> bad;
      LdapStatus st = c_.search(
          dn, Conn::kBase, "(objectClass=*)", {range_request("member", *low, kRangeWindow)},
          [&](Entry&& e) {
            auto n = rr.absorb(e, *low, into);
            if (n.ok())
              next = *n;
            else
              bad = n.error();
          },
          0, 0);
      if (!st.ok()) return error(st);
      if (bad) return *bad;
      low = next;
    }
  }
  return out;
}

Result<std::map<std::string, SchemaName>> Directory::schema_names(
    const std::vector<std::string>& names) {
  std::map<std::string, SchemaName> out;
  std::vector<std::string> wanted;  // escaped spellings to ask for
  std::set<std::string> keys;
  for (const auto& n : names) {
    if (n.empty()) continue;
    if (auto g = sd::Guid::parse(n); g.ok()) {
      out[object_type_key(n)] = SchemaName{SchemaName::kGuid, *g, n};
      continue;
    }
    if (!keys.insert(object_type_key(n)).second) continue;
    for (const auto& v : object_type_variants(n)) wanted.push_back(escape_filter(v));
  }
  if (!wanted.empty()) {
    // Extended rights first: "Send-As" is a right, not a class.
    std::string rights_base = "CN=Extended-Rights," + root_->config_nc;
    for (const char* attr : {"displayName", "cn"}) {
      for (const auto& filter :
           or_filters("(objectClass=controlAccessRight)", attr, wanted, kFilterChunk)) {
        LdapStatus st =
            c_.search(rights_base, Conn::kOneLevel, filter, {"cn", "displayName", "rightsGuid"},
                      [&](Entry&& e) {
                        auto g = sd::Guid::parse(e.first("rightsguid"));
                        if (!g.ok()) return;
                        for (const auto& name : {e.first("displayname"), e.first("cn")}) {
                          std::string k = object_type_key(name);
                          if (keys.count(k) && !out.count(k))
                            out[k] = SchemaName{SchemaName::kExtendedRight, *g, e.first("cn")};
                        }
                      });
        if (!st.ok() && st.code != LDAP_NO_SUCH_OBJECT) return error(st);
      }
    }
    for (const char* attr : {"lDAPDisplayName", "cn"}) {
      for (const auto& filter : or_filters("", attr, wanted, kFilterChunk)) {
        LdapStatus st = c_.search(
            root_->schema_nc, Conn::kOneLevel, filter,
            {"cn", "lDAPDisplayName", "schemaIDGUID", "objectClass", "searchFlags"},
            [&](Entry&& e) {
              std::string raw = e.first("schemaidguid");
              if (raw.size() != 16) return;
              sd::Guid g;
              std::copy(raw.begin(), raw.end(), g.b.begin());
              bool is_class = false;
              for (const auto& oc : e.values("objectclass"))
                is_class = is_class || lower(oc) == "classschema";
              for (const auto& name : {e.first("ldapdisplayname"), e.first("cn")}) {
                std::string k = object_type_key(name);
                if (keys.count(k) && !out.count(k)) {
                  out[k] = SchemaName{is_class ? SchemaName::kClass : SchemaName::kAttribute, g,
                                      e.first("ldapdisplayname")};
                  out[k].confidential = (search_flags(e) & kSearchFlagConfidential) != 0;
                }
              }
            });
        if (!st.ok()) return error(st);
      }
    }
  }
  for (const auto& k : keys) {
    if (out.count(k)) continue;
    if (auto g = fallback_right_guid(k)) {
      auto guid = sd::Guid::parse(*g);
      if (guid.ok()) out[k] = SchemaName{SchemaName::kExtendedRight, *guid, k};
    }
  }
  return out;
}

Result<std::optional<Directory::Dacl>> Directory::read_dacl(const std::string& dn) {
  auto e = read_one(dn, {"nTSecurityDescriptor"}, kDaclSecurityInformation);
  if (!e.ok()) return e.error();
  if (!*e) return std::optional<Dacl>();
  Dacl d;
  d.bytes = (*e)->first("ntsecuritydescriptor");
  if (d.bytes.empty())
    return Error::Conflict(
        "ldap provider '" + provider_ + "': cannot read the security descriptor of " + dn,
        "the bind account needs READ_CONTROL on the object");
  auto parsed = sd::parse(bytes_of(d.bytes));
  if (!parsed.ok())
    return Error::Conflict("the security descriptor of " + dn +
                           " does not parse: " + parsed.error().message);
  d.sd = std::move(*parsed);
  return std::optional<Dacl>(std::move(d));
}

Result<bool> Directory::write_dacl(const std::string& dn, const Dacl& prev,
                                   const sd::SecurityDescriptor& next) {
  std::vector<uint8_t> raw = sd::serialize(sd::dacl_only(next));
  if (raw.empty()) return Error::Internal("cannot encode the new security descriptor of " + dn);
  std::string bytes(raw.begin(), raw.end());
  if (!no_value_delete_ || !no_value_delete_->load()) {
    // Atomic compare-and-swap: the delete names the exact old value.
    LdapStatus st = c_.modify(dn,
                              {{Mod::kDelete, "nTSecurityDescriptor", {prev.bytes}},
                               {Mod::kAdd, "nTSecurityDescriptor", {bytes}}},
                              kDaclSecurityInformation);
    if (st.ok()) return true;
    bool mismatch = st.code == LDAP_NO_SUCH_ATTRIBUTE || st.code == LDAP_CONSTRAINT_VIOLATION ||
                    st.code == LDAP_TYPE_OR_VALUE_EXISTS;
    if (!mismatch && st.code != LDAP_UNWILLING_TO_PERFORM) return error(st);
    if (mismatch) {
      auto now = read_dacl(dn);
      if (!now.ok()) return now.error();
      if (!*now || (*now)->bytes != prev.bytes) return false;  // it did change: start again
      // Unchanged, yet the old value did not match: the server compares something else.
    }
    if (no_value_delete_) no_value_delete_->store(true);
    spdlog::info(
        "ldap provider '{}': the server cannot replace nTSecurityDescriptor by value ({}); "
        "comparing the DACL just before each write instead",
        provider_, st.text);
  }
  if (dacl_window_hook()) dacl_window_hook()(DaclWindow::kBeforeCompare, dn);
  auto now = read_dacl(dn);
  if (!now.ok()) return now.error();
  if (!*now) return Error::NotFound("object " + dn + " no longer exists");
  if ((*now)->bytes != prev.bytes) return false;
  LdapStatus st =
      c_.modify(dn, {{Mod::kReplace, "nTSecurityDescriptor", {bytes}}}, kDaclSecurityInformation);
  if (!st.ok()) return error(st);
  if (dacl_window_hook()) dacl_window_hook()(DaclWindow::kAfterReplace, dn);
  return true;
}

}  // namespace converge::ldap
