#!/usr/bin/env python3
"""Inputs of tools/bench/ldap_bench.sh: manifests for converge and the equivalent LDIF for
ldapadd/ldapmodify.

  gen.py OUT_DIR N ACES BASE_DN PASSWORD

Writes to OUT_DIR:
  create.toml   OU=Bench, group bench-group, N accounts (password from $BENCH_PASSWORD), each a
                member of bench-group (N group_member resources)
  full.toml     create.toml plus ACES/10 OUs under OU=Bench with 10 ACEs each (ACES ace resources)
  raw-add.ldif  the same kind of objects under OU=BenchRaw (raw-group, N users with unicodePwd):
                what converge sends for create.toml, as ldapadd input
  raw-mod.ldif  N modify operations, each adding one member to raw-group (one per membership,
                as converge's group_member does)
"""
import base64
import os
import sys


def main(out, n, aces, base, password):
    os.makedirs(out, exist_ok=True)
    bench = "OU=Bench," + base
    users = ["bench%05d" % i for i in range(n)]
    provider = """[provider.ad]
type = "ldap"
url = { env = "CONVERGE_LDAP_URL" }
base_dn = "%s"
bind_dn = { env = "CONVERGE_LDAP_BIND_DN" }
password = { env = "CONVERGE_LDAP_PASSWORD" }
ca_file = { env = "CONVERGE_LDAP_CA_FILE" }

""" % base
    create = [provider, '[ou.bench]\nname = "Bench"\npath = "%s"\n\n' % base,
              '[group.bench]\nname = "bench-group"\npath = "%s"\n\n' % bench]
    for u in users:
        create.append('[account.%s]\nname = "%s"\npath = "%s"\npassword = { env = "BENCH_PASSWORD" }\n\n'
                      % (u, u, bench))
    for u in users:
        create.append('[group_member.%s]\ngroup = "bench-group"\nmember = "%s"\n\n' % (u, u))
    with open(os.path.join(out, "create.toml"), "w") as f:
        f.write("".join(create))

    full = list(create)
    ous = max(1, aces // 10)
    rights = ["GenericRead", "ReadProperty", "WriteProperty", "CreateChild", "ListChildren"]
    k = 0
    for o in range(ous):
        full.append('[ou.acl%03d]\nname = "acl-%03d"\npath = "%s"\n\n' % (o, o, bench))
    for o in range(ous):
        for j in range(10):
            if k >= aces:
                break
            full.append('[ace.a%04d]\nobject = "OU=acl-%03d,%s"\nprincipal = "%s"\nrights = ["%s"]\n'
                        'applies_to = "this_and_descendants"\n\n'
                        % (k, o, bench, users[k % n], rights[k % len(rights)]))
            k += 1
    with open(os.path.join(out, "full.toml"), "w") as f:
        f.write("".join(full))

    raw = "OU=BenchRaw," + base
    pwd = base64.b64encode(('"%s"' % password).encode("utf-16-le")).decode()
    with open(os.path.join(out, "raw-add.ldif"), "w") as f:
        f.write("dn: %s\nobjectClass: organizationalUnit\n\n" % raw)
        f.write("dn: CN=raw-group,%s\nobjectClass: group\nsAMAccountName: raw-group\n"
                "groupType: -2147483646\n\n" % raw)
        for i in range(n):
            u = "raw%05d" % i
            f.write("dn: CN=%s,%s\nobjectClass: user\nsAMAccountName: %s\nuserAccountControl: 512\n"
                    "unicodePwd:: %s\n\n" % (u, raw, u, pwd))
    with open(os.path.join(out, "raw-mod.ldif"), "w") as f:
        for i in range(n):
            f.write("dn: CN=raw-group,%s\nchangetype: modify\nadd: member\nmember: CN=raw%05d,%s\n-\n\n"
                    % (raw, i, raw))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
