// Derived attributes (derive_computed, engine/api/schema.h): what a resource's other attributes
// imply, computed once per resource while the manifest loads.
#include "engine/api/names.h"
#include "engine/api/schema.h"
#include "engine/values.h"

namespace converge {
namespace {

std::string text_of(const AttrMap& a, const std::string& name) {
  auto it = a.find(name);
  return it == a.end() ? std::string() : it->second.text();
}

// dns_record: the owner name absolute, targets of MX/SRV/CNAME/NS/PTR absolute (so "exch1" and
// "exch1.local." compare equal) and listed in `targets`, A/AAAA owners in `address_of`.
void derive_dns_record(AttrMap& a) {
  std::string zone = text_of(a, "zone"), type = text_of(a, "type");
  std::string fqdn = absolute_dns_name(text_of(a, "name"), zone);
  if (iequals(type, "a") || iequals(type, "aaaa")) a["address_of"] = Value::Str(fqdn);
  a["name"] = Value::Str(fqdn);
  bool mx = iequals(type, "mx"), srv = iequals(type, "srv");
  if (!(mx || srv || iequals(type, "cname") || iequals(type, "ns") || iequals(type, "ptr"))) return;
  size_t target_field = mx ? 1 : srv ? 3 : 0;
  std::vector<Value> targets;
  if (auto it = a.find("values"); it != a.end()) {
    std::vector<Value> values;
    for (const auto& v : it->second.strings()) {
      std::vector<std::string> fields = split_ws(v);
      std::string joined;
      for (size_t f = 0; f < fields.size(); ++f) {
        if (f == target_field) {
          fields[f] = absolute_dns_name(fields[f], zone);
          targets.push_back(Value::Str(fields[f]));
        }
        if (f) joined += ' ';
        joined += fields[f];
      }
      values.push_back(Value::Str(std::move(joined)));
    }
    it->second = Value::List(std::move(values));
  }
  a["targets"] = Value::List(std::move(targets));
}

}  // namespace

void derive_computed(const TypeSpec& t, AttrMap& a) {
  if (t.attr("dn") && t.attr("path")) {
    std::string cn = text_of(a, "cn");
    if (cn.empty()) cn = text_of(a, "name");
    // The name is one RDN value: escaped, so "Sales,OU=X" cannot name another object.
    a["dn"] = Value::Str((t.name == "ou" ? "OU=" : "CN=") + escape_rdn_value(cn) + "," +
                         text_of(a, "path"));
  }
  if (t.name == "dns_record") derive_dns_record(a);
  if (t.name == "migration_path") {
    // The guide's restriction: 2003 -> 2007 with MSA or CSA needs a public folder store.
    bool needs = false;
    if (text_of(a, "source_version") == "2003" && text_of(a, "target_version") == "2007")
      if (auto it = a.find("source_agents"); it != a.end())
        for (const auto& s : it->second.strings())
          needs = needs || iequals(s, "MSA") || iequals(s, "CSA");
    if (needs) a["target_public_folder_store"] = Value::Bool(true);
  }
}

}  // namespace converge
