#!/usr/bin/env bash
# End-to-end test of the ldap provider: the real converge binary against the throw-away Samba AD
# DC that the CTest fixture started (tests/ldap/samba_fixture.sh).
#
#   tests/ldap/run.sh CONVERGE SOURCE_DIR SAMBA_DIR
#
# 1. manifests/exchange2007-target-ldap.toml converges on the fresh domain; a second plan is empty.
# 2. Every effect is checked without converge: ldapsearch, ldapwhoami and samba-tool dsacl get.
# 3. Out-of-band changes (an ACE removed, an extra right merged into an ACE, a member removed, a
#    displayName changed) show up in the next plan as exactly those resources, with the right
#    before/after, and a saved plan applied with `converge apply` repairs them.
# 4. ensure = "absent" removes exactly one ACE.
# 5. Bad input — unknown principal, bad DN, unknown right, unknown object type, wrong password,
#    unreachable server, certificate mismatch — fails with a clear error naming the resource, a
#    non-zero exit, and nothing written.
# 6. Neither password appears in any output, plan or state file.
# Every converge call gets --lab in a temp directory, so nothing is written into the repository.
# Only 127.0.0.1 is contacted; ldap-utils never chase referrals (LDAPREFERRALS=off from the env).
set -uo pipefail

if (($# != 3)); then
  echo "usage: $0 CONVERGE SOURCE_DIR SAMBA_DIR" >&2
  exit 2
fi
CONVERGE=$(readlink -f "$1")
SRC=$(readlink -f "$2")
SAMBA_DIR=$3
ENV_FILE=$SAMBA_DIR/env
[[ -f $ENV_FILE ]] || {
  echo "no Samba test environment ($ENV_FILE); run through ctest (fixture samba)" >&2
  exit 1
}
# shellcheck disable=SC1090
source "$ENV_FILE"
TMP=$(mktemp -d /tmp/converge-ldap-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

BASE=$CONVERGE_TEST_LDAP_BASE
ADMIN_PW=$(<"$CONVERGE_TEST_LDAP_PASSWORD_FILE")
export CONVERGE_LDAP_URL=$CONVERGE_TEST_LDAP_URL
export CONVERGE_LDAP_BIND_DN=$CONVERGE_TEST_LDAP_BIND_DN
export CONVERGE_LDAP_PASSWORD=$ADMIN_PW
export CONVERGE_LDAP_CA_FILE=$CONVERGE_TEST_LDAP_CA
export QMM_SERVICE_PASSWORD="Qmm-$(openssl rand -hex 8)-Svc!"
MANIFEST=$SRC/manifests/exchange2007-target-ldap.toml
AG="CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Target Org,CN=Microsoft Exchange,CN=Services,CN=Configuration,$BASE"
SA="OU=Service Accounts,$BASE"
SEND_AS=ab721a54-1e2f-11d0-9819-00aa0040529b
RECEIVE_AS=ab721a56-1e2f-11d0-9819-00aa0040529b
SCP=28630ec1-41d5-11d1-a9c1-0000f80367c1

passed=0
failed=0
ok() {
  echo "ok   - $1"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL - $1"
  failed=$((failed + 1))
}
check() { # description command...
  local d=$1
  shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}

# converge with its output kept in $OUT (and appended to all-output for the password check).
n=0
cv() {
  n=$((n + 1))
  OUT=$TMP/out.$n
  "$CONVERGE" --no-color --lab "$TMP/lab.sqlite" "$@" >"$OUT" 2>&1
  RC=$?
  {
    echo "== converge $* (rc $RC)"
    cat "$OUT"
  } >>"$TMP/all-output"
  return 0
}
says() { grep -qF -- "$1" "$OUT"; }

LDAPQ=(ldapsearch -LLL -o ldif-wrap=no -o nettimeout=5 -H "$CONVERGE_TEST_LDAP_URL" -x
  -D "$CONVERGE_TEST_LDAP_BIND_DN" -y "$CONVERGE_TEST_LDAP_PASSWORD_FILE")
LDAPMOD=(ldapmodify -o nettimeout=5 -H "$CONVERGE_TEST_LDAP_URL" -x -D "$CONVERGE_TEST_LDAP_BIND_DN"
  -y "$CONVERGE_TEST_LDAP_PASSWORD_FILE")
values() { # DN ATTR: the attribute's values, one per line
  "${LDAPQ[@]}" -b "$1" -s base '(objectClass=*)' "$2" 2>/dev/null | sed -n "s/^$2: //p"
}
exists() { "${LDAPQ[@]}" -b "$1" -s base '(objectClass=*)' 1.1 >/dev/null 2>&1; }
not_exists() { ! exists "$1"; }
# The DACL as SDDL, from samba-tool (LDAP to 127.0.0.1 with NTLM; Kerberos off: no DNS lookups).
sddl() {
  samba-tool dsacl get -H ldap://127.0.0.1 --use-kerberos=off -s "$SAMBA_SMB_CONF" -U Administrator \
    --password="$ADMIN_PW" --objectdn="$1" 2>/dev/null | tail -n 1
}
has_ace() { [[ "$(sddl "$1")" == *"$2"* ]]; }
count_aces() { # DN ACE-PREFIX: how many ACEs start with the prefix, e.g. "(A;CI;" ... "SID)"
  sddl "$1" | grep -oF -- "$2" | wc -l
}
jq_true() { jq -e "$@" >/dev/null; }
sdtool() { "$SRC/tests/ldap/sdtool.py" "$SAMBA_SMB_CONF" "$CONVERGE_TEST_LDAP_PASSWORD_FILE" "$@"; }
provider_block() {
  sed -n '/^\[provider.ad\]/,/^$/p' "$MANIFEST"
}

echo "# ldap e2e against $CONVERGE_TEST_LDAP_URL ($SAMBA_DIR)"
# The guide's fresh Exchange: mailbox databases without a displayName.
for db in DB01 DB02; do
  printf 'dn: CN=%s,CN=Databases,%s\nchangetype: modify\ndelete: displayName\n' "$db" "$AG" |
    "${LDAPMOD[@]}" >/dev/null 2>&1
done

# ---- 1. converge on the fresh domain -------------------------------------------------------------
owner_sacl() { sddl "$1" | sed -E 's/D:.*S:/ S:/; s/D:[^S]*$//'; }
ROOT_OWNER_SACL=$(owner_sacl "$BASE")
cv plan --detailed-exitcode "$MANIFEST"
check "first plan has changes (exit 2)" test "$RC" = 2
cv run "$MANIFEST"
check "converge run exits 0" test "$RC" = 0
[[ $RC == 0 ]] || cat "$OUT"
check "every change applied" grep -q "0 failed, 0 skipped, 0 blocked" "$OUT"
cv plan --detailed-exitcode "$MANIFEST"
check "second plan is empty (exit 0)" test "$RC" = 0
[[ $RC == 0 ]] || cat "$OUT"
CONVERGE_LDAP_URL=$CONVERGE_TEST_LDAP_STARTTLS_URL cv plan --detailed-exitcode "$MANIFEST"
check "the same plan over ldap:// + StartTLS is empty" test "$RC" = 0

# ---- 2. effects, verified without converge -------------------------------------------------------
SID_EX=$(sdtool sid QMM_Trg_Ex)
SID_AD=$(sdtool sid QMM_Trg_AD)
SID_AH=$(sdtool sid QMM_Trg_AH)
check "SIDs of the new accounts resolve" test -n "$SID_EX" -a -n "$SID_AD" -a -n "$SID_AH"
for a in QMM_Trg_DSA QMM_Trg_Ex QMM_Trg_AD QMM_Trg_AH; do
  dn="CN=$a,$SA"
  check "$a exists in OU=Service Accounts" exists "$dn"
  check "$a is enabled, password never expires (userAccountControl 66048)" \
    test "$(values "$dn" userAccountControl)" = 66048
  check "$a has its UPN" test "$(values "$dn" userPrincipalName)" = "$a@target.local"
done
check "QMM_Trg_Ex has its displayName" test "$(values "CN=QMM_Trg_Ex,$SA" displayName)" = "QMM Target Exchange"
umask 077
printf '%s' "$QMM_SERVICE_PASSWORD" >"$TMP/svc.pass"
check "QMM_Trg_Ex binds with the password from QMM_SERVICE_PASSWORD" \
  ldapsearch -LLL -o nettimeout=5 -H "$CONVERGE_TEST_LDAP_URL" -x -D "CN=QMM_Trg_Ex,$SA" -y "$TMP/svc.pass" \
  -b "" -s base 1.1 >/dev/null
check "QMM_Trg_DSA is a member of Domain Admins" \
  grep -qiF "CN=QMM_Trg_DSA,$SA" <(values "CN=Domain Admins,CN=Users,$BASE" member)
check "QMM_Trg_Ex is a member of BUILTIN\\Administrators" \
  grep -qiF "CN=QMM_Trg_Ex,$SA" <(values "CN=Administrators,CN=Builtin,$BASE" member)
check "QMM_Trg_Ex holds the Public Folder Administrator role (group membership)" \
  grep -qiF "CN=QMM_Trg_Ex,$SA" <(values "CN=Exchange Public Folder Administrators,OU=Microsoft Exchange Security Groups,$BASE" member)
check "QMM_Trg_AD holds the View-Only Administrator role (group membership)" \
  grep -qiF "CN=QMM_Trg_AD,$SA" <(values "CN=Exchange View-Only Administrators,OU=Microsoft Exchange Security Groups,$BASE" member)
check "Read on the domain for QMM_Trg_Ex (this and descendants)" has_ace "$BASE" "(A;CI;RPLCLORC;;;$SID_EX)"
check "Read on the domain for QMM_Trg_AD" has_ace "$BASE" "(A;CI;RPLCLORC;;;$SID_AD)"
FULL=RPWPCRCCDCLCLORCWOWDSDDTSW
check "Full Control on OU=Migrated Users for QMM_Trg_Ex" has_ace "OU=Migrated Users,$BASE" "(A;CI;$FULL;;;$SID_EX)"
check "Full Control on OU=Migrated Users for QMM_Trg_AD" has_ace "OU=Migrated Users,$BASE" "(A;CI;$FULL;;;$SID_AD)"
for s in EXCH1 EXCH2; do
  srv="CN=$s,CN=Servers,$AG"
  check "Full Control on $s" has_ace "$srv" "(A;CI;$FULL;;;$SID_EX)"
  check "Send As on $s" has_ace "$srv" "(OA;CI;CR;$SEND_AS;;$SID_EX)"
  check "Receive As on $s" has_ace "$srv" "(OA;CI;CR;$RECEIVE_AS;;$SID_EX)"
done
check "Full Control on OU=Microsoft Exchange System Objects" \
  has_ace "OU=Microsoft Exchange System Objects,$BASE" "(A;CI;$FULL;;;$SID_EX)"
for g in d0780592-afe6-11d2-aa04-00c04f8eedd8 cffe6da4-afe6-11d2-aa04-00c04f8eedd8 d03a086e-afe6-11d2-aa04-00c04f8eedd8; do
  check "public folder extended right $g on the administrative group" has_ace "$AG" "(OA;CI;CR;$g;;$SID_EX)"
done
check "Read on CN=Microsoft Exchange for QMM_Trg_AD" \
  has_ace "CN=Microsoft Exchange,CN=Services,CN=Configuration,$BASE" "(A;CI;RPLCLORC;;;$SID_AD)"
EMP="CN=Exchange Migration Project,CN=QmmEx,CN=Migration Manager,CN=Quest Software,CN=System,$BASE"
check "the service connection point container chain exists" exists "$EMP"
check "Create/delete serviceConnectionPoint children for QMM_Trg_AH" has_ace "$EMP" "(OA;;CCDC;$SCP;;$SID_AH)"
check "Read/write on descendant serviceConnectionPoints for QMM_Trg_AH" \
  has_ace "$EMP" "(OA;CIIO;RPWPLCLORC;;$SCP;$SID_AH)"
for db in DB01 DB02; do
  check "displayName of $db copied from adminDisplayName" test "$(values "CN=$db,CN=Databases,$AG" displayName)" = "$db"
done
check "ACE writes left owner, group and SACL of the domain root alone" \
  test "$(owner_sacl "$BASE")" = "$ROOT_OWNER_SACL"

# ---- 3. out-of-band changes show up as exactly those resources, and are repaired ------------------
sdtool delete-ace "CN=EXCH1,CN=Servers,$AG" "(OA;CI;CR;$SEND_AS;;$SID_EX)"
check "out of band: Send As removed from EXCH1" bash -c '! grep -qF "$1" <<<"$2"' _ "(OA;CI;CR;$SEND_AS;;$SID_EX)" "$(sddl "CN=EXCH1,CN=Servers,$AG")"
sdtool add-ace "$BASE" "(A;CI;WD;;;$SID_EX)"
check "out of band: WriteDacl merged into QMM_Trg_Ex's Read on the domain (second ACE)" \
  test "$(count_aces "$BASE" ";;;$SID_EX)")" = 2
printf 'dn: CN=Domain Admins,CN=Users,%s\nchangetype: modify\ndelete: member\nmember: CN=QMM_Trg_DSA,%s\n' "$BASE" "$SA" |
  "${LDAPMOD[@]}" >/dev/null
check "out of band: QMM_Trg_DSA removed from Domain Admins" \
  bash -c '! grep -qiF "$1" <<<"$2"' _ "CN=QMM_Trg_DSA" "$(values "CN=Domain Admins,CN=Users,$BASE" member)"
printf 'dn: CN=DB02,CN=Databases,%s\nchangetype: modify\nreplace: displayName\ndisplayName: Wrong Name\n' "$AG" |
  "${LDAPMOD[@]}" >/dev/null
check "out of band: displayName of DB02 changed" test "$(values "CN=DB02,CN=Databases,$AG" displayName)" = "Wrong Name"

cv plan --json "$MANIFEST"
cp "$OUT" "$TMP/drift.json"
changed=$(jq -r '[.resources[] | select(.action != "noop") | .id + " " + .action] | sort | join(", ")' "$TMP/drift.json")
want="ace.ex_read_domain update, ace.ex_send_as_server[EXCH1] create, group_member.dsa_domain_admins create, ldap_attribute.mailbox_database_display_name[DB02] update"
check "the plan shows exactly the four drifted resources ($changed)" test "$changed" = "$want"
dn_change=$(jq -c '.resources[] | select(.id == "ldap_attribute.mailbox_database_display_name[DB02]") | .changes[] | select(.attribute == "value") | [.before, .after]' "$TMP/drift.json")
check "displayName drift: before [\"Wrong Name\"], after [\"DB02\"] ($dn_change)" test "$dn_change" = '[["Wrong Name"],["DB02"]]'
check "merged right: before lists the extra WriteDacl (and 2 ACEs), after is GenericRead" \
  jq_true '.resources[] | select(.id == "ace.ex_read_domain") | .changes[] | select(.attribute == "rights")
         | (.before | index("WriteDacl") != null and index("(2 ACEs)") != null) and .after == ["GenericRead"]' \
  "$TMP/drift.json"
cv plan --out "$TMP/repair.json" "$MANIFEST"
cv apply "$TMP/repair.json"
check "converge apply of the saved plan repairs the drift" test "$RC" = 0
[[ $RC == 0 ]] || cat "$OUT"
cv plan --detailed-exitcode "$MANIFEST"
check "plan after repair is empty" test "$RC" = 0
check "Send As is back on EXCH1" has_ace "CN=EXCH1,CN=Servers,$AG" "(OA;CI;CR;$SEND_AS;;$SID_EX)"
check "QMM_Trg_Ex's ACE on the domain was replaced, not merged: one ACE, Read only" \
  test "$(count_aces "$BASE" ";;;$SID_EX)")" = 1
check "... and it is (A;CI;RPLCLORC)" has_ace "$BASE" "(A;CI;RPLCLORC;;;$SID_EX)"
check "QMM_Trg_DSA is back in Domain Admins" \
  grep -qiF "CN=QMM_Trg_DSA,$SA" <(values "CN=Domain Admins,CN=Users,$BASE" member)
check "displayName of DB02 is back" test "$(values "CN=DB02,CN=Databases,$AG" displayName)" = DB02

# ---- 3b. drift against Samba: an ldapmodify is reported, then corrected -----------
cv drift "$MANIFEST"
check "drift: none after the repair (exit $RC)" test "$RC" = 0
printf 'dn: CN=DB02,CN=Databases,%s\nchangetype: modify\nreplace: displayName\ndisplayName: Drifted Name\n' "$AG" |
  "${LDAPMOD[@]}" >/dev/null
cv drift "$MANIFEST"
check "drift: the changed displayName is reported (exit $RC)" test "$RC" = 2
check "drift: expected vs observed" grep -qF 'value: expected ["DB02"], observed ["Drifted Name"]' "$OUT"
check "drift without --correct changed nothing" test "$(values "CN=DB02,CN=Databases,$AG" displayName)" = "Drifted Name"
cv drift --correct "$MANIFEST"
check "drift --correct repairs it (exit $RC)" test "$RC" = 2
check "drift --correct: the attribute was updated" grep -qF 'ldap_attribute.mailbox_database_display_name[DB02]: updated' "$OUT"
check "drift: displayName of DB02 is back" test "$(values "CN=DB02,CN=Databases,$AG" displayName)" = DB02
cv drift "$MANIFEST"
check "drift: none after the correction (exit $RC)" test "$RC" = 0

# ---- 4. ensure = "absent" removes exactly one ACE ----------------------------------------------
{
  provider_block
  cat <<EOF
[ace.pf_quotas]
object = "$AG"
principal = "QMM_Trg_Ex"
rights = ["ExtendedRight"]
object_type = "Modify public folder quotas"
applies_to = "this_and_descendants"
ensure = "absent"
EOF
} >"$TMP/absent.toml"
before_ag=$(sddl "$AG")
cv run --allow-destroy "$TMP/absent.toml"
check "ensure = absent: run exits 0" test "$RC" = 0
[[ $RC == 0 ]] || cat "$OUT"
after_ag=$(sddl "$AG")
check "ensure = absent: the quotas ACE is gone" bash -c '! grep -qF "$1" <<<"$2"' _ "d03a086e-afe6-11d2-aa04-00c04f8eedd8;;$SID_EX" "$after_ag"
check "ensure = absent: exactly one ACE was removed" \
  test "$(($(grep -o '(' <<<"$before_ag" | wc -l) - $(grep -o '(' <<<"$after_ag" | wc -l)))" = 1
check "ensure = absent: the other public folder rights stay" has_ace "$AG" "(OA;CI;CR;d0780592-afe6-11d2-aa04-00c04f8eedd8;;$SID_EX)"
cv plan --json "$MANIFEST"
check "the guide's plan now wants exactly that ACE back" \
  test "$(jq -r '[.resources[] | select(.action != "noop") | .id] | join(",")' "$OUT")" = "ace.ex_pf_quotas"
cv run "$MANIFEST"
check "and converging restores it" has_ace "$AG" "(OA;CI;CR;d03a086e-afe6-11d2-aa04-00c04f8eedd8;;$SID_EX)"

# ---- 4b. the other types: ldap_object, group, a disabled account; updates and a move ----------------
{
  provider_block
  cat <<EOF
[ldap_object.scp]
name = "converge-test-scp"
path = "$EMP"
class = "serviceConnectionPoint"
description = "created by converge"

[group.extra]
name = "QMM Test Group"
path = "$SA"
scope = "universal"
description = "converge test group"

[group_member.extra]
group = "QMM Test Group"
member = "QMM_Trg_AH"

[account.extra]
name = "QMM_Test_Disabled"
path = "$SA"
display_name = "Disabled test account"
enabled = false
EOF
} >"$TMP/types.toml"
cv run "$TMP/types.toml"
check "other types: run exits 0" test "$RC" = 0
[[ $RC == 0 ]] || cat "$OUT"
check "ldap_object: a serviceConnectionPoint with its description" \
  bash -c 'grep -qx serviceConnectionPoint <<<"$1" && [[ $2 == "created by converge" ]]' _ \
  "$(values "CN=converge-test-scp,$EMP" objectClass)" "$(values "CN=converge-test-scp,$EMP" description)"
check "group: universal security group (groupType -2147483640)" \
  test "$(values "CN=QMM Test Group,$SA" groupType)" = -2147483640
check "group_member of the new group" grep -qiF "CN=QMM_Trg_AH,$SA" <(values "CN=QMM Test Group,$SA" member)
check "account without password: disabled (userAccountControl 514)" \
  test "$(values "CN=QMM_Test_Disabled,$SA" userAccountControl)" = 514
cv plan --detailed-exitcode "$TMP/types.toml"
check "other types: second plan is empty" test "$RC" = 0
printf 'dn: CN=QMM_Test_Disabled,%s\nchangetype: modify\nreplace: displayName\ndisplayName: Someone Else\n' "$SA" |
  "${LDAPMOD[@]}" >/dev/null
sed -i 's/^path = "OU=Service Accounts,DC=target,DC=local"$/path = "OU=Migrated Users,DC=target,DC=local"/' "$TMP/types.toml"
sed -i '/^\[group.extra\]/,/^$/s/^path = .*/path = "OU=Service Accounts,DC=target,DC=local"/' "$TMP/types.toml"
cv plan --json "$TMP/types.toml"
check "account drift and move: one update with display_name and path" \
  jq_true '[.resources[] | select(.action != "noop")] | length == 1 and .[0].id == "account.extra" and
           ([.[0].changes[].attribute] | sort) == ["display_name", "path"] and
           (.[0].changes[] | select(.attribute == "display_name") | .before == "Someone Else")' "$OUT"
cv run "$TMP/types.toml"
check "account moved to OU=Migrated Users with its displayName repaired" \
  test "$(values "CN=QMM_Test_Disabled,OU=Migrated Users,$BASE" displayName)" = "Disabled test account"
check "... and is gone from OU=Service Accounts" not_exists "CN=QMM_Test_Disabled,$SA"

# ---- 5. bad input: clear errors, non-zero exit, nothing written --------------------------------
bad_manifest() { # FILE, body on stdin; a harmless OU rides along to prove nothing is written
  {
    provider_block
    cat
    printf '\n[ou.canary]\nname = "Converge Canary"\npath = "%s"\n' "$BASE"
  } >"$1"
}
canary_absent() { ! exists "OU=Converge Canary,$BASE"; }

{
  provider_block
  printf '[ace.bad_principal]\nobject = "OU=Migrated Users,%s"\nprincipal = "QMM_No_Such_User"\n' "$BASE"
  printf 'rights = ["GenericRead"]\n'
} >"$TMP/bad_principal.toml"
before=$(sddl "OU=Migrated Users,$BASE")
cv run "$TMP/bad_principal.toml"
check "unknown principal: non-zero exit" test "$RC" != 0
check "unknown principal: the error names the resource and the principal" \
  bash -c 'grep -F "ace.bad_principal" "$1" | grep -qF "unknown principal '"'"'QMM_No_Such_User'"'"'"' _ "$OUT"
check "unknown principal: the DACL is unchanged" test "$(sddl "OU=Migrated Users,$BASE")" = "$before"

bad_manifest "$TMP/bad_dn.toml" <<EOF
[ace.bad_dn]
object = "OU=Migrated Users,,$BASE"
principal = "QMM_Trg_Ex"
rights = ["GenericRead"]
EOF
cv run "$TMP/bad_dn.toml"
check "bad DN: non-zero exit" test "$RC" != 0
check "bad DN: the error names the resource and says invalid DN" \
  bash -c 'grep -F "ace.bad_dn" "$1" | grep -qF "invalid DN"' _ "$OUT"
check "bad DN: nothing written" canary_absent

bad_manifest "$TMP/bad_parent.toml" <<EOF
[ou.outside]
name = "Nowhere"
path = "DC=example,DC=com"
EOF
cv run "$TMP/bad_parent.toml"
check "DN outside the directory: non-zero exit, error names the resource" \
  bash -c '[[ $1 != 0 ]] && grep -F "ou.outside" "$2" | grep -qF "none of the server'"'"'s naming contexts"' _ "$RC" "$OUT"
check "DN outside the directory: nothing written" canary_absent

bad_manifest "$TMP/bad_right.toml" <<EOF
[ace.bad_right]
object = "OU=Migrated Users,$BASE"
principal = "QMM_Trg_Ex"
rights = ["GenericReed"]
EOF
cv run "$TMP/bad_right.toml"
check "unknown right: rejected as invalid input (exit 65)" test "$RC" = 65
check "unknown right: the error names the resource and the right" \
  bash -c 'grep -F "ace.bad_right" "$1" | grep -qF "GenericReed"' _ "$OUT"
check "unknown right: nothing written" canary_absent

bad_manifest "$TMP/bad_type.toml" <<EOF
[ace.bad_type]
object = "CN=EXCH1,CN=Servers,$AG"
principal = "QMM_Trg_Ex"
rights = ["ExtendedRight"]
object_type = "Send-Ass"
EOF
cv run "$TMP/bad_type.toml"
check "unknown object type: non-zero exit" test "$RC" != 0
check "unknown object type: the error names the resource and the name" \
  bash -c 'grep -F "ace.bad_type" "$1" | grep -qF "Send-Ass"' _ "$OUT"
check "unknown object type: nothing written" canary_absent

bad_manifest "$TMP/conn.toml" </dev/null
CONVERGE_LDAP_PASSWORD="not-the-$RANDOM-password" cv run "$TMP/conn.toml"
check "wrong password: non-zero exit" test "$RC" != 0
check "wrong password: clear error naming the resource" \
  bash -c 'grep -F "ou.canary" "$1" | grep -qF "refused"' _ "$OUT"
check "wrong password: nothing written" canary_absent
CONVERGE_LDAP_URL=ldaps://127.0.0.1:1 cv run "$TMP/conn.toml"
check "unreachable server: non-zero exit" test "$RC" != 0
check "unreachable server: clear error naming the resource" \
  bash -c 'grep -F "ou.canary" "$1" | grep -qF "cannot reach the server"' _ "$OUT"
CONVERGE_LDAP_CA_FILE=$(dirname "$CONVERGE_TEST_LDAP_CA")/decoy-ca.pem cv run "$TMP/conn.toml"
check "certificate mismatch (LDAPS): non-zero exit" test "$RC" != 0
check "certificate mismatch (LDAPS): clear error naming the resource" \
  bash -c 'grep -F "ou.canary" "$1" | grep -qF "TLS certificate verification failed"' _ "$OUT"
CONVERGE_LDAP_URL=$CONVERGE_TEST_LDAP_STARTTLS_URL CONVERGE_LDAP_CA_FILE=$(dirname "$CONVERGE_TEST_LDAP_CA")/decoy-ca.pem \
  cv run "$TMP/conn.toml"
check "certificate mismatch (StartTLS): clear error" \
  bash -c '[[ $1 != 0 ]] && grep -qF "TLS certificate verification failed" "$2"' _ "$RC" "$OUT"
check "connection failures: nothing written" canary_absent
cv plan "$TMP/conn.toml"
check "sanity: the canary would be created by a working run" bash -c '[[ $1 == 0 ]] && grep -qF "+ ou.canary" "$2"' _ "$RC" "$OUT"

# ---- 5b. hardening: foreign principals, secret attributes, libldap configuration ----------------
bad_manifest "$TMP/foreign.toml" <<EOF
[ace.foreign]
object = "OU=Migrated Users,$BASE"
principal = 'SOURCE\QMM_Trg_Ex'
rights = ["GenericRead"]

[group_member.foreign]
group = "Domain Admins"
member = "QMM_Trg_Ex@source.local"
EOF
before=$(sddl "OU=Migrated Users,$BASE")
cv run "$TMP/foreign.toml"
check "SOURCE\\name principal: non-zero exit" test "$RC" != 0
check "SOURCE\\name principal: the error names the resource and says another domain" \
  bash -c 'grep -F "ace.foreign" "$1" | grep -qF "not the target domain"' _ "$OUT"
check "name@source.local member: the error names the resource" \
  bash -c 'grep -F "group_member.foreign" "$1" | grep -qF "not the target domain"' _ "$OUT"
check "foreign principals: the DACL is unchanged" test "$(sddl "OU=Migrated Users,$BASE")" = "$before"
check "foreign principals: nothing written" canary_absent
{
  provider_block
  printf '[group_member.own]\ngroup = "Domain Admins"\nmember = '"'"'TARGET\\QMM_Trg_DSA'"'"'\n'
} >"$TMP/own_domain.toml"
cv plan --detailed-exitcode "$TMP/own_domain.toml"
check "TARGET\\name (the target's own NetBIOS name) is accepted: nothing to do (exit $RC)" test "$RC" = 0

# A confidential attribute of Samba's schema that is not on converge's list of secret names.
CONF_ATTR=$("${LDAPQ[@]}" -b "CN=Schema,CN=Configuration,$BASE" -s one \
  '(&(objectClass=attributeSchema)(searchFlags:1.2.840.113556.1.4.803:=128)(lDAPDisplayName=msPKIRoamingTimeStamp))' \
  lDAPDisplayName 2>/dev/null | sed -n 's/^lDAPDisplayName: //p')
check "precondition: Samba's schema marks msPKIRoamingTimeStamp confidential" test "$CONF_ATTR" = msPKIRoamingTimeStamp
for attr in unicodePwd ms-Mcs-AdmPwd supplementalCredentials msPKIRoamingTimeStamp; do
  bad_manifest "$TMP/secret.toml" <<EOF
[ldap_attribute.secret]
object = "CN=Administrator,CN=Users,$BASE"
attribute = "displayName"
copy_from = "$attr"
EOF
  cv plan "$TMP/secret.toml"
  check "ldap_attribute copy_from = $attr: refused (exit $RC)" test "$RC" != 0
  check "ldap_attribute copy_from = $attr: the error names the resource and says secrets" \
    bash -c 'grep -F "ldap_attribute.secret" "$1" | grep -qF "holds secrets"' _ "$OUT"
done
bad_manifest "$TMP/secret.toml" <<EOF
[ldap_attribute.secret]
object = "CN=Administrator,CN=Users,$BASE"
attribute = "unicodePwd"
value = ["x"]
EOF
cv run "$TMP/secret.toml"
check "ldap_attribute attribute = unicodePwd: refused" \
  bash -c '[[ $1 != 0 ]] && grep -qF "holds secrets" "$2"' _ "$RC" "$OUT"
check "secret attributes: nothing written" canary_absent

# libldap's own configuration is ignored: ./ldaprc, ~/.ldaprc and LDAPTLS_CACERT all name the
# test CA (and TLS_REQCERT never); a manifest without ca_file must still not trust that CA.
mkdir -p "$TMP/rc"
printf 'TLS_CACERT %s\nTLS_REQCERT never\n' "$CONVERGE_TEST_LDAP_CA" >"$TMP/rc/ldaprc"
cp "$TMP/rc/ldaprc" "$TMP/rc/.ldaprc"
{
  provider_block | grep -v '^ca_file'
  printf '\n[ou.canary]\nname = "Converge Canary"\npath = "%s"\n' "$BASE"
} >"$TMP/noca.toml"
cd "$TMP/rc" || exit 1
HOME=$TMP/rc LDAPTLS_CACERT=$CONVERGE_TEST_LDAP_CA LDAPTLS_REQCERT=never cv plan "$TMP/noca.toml"
cd "$TMP" || exit 1
check "ldaprc / ~/.ldaprc / LDAPTLS_* ignored: the test CA is not trusted (exit $RC)" \
  bash -c '[[ $1 != 0 ]] && grep -qF "TLS certificate verification failed" "$2"' _ "$RC" "$OUT"
check "sanity: the same manifest with ca_file plans" bash -c 'cd "$1" && "$2" --no-color --lab "$1/lab.sqlite" plan "$3" >/dev/null 2>&1' \
  _ "$TMP" "$CONVERGE" "$TMP/conn.toml"

# ---- 6. passwords appear nowhere -----------------------------------------------------------------
rm -f "$TMP/svc.pass"
check "QMM_SERVICE_PASSWORD appears in no output, plan or state file" \
  bash -c '! grep -rqaF -- "$1" "$2"' _ "$QMM_SERVICE_PASSWORD" "$TMP"
check "the bind password appears in no output, plan or state file" \
  bash -c '! grep -rqaF -- "$1" "$2"' _ "$ADMIN_PW" "$TMP"

echo "$passed passed, $failed failed"
((failed == 0))
