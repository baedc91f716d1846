// Batched directory queries over one Conn: the root DSE, entries by DN, principals by name,
// group members with ranged retrieval, extended rights and schema objects by name, and the
// DACL read / write cycle. Each call is one paged search per naming context and chunk of names
// (never one search per resource); results are keyed by canonical DN or lower-cased name.
//
// Thread-safety: a Directory wraps one Conn and is used by one thread at a time.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/api/result.h"
#include "providers/ldap/ldap_conn.h"
#include "providers/ldap/ldap_model.h"
#include "providers/ldap/security_descriptor.h"

namespace converge::ldap {

struct RootDse {
  std::string default_nc, config_nc, schema_nc;
  std::vector<std::string> naming_contexts;
  std::vector<std::string> supported_controls;
  // The default naming context's domain: nETBIOSName and dnsRoot of its crossRef in
  // CN=Partitions (dnsRoot falling back to the DC= components of default_nc, the NetBIOS name to
  // the first label of the DNS name, upper-cased, when the crossRef cannot be read).
  std::string netbios, dns_domain;
};

// The naming context (of `root`) that holds `dn`: the longest one it lies within, or "".
std::string naming_context_of(const RootDse& root, const std::string& dn);

struct Principal {
  std::string dn;   // "" for a well-known SID without an object in the directory
  std::string sid;  // S-1-...
  std::string sam;  // sAMAccountName, if any
};

// What a name used as object_type / inherited_object_type / attribute resolves to.
struct SchemaName {
  enum Kind { kExtendedRight, kClass, kAttribute, kGuid } kind = kGuid;  // kGuid: given as a GUID
  sd::Guid guid;
  std::string ldap_name;      // lDAPDisplayName or the right's cn
  bool confidential = false;  // an attribute whose searchFlags has kSearchFlagConfidential
};

// How many names one search filter may carry.
inline constexpr size_t kFilterChunk = 400;

// Test seam, never set by converge itself: write_dacl calls it on its compare-then-replace path
// with the object's DN just before the compare read (kBeforeCompare) and just after the replace
// landed (kAfterReplace), so that a test can land another administrator's write inside exactly
// those windows. Set it only while no write runs.
enum class DaclWindow { kBeforeCompare, kAfterReplace };
void set_dacl_window_hook(std::function<void(DaclWindow, const std::string& dn)> hook);

class Directory {
 public:
  // `no_value_delete` remembers (for the provider) that the server cannot delete a value of
  // nTSecurityDescriptor; may be null.
  Directory(Conn& c, const RootDse* root, std::string base_dn, std::string provider,
            std::atomic<bool>* no_value_delete = nullptr)
      : c_(c),
        root_(root),
        base_dn_(std::move(base_dn)),
        provider_(std::move(provider)),
        no_value_delete_(no_value_delete) {}

  static Result<RootDse> read_root(Conn& c, const std::string& provider);

  // The entries that exist among `dns`, keyed by canonical DN. DNs outside every naming context
  // are simply absent.
  Result<std::map<std::string, Entry>> read_dns(const std::vector<std::string>& dns,
                                                const std::vector<std::string>& attrs,
                                                uint32_t sd_flags = 0);
  // One entry by DN (base search); nullopt when it does not exist.
  Result<std::optional<Entry>> read_one(const std::string& dn,
                                        const std::vector<std::string>& attrs,
                                        uint32_t sd_flags = 0);
  // Entries under the provider's base DN of `class_clause` whose `attr` equals one of `values`.
  Result<std::vector<Entry>> find_by(const std::string& class_clause, const std::string& attr,
                                     const std::vector<std::string>& values,
                                     const std::vector<std::string>& attrs);
  // The children of `base` (one level) that match `filter`, paged.
  Result<std::vector<Entry>> list(const std::string& base, const std::string& filter,
                                  const std::vector<std::string>& attrs);
  // Principals by name: sAMAccountName (a "DOMAIN\" prefix is ignored), SID string or a
  // well-known name. Keyed by lower-cased name as given; names that resolve to nothing are absent.
  Result<std::map<std::string, Principal>> principals(const std::vector<std::string>& names);
  // Every value of the member attribute of each group (canonical DNs), using ranged retrieval
  // (member;range=LOW-*) so that groups larger than MaxValRange are read completely.
  Result<std::map<std::string, std::vector<std::string>>> members(
      const std::vector<std::string>& group_dns);
  // Extended rights (by displayName or cn, from CN=Extended-Rights) and classes / attributes (by
  // lDAPDisplayName or cn, from the Schema partition); GUID strings pass through. Keyed by
  // object_type_key(name). Names the directory does not know fall back to the guide's table of
  // extended rights; names still unknown are absent.
  Result<std::map<std::string, SchemaName>> schema_names(const std::vector<std::string>& names);

  // The DACL-only security descriptor of `dn` (read with the SD flags control) and its bytes.
  struct Dacl {
    std::string bytes;
    sd::SecurityDescriptor sd;
  };
  Result<std::optional<Dacl>> read_dacl(const std::string& dn);
  // Writes `next` in place of `prev` (both DACL-only descriptors). Uses one modify that deletes
  // the old value and adds the new one, so a concurrent change makes it fail (and the caller
  // re-reads); where the server does not support deleting nTSecurityDescriptor values (Samba:
  // unwillingToPerform) it re-reads just before writing and replaces only if nothing changed.
  // Returns false when the DACL changed since `prev` was read (the caller starts again).
  Result<bool> write_dacl(const std::string& dn, const Dacl& prev,
                          const sd::SecurityDescriptor& next);

  Error error(const LdapStatus& st) const;
  const RootDse& root() const { return *root_; }
  Conn& conn() { return c_; }

 private:
  Conn& c_;
  const RootDse* root_;
  std::string base_dn_;
  std::string provider_;
  std::atomic<bool>* no_value_delete_;
};

}  // namespace converge::ldap
