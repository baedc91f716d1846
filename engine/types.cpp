// The declarations of every resource type (see engine/api/schema.h). Adding an attribute here is
// all it takes for validation, diffing, the JSON Schema and the docs to know it.
#include <algorithm>

#include "engine/api/schema.h"
#include "engine/values.h"

namespace converge {
namespace {

// A small builder that keeps each declaration on one line.
struct A {
  AttrSpec a;
  A(std::string n, AttrType t, std::string doc) {
    a.name = std::move(n);
    a.type = t;
    a.doc = std::move(doc);
  }
  A& required() {
    a.required = true;
    return *this;
  }
  A& id() {
    a.identity = true;
    return *this;
  }
  A& def(Value v) {
    a.def = std::move(v);
    return *this;
  }
  A& cmp(Compare c) {
    a.compare = c;
    return *this;
  }
  A& oneof(std::vector<std::string> v) {
    a.allowed = std::move(v);
    a.compare = Compare::kCaseInsensitive;
    return *this;
  }
  A& ref(std::vector<std::string> types, std::string match, std::string what) {
    a.refs.push_back({std::move(types), std::move(match), std::move(what)});
    return *this;
  }
  A& computed() {
    a.computed = true;
    return *this;
  }
  A& write_only() {
    a.write_only = true;
    return *this;
  }
  A& restart() {
    a.restart = true;
    return *this;
  }
  operator AttrSpec() const { return a; }  // NOLINT(google-explicit-constructor)
};

A Str(std::string n, std::string doc) { return A(std::move(n), AttrType::kString, std::move(doc)); }
A Int(std::string n, std::string doc) { return A(std::move(n), AttrType::kInt, std::move(doc)); }
A Bool(std::string n, std::string doc) { return A(std::move(n), AttrType::kBool, std::move(doc)); }
A List(std::string n, std::string doc) {
  return A(std::move(n), AttrType::kList, std::move(doc)).cmp(Compare::kSetCaseInsensitive);
}
A Secret(std::string n, std::string doc) {
  return A(std::move(n), AttrType::kSecret, std::move(doc)).write_only();
}

const std::vector<std::string> kContainers = {"ou", "container", "ldap_object"};
const std::vector<std::string> kDirectoryObjects = {"ou", "container", "ldap_object", "account",
                                                    "group"};
const std::vector<std::string> kPrincipals = {"account", "group"};

// The parent container. For OUs and containers it is part of the identity (their DN); accounts
// and groups are identified by sAMAccountName, so for them a new path is a move.
A Path(std::string doc, bool identity = true) {
  A a = Str("path", std::move(doc))
            .required()
            .cmp(Compare::kDn)
            .ref(kContainers, "dn", "object lives in this container");
  if (identity) a.id();
  return a;
}
A Dn() {
  return Str("dn", "Distinguished name (derived from name and path).").computed().cmp(Compare::kDn);
}
A Principal(std::string n, std::string doc) {
  return Str(std::move(n), std::move(doc))
      .required()
      .id()
      .cmp(Compare::kCaseInsensitive)
      .ref(kPrincipals, "name", "principal must exist first");
}
A Host(std::string doc) {
  return Str("host", std::move(doc)).required().id().cmp(Compare::kCaseInsensitive);
}

std::vector<TypeSpec> build() {
  std::vector<TypeSpec> t;
  auto add = [&](std::string name, std::string guide, std::string doc,
                 std::vector<AttrSpec> attrs) -> TypeSpec& {
    TypeSpec ts;
    ts.name = std::move(name);
    ts.guide = std::move(guide);
    ts.doc = std::move(doc);
    ts.attrs = std::move(attrs);
    t.push_back(std::move(ts));
    return t.back();
  };

  add("ou", "5, 7", "An organizational unit.",
      {Str("name", "OU name (the OU= part).").required().id().cmp(Compare::kCaseInsensitive),
       Path("DN of the parent container or domain."), Str("description", "Description."), Dn()})
      .holds_data = true;
  add("container", "11", "A directory container (CN=...), e.g. the service connection point chain.",
      {Str("name", "Container name (the CN= part).").required().id().cmp(Compare::kCaseInsensitive),
       Path("DN of the parent."), Str("description", "Description."), Dn()})
      .holds_data = true;
  add("account", "2, 3, 9, 10", "A user account (sAMAccountName).",
      {Str("name", "sAMAccountName, unique in the domain.")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive),
       Path("DN of the OU or container that holds the account.", false),
       Str("cn", "Common name; defaults to the name."), Str("display_name", "displayName."),
       Str("upn", "userPrincipalName, e.g. QMM_Trg_Ex@target.local.")
           .cmp(Compare::kCaseInsensitive),
       Str("description", "Description."),
       Secret("password",
              "Initial password, { env = \"VAR\" } or { file = \"path\" }; set on create only."),
       Bool("enabled", "Account enabled.").def(Value::Bool(true)),
       Bool("password_never_expires", "Service accounts usually set this.").def(Value::Bool(false)),
       Dn()})
      .holds_data = true;
  add("group", "2, 8, 9", "A security or distribution group.",
      {Str("name", "sAMAccountName of the group.").required().id().cmp(Compare::kCaseInsensitive),
       Path("DN of the OU or container that holds the group.", false),
       Str("scope", "Group scope.")
           .oneof({"global", "domain_local", "universal"})
           .def(Value::Str("global")),
       Str("category", "Group category.")
           .oneof({"security", "distribution"})
           .def(Value::Str("security")),
       Str("description", "Description."), Dn()})
      .holds_data = true;
  add("group_member", "2, 4", "One member of a group; other members are left alone.",
      {Str("group", "Group name (sAMAccountName).")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive)
           .ref({"group"}, "name", "group must exist before its members"),
       Principal("member", "Member name (account or group sAMAccountName).")});
  add("ace", "3, 5, 6, 7, 8, 9, 11",
      "One access control entry on a directory object. A matching ACE with other rights is "
      "replaced, "
      "never merged into; absent removes exactly the matching ACE.",
      {Str("object", "DN of the object whose DACL holds the ACE.")
           .required()
           .id()
           .cmp(Compare::kDn)
           .ref(kDirectoryObjects, "dn", "ACE needs its object"),
       Principal("principal", "Trustee: account or group name, or a SID."),
       Str("access", "Allow or deny.").oneof({"allow", "deny"}).def(Value::Str("allow")).id(),
       List("rights",
            "Rights: GenericAll (Full Control), GenericRead (Read), ReadProperty, WriteProperty, "
            "CreateChild, DeleteChild, ExtendedRight, ... or a 0x mask.")
           .required()
           .cmp(Compare::kRights),
       Str("object_type",
           "Extended right, property or class the ACE is limited to, by name (Send-As, "
           "serviceConnectionPoint) or GUID.")
           .id()
           .cmp(Compare::kCaseInsensitive),
       Str("inherited_object_type", "Class of descendants the ACE applies to, by name or GUID.")
           .id()
           .cmp(Compare::kCaseInsensitive),
       Str("applies_to", "The guide's 'Apply onto'.")
           .oneof({"this_object", "this_and_descendants", "descendants_only", "children_only"})
           .def(Value::Str("this_object"))
           .id()});
  add("ldap_object", "11", "Any directory object of a given class.",
      {Str("name", "Object name (the CN= part).").required().id().cmp(Compare::kCaseInsensitive),
       Path("DN of the parent."),
       Str("class", "objectClass, e.g. serviceConnectionPoint.")
           .required()
           .cmp(Compare::kCaseInsensitive),
       Str("description", "Description."), Dn()})
      .holds_data = true;
  add("ldap_attribute", "18",
      "One attribute of an existing directory object: a literal value, or the value of "
      "another attribute of the same object (copy_from).",
      {Str("object", "DN of the object.")
           .required()
           .id()
           .cmp(Compare::kDn)
           .ref(kDirectoryObjects, "dn", "attribute needs its object"),
       Str("attribute", "LDAP attribute name, e.g. displayName.")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive),
       List("value", "Value(s); a string is one value.").cmp(Compare::kSet),
       Str("copy_from",
           "Copy the value of this attribute of the same object, e.g. "
           "adminDisplayName.")
           .cmp(Compare::kCaseInsensitive)})
      .copy = CopyRule{"copy_from", "value", "source_value"};
  add("exchange_role", "8, 9",
      "An Exchange 2007 administrator role: membership of the role's universal security group in "
      "OU=Microsoft Exchange Security Groups.",
      {Str("role", "Role.")
           .required()
           .id()
           .oneof({"organization_administrator", "recipient_administrator",
                   "public_folder_administrator", "view_only_administrator",
                   "server_administrator"}),
       Principal("member", "Account or group granted the role."),
       Str("server", "Server, for server_administrator.").id().cmp(Compare::kCaseInsensitive)});
  add("mailbox", "15, 16", "A mailbox for an existing account.",
      {Principal("account", "Account (sAMAccountName) that owns the mailbox."),
       Str("database", "Mailbox database name.")
           .required()
           .cmp(Compare::kCaseInsensitive)
           .ref({"mailbox_database"}, "name", "mailbox needs its database"),
       Str("alias", "Alias (mailNickname)."), Str("display_name", "Display name.")})
      .holds_data = true;
  add("mailbox_database", "13, 15, 18", "A mailbox database (store).",
      {Str("name", "Database name.").required().id().cmp(Compare::kCaseInsensitive),
       Str("server", "Server that hosts it.").required().cmp(Compare::kCaseInsensitive),
       Str("storage_group", "Storage group.")
           .cmp(Compare::kCaseInsensitive)
           .ref({"storage_group"}, "name", "database needs its storage group"),
       Str("default_public_folder_database",
           "Default public folder database, e.g. EXCH2\\SG2\\PF1.")
           .cmp(Compare::kCaseInsensitive),
       Bool("mounted", "Mounted.").def(Value::Bool(true))})
      .holds_data = true;
  add("storage_group", "13", "An Exchange 2007 storage group.",
      {Str("name", "Storage group name.").required().id().cmp(Compare::kCaseInsensitive),
       Str("server", "Server that hosts it.").required().cmp(Compare::kCaseInsensitive),
       Bool("circular_logging",
            "Circular logging; keep it off where incremental or differential "
            "backups run.")})
      .holds_data = true;
  add("public_folder", "14", "A public folder and the databases that hold its replicas.",
      {Str("path", "Folder path, e.g. \\Aelita EMW Recycle Bin.")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive),
       List("replicas", "Public folder databases holding replicas (server\\sg\\db).").required()})
      .holds_data = true;
  {
    auto& sc =
        add("send_connector", "20", "An SMTP send connector.",
            {Str("name", "Connector name.").required().id().cmp(Compare::kCaseInsensitive),
             Str("usage", "Intended use.")
                 .oneof({"Custom", "Internal", "Internet", "Partner"})
                 .def(Value::Str("Custom")),
             List("address_spaces", "Address spaces, e.g. SMTP:*.source.local;1.").required(),
             Bool("dns_routing", "Route by DNS MX records.").def(Value::Bool(true)),
             Bool("use_external_dns", "Use the transport server's external DNS lookup settings.")
                 .def(Value::Bool(false)),
             Bool("scoped", "IsScopedConnector.").def(Value::Bool(false)),
             List("source_transport_servers", "Hub Transport servers.").required()});
    sc.after_all = {"accepted_domain"};
  }
  add("receive_connector", "21",
      "A receive connector's permission groups: the declared groups must be included; the union is "
      "written (Set-ReceiveConnector replaces the whole set).",
      {Str("name", "Connector name, e.g. Default EXCH1.")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive),
       Host("Server that hosts it.").a,
       List("permission_groups", "Groups that must be included, e.g. AnonymousUsers.")
           .required()
           .cmp(Compare::kSubset)});
  add("accepted_domain", "22", "An accepted domain.",
      {Str("name", "Name, e.g. target.local.").required().id().cmp(Compare::kCaseInsensitive),
       Str("domain", "SMTP namespace, e.g. *.target.local.")
           .required()
           .cmp(Compare::kCaseInsensitive),
       Str("domain_type", "Type.")
           .oneof({"Authoritative", "InternalRelay", "ExternalRelay"})
           .def(Value::Str("Authoritative"))});
  {
    auto& es =
        add("edge_subscription", "23",
            "An Edge subscription (alternative to send/receive connectors and accepted domains).",
            {Str("edge_server", "Edge Transport server.")
                 .required()
                 .id()
                 .cmp(Compare::kCaseInsensitive),
             Str("site", "Active Directory site of the Hub Transport server.")
                 .required()
                 .cmp(Compare::kCaseInsensitive),
             Str("file", "Edge subscription file exported on the Edge server."),
             Bool("create_internet_send_connector", "").def(Value::Bool(true)),
             Bool("create_inbound_send_connector", "").def(Value::Bool(true)),
             Bool("synchronized", "EdgeSync has run (Start-EdgeSynchronization).")
                 .def(Value::Bool(true))});
    es.after_all = {"accepted_domain"};
  }
  add("dns_zone", "24",
      "A DNS zone. On an RFC 2136 server zones cannot be created: there it is a check.",
      {Str("name", "Zone name, e.g. local.").required().id().cmp(Compare::kDnsName),
       Str("kind", "Zone kind.").oneof({"primary"}).def(Value::Str("primary"))})
      .holds_data = true;
  add("dns_record", "24", "A DNS RRset: every value of one name and type in a zone.",
      {Str("zone", "Zone.")
           .required()
           .id()
           .cmp(Compare::kDnsName)
           .ref({"dns_zone"}, "name", "record needs its zone"),
       Str("name",
           "Owner name, relative to the zone (@ for the apex) or absolute with a trailing dot.")
           .required()
           .id()
           .cmp(Compare::kDnsName),
       Str("type", "RR type.")
           .required()
           .id()
           .oneof({"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS"}),
       Int("ttl", "TTL in seconds.").def(Value::Int(3600)),
       List("values", "Values in presentation form; MX: '10 exch1.target.local.'.")
           .required()
           .cmp(Compare::kDnsValues),
       Str("address_of", "For A/AAAA: the name it gives an address to (derived).")
           .computed()
           .cmp(Compare::kDnsName),
       List("targets", "Names an MX/CNAME/SRV/NS points at (derived).")
           .computed()
           .cmp(Compare::kDnsName)
           .ref({"dns_record"}, "address_of", "an in-zone target needs its address record first")});
  add("registry_value", "19", "A registry value on a host.",
      {Host("Host."),
       Str("key", "Key, e.g. HKLM\\System\\CurrentControlSet\\Services\\NTDS\\Parameters.")
           .required()
           .id()
           .cmp(Compare::kCaseInsensitive),
       Str("value_name", "Value name.").required().id().cmp(Compare::kCaseInsensitive),
       Str("type", "Value type.")
           .oneof({"REG_DWORD", "REG_QWORD", "REG_SZ", "REG_EXPAND_SZ", "REG_MULTI_SZ"})
           .def(Value::Str("REG_DWORD")),
       A("data", AttrType::kScalar, "Data (integer for REG_DWORD/REG_QWORD).").required().restart(),
       Bool("restart_required", "Whether a change needs the host (or service) restarted.")
           .def(Value::Bool(true))})
      .restart_switch = "restart_required";
  add("local_group_member", "4, 10", "Membership of a host's local group (e.g. Administrators).",
      {Host("Host."),
       Str("group", "Local group.")
           .def(Value::Str("Administrators"))
           .id()
           .cmp(Compare::kCaseInsensitive),
       Principal("member", "Domain account or group name.")});
  add("sql_role_member", "12", "Membership of a SQL Server database role.",
      {Str("server", "SQL Server host.").required().id().cmp(Compare::kCaseInsensitive),
       Str("database", "Database.").required().id().cmp(Compare::kCaseInsensitive),
       Str("role", "Database role.")
           .def(Value::Str("db_owner"))
           .id()
           .cmp(Compare::kCaseInsensitive),
       Principal("member", "Windows login (account name).")});

  // Check-only types: observed and judged; a failing check blocks the resource and its dependents.
  auto check = [&](std::string name, std::string guide, std::string doc,
                   std::vector<AttrSpec> attrs) {
    add(std::move(name), std::move(guide), std::move(doc), std::move(attrs)).check_only = true;
  };
  check("host_requirement", "1", "Check: a host meets the agents' system requirements.",
        {Host("Host."),
         Str("min_os_version", "Minimum OS version (5.2 = 2003, 6.0 = 2008, 6.1 = 2008 R2).")
             .cmp(Compare::kVersionAtLeast),
         List("roles", "Roles the host must have (Mailbox, HubTransport, GlobalCatalog, ...).")
             .cmp(Compare::kSubset),
         Str("architecture", "Processor architecture.").oneof({"x64", "x86"}),
         Int("min_memory_mb", "Minimum memory in MiB.").cmp(Compare::kAtLeast)});
  check("software", "17",
        "Check: software installed at a minimum version (restart after installing).",
        {Host("Host."),
         Str("product", "Product, e.g. MAPI CDO.").required().id().cmp(Compare::kCaseInsensitive),
         Str("min_version", "Minimum version, e.g. 6.5.8353.0.")
             .required()
             .cmp(Compare::kVersionAtLeast)
             .restart()});
  check("backup", "13", "Check: the last backup of a target is recent enough.",
        {Str("target", "What is backed up: exchange:SERVER or ad:DOMAIN.")
             .required()
             .id()
             .cmp(Compare::kCaseInsensitive),
         Int("max_age_hours", "Last successful backup at most this old.")
             .required()
             .cmp(Compare::kAtMost)});
  check(
      "migration_path", "26",
      "Check: the guide's restriction. Exchange 2003 to 2007 with MSA/CSA on the source server "
      "needs "
      "a public folder store on the target.",
      {Str("name", "Migration name.").required().id(),
       Str("source_version", "Source Exchange version.").required().oneof({"2003", "2007", "2010"}),
       Str("target_version", "Target Exchange version.").oneof({"2007"}).def(Value::Str("2007")),
       List("source_agents", "Agents used on the source server (MSA, CSA, ...).")
           .def(Value::List({})),
       Bool("target_public_folder_store", "Derived: the target needs a public folder store.")
           .computed()});
  check("smtp_probe", "25",
        "Check: a message sent from one address is accepted by the recipient domain's mail "
        "server (found through its MX) and, with expect = \"delivered\", found in the "
        "recipient's mailbox over IMAP, then deleted.",
        {Str("from", "Sender address.").required().id().cmp(Compare::kCaseInsensitive),
         Str("to", "Recipient address.").required().id().cmp(Compare::kCaseInsensitive),
         Str("expect", "What must happen to the message: accepted by the server, or delivered.")
             .oneof({"accepted", "delivered"})
             .def(Value::Str("delivered")),
         Str("server", "host:port to send to instead of the recipient domain's MX hosts."),
         Str("imap_server", "host:port of the recipient's IMAP server (expect = \"delivered\")."),
         Str("imap_user", "IMAP login of the recipient's mailbox (default: the address)."),
         Secret("imap_password", "IMAP password of the recipient's mailbox."),
         Int("wait", "Seconds to wait for the message to arrive in the mailbox.")
             .def(Value::Int(30))});
  return t;
}

}  // namespace

const std::vector<TypeSpec>& all_types() {
  static const std::vector<TypeSpec> types = build();
  return types;
}

const TypeSpec* find_type(const std::string& name) {
  for (const auto& t : all_types())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace converge
