#!/usr/bin/env bash
# The lab enforces what the ldap provider enforces: a principal qualified with another domain
# ("SOURCE\Administrator", "Administrator@source.local") is refused with a clear error naming the
# resource, instead of silently becoming the target domain's Administrator. The target's own
# qualifiers (TARGET\, @target.local) and BUILTIN\ still work.
#
#   tests/ldap/foreign_principal_lab.sh CONVERGE SOURCE_DIR
set -uo pipefail
(($# == 2)) || {
  echo "usage: $0 CONVERGE SOURCE_DIR" >&2
  exit 2
}
CONVERGE=$(readlink -f "$1")
SRC=$(readlink -f "$2")
TMP=$(mktemp -d /tmp/converge-lab-principal.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
passed=0 failed=0
check() {
  local d=$1
  shift
  if "$@"; then
    echo "ok   - $d"
    passed=$((passed + 1))
  else
    echo "FAIL - $d"
    failed=$((failed + 1))
    sed 's/^/     | /' "$TMP/out" | head -20
  fi
}
LAB=$TMP/lab.sqlite
"$CONVERGE" lab init "$SRC/manifests/labs/exchange2007-fresh.toml" --lab "$LAB" >/dev/null || exit 1

run() { # PRINCIPAL: converge run of an ACE and a membership for PRINCIPAL; $RC, output in out
  cat >"$TMP/m.toml" <<TOML
[ace.read]
object = "OU=Microsoft Exchange System Objects,DC=target,DC=local"
principal = '$1'
rights = ["GenericRead"]

[group_member.admins]
group = "Domain Admins"
member = '$1'
TOML
  "$CONVERGE" --no-color --lab "$LAB" run "$TMP/m.toml" >"$TMP/out" 2>&1
  RC=$?
}
says() { grep -qF -- "$1" "$TMP/out"; }

for p in 'SOURCE\Administrator' 'Administrator@source.local'; do
  run "$p"
  check "$p: non-zero exit" test "$RC" != 0
  check "$p: the ACE's error names the resource and the foreign domain" \
    bash -c 'grep -F "ace.read" "$1" | grep -qF "not the target domain"' _ "$TMP/out"
  check "$p: the membership's error names the resource" \
    bash -c 'grep -F "group_member.admins" "$1" | grep -qF "not the target domain"' _ "$TMP/out"
done
for p in 'TARGET\Administrator' 'Administrator'; do
  run "$p"
  check "$p: accepted (exit $RC)" test "$RC" = 0
done
echo "$passed passed, $failed failed"
((failed == 0))
