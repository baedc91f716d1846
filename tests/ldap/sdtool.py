#!/usr/bin/python3
"""Out-of-band directory edits for tests/ldap/run.sh, made with Samba's own Python bindings over
LDAP to 127.0.0.1 (NTLM, Kerberos off): what "another administrator" does, independent of
converge.

  sdtool.py SMB_CONF PASSWORD_FILE sddl DN            print the DACL as SDDL
  sdtool.py SMB_CONF PASSWORD_FILE delete-ace DN ACE  remove an explicit ACE, e.g. "(A;CI;RP;;;S-1-...)"
  sdtool.py SMB_CONF PASSWORD_FILE add-ace DN ACE     add an explicit ACE
  sdtool.py SMB_CONF PASSWORD_FILE sid NAME           objectSid of a sAMAccountName
  sdtool.py SMB_CONF - bulk-group OU_NAME PREFIX N    test data, fast: OU=OU_NAME with N disabled
                                                      users PREFIX00000... and group PREFIX-group
                                                      holding all of them, in one transaction on
                                                      the local sam.ldb (no network; an LDAP add
                                                      costs a disk sync each on this Samba)
"""
import sys

from samba.credentials import DONT_USE_KERBEROS, Credentials
from samba.dcerpc import security
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
import ldb
from samba.auth import system_session
from samba.sd_utils import SDUtils


def same_ace(a, b):
    """ACE equality ignoring the size field (an ACE parsed from SDDL has size 0)."""
    if (a.type, a.flags, a.access_mask, str(a.trustee)) != (b.type, b.flags, b.access_mask, str(b.trustee)):
        return False
    if a.type in (security.SEC_ACE_TYPE_ACCESS_ALLOWED_OBJECT, security.SEC_ACE_TYPE_ACCESS_DENIED_OBJECT):
        if a.object.flags != b.object.flags:
            return False
        if a.object.flags & security.SEC_ACE_OBJECT_TYPE_PRESENT and \
                str(a.object.type) != str(b.object.type):
            return False
        if a.object.flags & security.SEC_ACE_INHERITED_OBJECT_TYPE_PRESENT and \
                str(a.object.inherited_type) != str(b.object.inherited_type):
            return False
    return True


def bulk_group(lp, ou_name, prefix, n):
    db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    ou = "OU=%s,%s" % (ou_name, db.domain_dn())
    group = "CN=%s-group,%s" % (prefix, ou)
    users = ["CN=%s%05d,%s" % (prefix, i, ou) for i in range(n)]
    db.add({"dn": ou, "objectClass": "organizationalUnit"})
    db.add({"dn": group, "objectClass": "group", "sAMAccountName": "%s-group" % prefix})
    # Transactions of 500 objects: one disk sync each, while a single huge transaction slows
    # down quadratically.
    for start in range(0, n, 500):
        db.transaction_start()
        try:
            for i in range(start, min(n, start + 500)):
                db.add({"dn": users[i], "objectClass": "user", "sAMAccountName": "%s%05d" % (prefix, i)})
            m = ldb.Message()
            m.dn = ldb.Dn(db, group)
            m["member"] = ldb.MessageElement(users[start:start + 500], ldb.FLAG_MOD_ADD, "member")
            db.modify(m)
        except Exception:
            db.transaction_cancel()
            raise
        db.transaction_commit()
    return 0


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    conf, pwfile, cmd, target = argv[1:5]
    lp = LoadParm()
    lp.load(conf)
    if cmd == "bulk-group":
        return bulk_group(lp, target, argv[5], int(argv[6]))
    creds = Credentials()
    creds.guess(lp)
    creds.set_username("Administrator")
    with open(pwfile) as f:
        creds.set_password(f.read().strip())
    creds.set_kerberos_state(DONT_USE_KERBEROS)
    db = SamDB(url="ldap://127.0.0.1", credentials=creds, lp=lp)
    sdu = SDUtils(db)
    if cmd == "sddl":
        print(sdu.get_sd_as_sddl(target, controls=["sd_flags:1:%d" % security.SECINFO_DACL]))
    elif cmd == "delete-ace":
        controls = ["sd_flags:1:%d" % security.SECINFO_DACL]
        sd = sdu.read_sd_on_dn(target, controls=controls)
        want = security.descriptor.from_sddl("D:" + argv[5], sdu.domain_sid).dacl.aces[0]
        found = [a for a in sd.dacl.aces
                 if not a.flags & security.SEC_ACE_FLAG_INHERITED_ACE and same_ace(a, want)]
        if not found:
            print("not found: %s" % argv[5], file=sys.stderr)
            return 1
        # Rebuilt by position: dacl_del_ace() matches ACEs too loosely (it ignores object types).
        keep = [a for a in sd.dacl.aces
                if a.flags & security.SEC_ACE_FLAG_INHERITED_ACE or not same_ace(a, want)]
        sd.dacl.aces = keep
        sd.dacl.num_aces = len(keep)
        sdu.modify_sd_on_dn(target, sd, controls=controls)
    elif cmd == "add-ace":
        sdu.dacl_add_ace(target, argv[5])
    elif cmd == "sid":
        res = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % target, attrs=["objectSid"])
        if len(res) != 1:
            return 1
        print(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
