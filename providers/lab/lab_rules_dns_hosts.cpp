// The lab's DNS server and host rules: records need their zone, stay inside it, a CNAME stands
// alone, an in-zone MX/SRV/CNAME target needs an address record; registry values and local groups
// need their host (a domain controller has no local groups); SQL role members need the database.
#include "engine/api/names.h"
#include "providers/lab/lab_rules.h"

namespace converge::lab {

std::optional<Status> dns_and_host_rules(const Change& c) {
  if (c.t == "dns_zone") {
    if (c.del) {
      auto recs = c.s.all("dns_record");
      if (!recs.ok()) return recs.error();
      for (auto& [k, a] : *recs)
        if (canonical_dns_name(get(a, "zone").text()) ==
            canonical_dns_name(c.want.at("name").text()))
          CONVERGE_TRY(c.s.erase("dns_record", k));
      return c.s.erase(c.t, c.key);
    }
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "dns_record") {
    if (c.del) return c.s.erase(c.t, c.key);
    std::string zone = canonical_dns_name(c.want.at("zone").text());
    auto z = c.exists("dns_zone", zone);
    if (!z.ok()) return z.error();
    if (!*z)
      return Error::NotFound(
          "zone '" + c.want.at("zone").text() + "' does not exist on the DNS server",
          "declare a dns_zone");
    std::string name = c.want.at("name").text();
    if (!(name == zone || name.ends_with("." + zone)))
      return Error::Invalid("'" + name + "' is outside zone '" + zone + "' (NOTZONE)", "");
    auto zones = c.s.all("dns_zone");
    auto recs = c.s.all("dns_record");
    if (!zones.ok()) return zones.error();
    if (!recs.ok()) return recs.error();
    std::string type = lower(c.want.at("type").text());
    for (auto& [k, a] : *recs) {
      if (k == c.key || get(a, "name").text() != name) continue;
      bool other_cname = iequals(get(a, "type").text(), "cname");
      if (type == "cname" || other_cname)
        return Error::Conflict("a CNAME cannot coexist with other records at " + name,
                               "remove one of them");
    }
    for (const auto& target : get(c.want, "targets").strings()) {
      // The server refuses an MX/SRV/CNAME target inside a zone it serves without an address.
      bool in_zone = false;
      for (auto& [zk, za] : *zones) {
        std::string zn = canonical_dns_name(get(za, "name").text());
        if (target == zn || target.ends_with("." + zn)) in_zone = true;
      }
      if (!in_zone) continue;
      bool has_addr = false;
      for (auto& [k, a] : *recs)
        if (get(a, "name").text() == target &&
            (iequals(get(a, "type").text(), "a") || iequals(get(a, "type").text(), "aaaa")))
          has_addr = true;
      if (!has_addr)
        return Error::Conflict("refused: " + c.want.at("type").text() + " target " + target +
                                   " is inside a zone this server serves but has no A/AAAA record",
                               "declare the target's A record");
    }
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "registry_value") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto r = c.need_server(c.want.at("host").text(), "");
    if (!r.ok()) return r.error();
    std::string type = c.want.at("type").text();
    if ((type == "REG_DWORD" || type == "REG_QWORD") && !c.want.at("data").is_int())
      return Error::Invalid(type + " data must be an integer", "write data = 250");
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "local_group_member") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto r = c.need_server(c.want.at("host").text(), "");
    if (!r.ok()) return r.error();
    if (get(*r, "dc").as_bool())
      return Error::Conflict(
          c.want.at("host").text() + " is a domain controller: it has no local groups",
          "use group_member on the domain's BUILTIN\\Administrators (group = \"Administrators\")");
    CONVERGE_TRY(c.need_principal(c.want.at("member").text()));
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "sql_role_member") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto r = c.need_server(c.want.at("server").text(), "SQLServer");
    if (!r.ok()) return r.error();
    auto db = c.exists("sql_database",
                       lower(c.want.at("server").text() + "|" + c.want.at("database").text()));
    if (!db.ok()) return db.error();
    if (!*db)
      return Error::NotFound("database '" + c.want.at("database").text() + "' does not exist on " +
                                 c.want.at("server").text(),
                             "");
    CONVERGE_TRY(c.need_principal(c.want.at("member").text()));
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }
  return std::nullopt;
}

}  // namespace converge::lab
