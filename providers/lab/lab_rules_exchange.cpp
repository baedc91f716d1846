// The lab's Exchange rules: mailboxes need an account and a mounted database, databases live on
// Mailbox servers and are emptied before removal, public folder replicas need mounted stores,
// connectors and subscriptions need servers of the right role.
#include "engine/api/names.h"
#include "providers/lab/lab_rules.h"

namespace converge::lab {

std::optional<Status> exchange_rules(const Change& c) {
  if (c.t == "mailbox") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto acc = c.exists("account", lower(c.want.at("account").text()));
    if (!acc.ok()) return acc.error();
    if (!*acc)
      return Error::NotFound("account '" + c.want.at("account").text() + "' does not exist",
                             "declare the account first");
    auto db = c.row("mailbox_database", lower(c.want.at("database").text()));
    if (!db.ok()) return db.error();
    if (!*db)
      return Error::NotFound(
          "mailbox database '" + c.want.at("database").text() + "' does not exist", "");
    if (!get(**db, "mounted").as_bool())
      return Error::Conflict(
          "mailbox database '" + c.want.at("database").text() + "' is dismounted",
          "mount it first (Mount-Database)");
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "mailbox_database" || c.t == "storage_group") {
    if (c.del) {
      if (c.t == "mailbox_database") {
        auto mbx = c.s.all("mailbox");
        if (!mbx.ok()) return mbx.error();
        for (auto& [k, a] : *mbx)
          if (iequals(get(a, "database").text(), c.want.at("name").text()))
            return Error::Conflict(
                "database '" + c.want.at("name").text() + "' still holds mailboxes",
                "move or remove them first");
      }
      CONVERGE_TRY(c.s.erase(c.t, c.key));
      if (c.cur && !get(*c.cur, "dn").is_null())
        CONVERGE_TRY(c.s.erase_dn(canonical_dn(get(*c.cur, "dn").text())));
      return Status{};
    }
    auto srv = c.need_server(c.want.at("server").text(), "Mailbox");
    if (!srv.ok()) return srv.error();
    if (auto sg = get(c.want, "storage_group"); c.t == "mailbox_database" && !sg.is_null()) {
      auto e = c.exists("storage_group", lower(sg.text()));
      if (!e.ok()) return e.error();
      if (!*e) return Error::NotFound("storage group '" + sg.text() + "' does not exist", "");
    }
    if (auto pf = get(c.want, "default_public_folder_database"); !pf.is_null()) {
      auto e = c.exists("public_folder_database", lower(pf.text()));
      if (!e.ok()) return e.error();
      if (!*e)
        return Error::NotFound("public folder database '" + pf.text() + "' does not exist", "");
    }
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "public_folder") {
    if (c.del) return c.s.erase(c.t, c.key);
    for (const auto& rep : c.want.at("replicas").strings()) {
      auto db = c.row("public_folder_database", lower(rep));
      if (!db.ok()) return db.error();
      if (!*db)
        return Error::NotFound("public folder database '" + rep + "' does not exist",
                               "list databases as SERVER\\SG\\DB");
      if (!get(**db, "mounted").as_bool())
        return Error::Conflict("public folder database '" + rep + "' is dismounted", "");
    }
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "send_connector") {
    if (c.del) return c.s.erase(c.t, c.key);
    for (const auto& srv : c.want.at("source_transport_servers").strings()) {
      auto r = c.need_server(srv, "HubTransport");
      if (!r.ok()) return r.error();
    }
    for (const auto& as : c.want.at("address_spaces").strings())
      if (as.find(':') == std::string::npos)
        return Error::Invalid("address space '" + as + "' is not TYPE:DOMAIN;COST",
                              "write SMTP:*.source.local;1");
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "receive_connector") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto r = c.need_server(c.want.at("host").text(), "HubTransport");
    if (!r.ok()) return r.error();
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "accepted_domain") {
    if (c.del) return c.s.erase(c.t, c.key);
    std::string d = c.want.at("domain").text();
    if (d.empty() || d.find(' ') != std::string::npos || d.find('@') != std::string::npos)
      return Error::Invalid("'" + d + "' is not an SMTP namespace",
                            "write target.local or *.target.local");
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }

  if (c.t == "edge_subscription") {
    if (c.del) return c.s.erase(c.t, c.key);
    auto r = c.need_server(c.want.at("edge_server").text(), "EdgeTransport");
    if (!r.ok()) return r.error();
    return c.s.put(c.t, c.key, c.stored(c.cur));
  }
  return std::nullopt;
}

}  // namespace converge::lab
