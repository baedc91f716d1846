#!/usr/bin/env bash
# LDAP provider benchmark against the throw-away Samba AD DC (tools/testenv/samba.sh):
#
#  (a) a no-op `converge plan` of N accounts, N group memberships (one group of N members) and
#      ACES ACEs (ACES/10 OUs with 10 each), as a ratio to one raw paged `ldapsearch` dump of the
#      same objects and attributes (users, the group's members, the OUs' DACLs), run in this script
#      against the same server. Target <= 1.5x.
#  (b) creating the N accounts (with passwords) and N memberships with `converge run`, as a ratio
#      to `ldapadd` + `ldapmodify` of the equivalent LDIF over one connection each. Target <= 1.2x.
#
# Usage: tools/bench/ldap_bench.sh [N [ACES]]   (default 5000 1000; CONVERGE=path, default
#        build/converge). Runs in a network namespace of its own (tools/testenv/netns.sh
#        private), starts a fresh Samba there, stops it at the end, and prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z ${CONVERGE_BENCH_NETNS:-} ]]; then
  CONVERGE_BENCH_NETNS=1 exec tools/testenv/netns.sh private "$0" "$@"
fi
export CONVERGE_NETNS=current # the fixture starts Samba in this (private) namespace
src=$(pwd)
converge=$(readlink -f "${CONVERGE:-build/converge}")
n=${1:-5000}
aces=${2:-1000}
tmp=$(mktemp -d /tmp/converge-ldap-bench-XXXXXX)
samba_dir=$tmp/samba
cleanup() {
  "$src/tests/ldap/samba_fixture.sh" stop "$samba_dir" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Each side of (b) gets a freshly provisioned domain: Samba's cost per add grows with the number of
# objects already in the domain, so sharing one would handicap whichever side runs second.
start_samba() {
  "$src/tests/ldap/samba_fixture.sh" stop "$samba_dir" >/dev/null 2>&1 || true
  echo "starting a fresh Samba AD DC in $samba_dir ..." >&2
  CONVERGE_SAMBA_WATCH_PID=$$ "$src/tests/ldap/samba_fixture.sh" start "$samba_dir" >"$tmp/samba.log" 2>&1 ||
    {
      cat "$tmp/samba.log" >&2
      exit 1
    }
}
start_samba
# shellcheck disable=SC1091
source "$samba_dir/env"
base=$CONVERGE_TEST_LDAP_BASE
export CONVERGE_LDAP_URL=$CONVERGE_TEST_LDAP_URL CONVERGE_LDAP_BIND_DN=$CONVERGE_TEST_LDAP_BIND_DN
export CONVERGE_LDAP_CA_FILE=$CONVERGE_TEST_LDAP_CA
export BENCH_PASSWORD="Bench-$(openssl rand -hex 6)-Pw!"
python3 "$src/tools/bench/ldap/gen.py" "$tmp/in" "$n" "$aces" "$base" "$BENCH_PASSWORD"
ldap_common=(-o nettimeout=10 -H "$CONVERGE_TEST_LDAP_URL" -x -D "$CONVERGE_TEST_LDAP_BIND_DN"
  -y "$CONVERGE_TEST_LDAP_PASSWORD_FILE")

seconds() { # wall seconds of a command (its output discarded); fails if the command fails
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$tmp/last.err" || {
    cat "$tmp/last.err" >&2
    return 1
  }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l | xargs printf '%.3f\n'
}
best_of() { # K command...: the fastest of K runs
  local k=$1 best="" t
  shift
  for ((i = 0; i < k; i++)); do
    t=$(seconds "$@")
    if [[ -z $best ]] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
  done
  echo "$best"
}
cv() { "$converge" --no-color --lab "$tmp/lab.sqlite" "$@"; }

# ---- (b) creation ---------------------------------------------------------------------------------
echo "(b) ldapadd + ldapmodify of $n users and $n memberships ..." >&2
t_raw_add=$(seconds ldapadd "${ldap_common[@]}" -f "$tmp/in/raw-add.ldif")
t_raw_mod=$(seconds ldapmodify "${ldap_common[@]}" -f "$tmp/in/raw-mod.ldif")
t_raw_create=$(echo "$t_raw_add + $t_raw_mod" | bc -l)
start_samba # fresh domain for converge; the env file keeps its paths, the password is new
echo "(b) converge run: $n accounts and $n memberships ..." >&2
CONVERGE_LDAP_PASSWORD=$(<"$CONVERGE_TEST_LDAP_PASSWORD_FILE")
export CONVERGE_LDAP_PASSWORD
t_cv_create=$(seconds cv run "$tmp/in/create.toml")
cv plan --detailed-exitcode "$tmp/in/create.toml" >"$tmp/check.txt" ||
  {
    echo "after converge run, create.toml is not converged:" >&2
    tail -5 "$tmp/check.txt" >&2
    exit 1
  }
members=$(ldapsearch -LLL -o ldif-wrap=no "${ldap_common[@]}" -b "CN=bench-group,OU=Bench,$base" -s base \
  '(objectClass=*)' member | grep -c '^member:' || true)
[[ $members == "$n" ]] || {
  echo "bench-group has $members members, expected $n" >&2
  exit 1
}

# ---- (a) no-op plan -------------------------------------------------------------------------------
echo "(a) converging $aces ACEs (not timed) ..." >&2
cv run "$tmp/in/full.toml" >"$tmp/full-run.txt" 2>&1 || {
  tail -20 "$tmp/full-run.txt" >&2
  exit 1
}
cv plan --detailed-exitcode "$tmp/in/full.toml" >"$tmp/noop.txt" ||
  {
    echo "the plan of full.toml is not a no-op:" >&2
    tail -5 "$tmp/noop.txt" >&2
    exit 1
  }
resources=$(grep -oE '[0-9]+ unchanged' "$tmp/noop.txt" | cut -d' ' -f1)
echo "(a) timing the no-op plan of $resources resources and the raw dump (best of 3) ..." >&2
t_cv_plan=$(best_of 3 cv plan "$tmp/in/full.toml")
dump=(ldapsearch -LLL -o ldif-wrap=no "${ldap_common[@]}" -b "OU=Bench,$base" -s sub
  -E pr=1000/noprompt -E '!1.2.840.113556.1.4.801=::MAMCAQQ='
  '(|(objectClass=user)(objectClass=group)(objectClass=organizationalUnit))'
  sAMAccountName displayName userPrincipalName description userAccountControl objectSid groupType
  member objectClass nTSecurityDescriptor)
t_dump=$(best_of 3 "${dump[@]}")

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
echo
echo "LDAP provider benchmark: N = $n accounts, each a member of one group (bench-group, $n members),"
echo "plus $aces ACEs on $((aces / 10)) OUs; Samba $(samba -V | awk '{print $2}') on 127.0.0.1 (LDAPS), $(nproc) cores."
echo
echo "| measurement | converge | raw ldap-utils | ratio | target |"
echo "|---|---|---|---|---|"
echo "| (a) no-op plan, $resources resources | ${t_cv_plan} s | ${t_dump} s (one paged ldapsearch dump) | $(ratio "$t_cv_plan" "$t_dump")x | <= 1.5x |"
echo "| (b) create $n accounts + $n memberships | ${t_cv_create} s | ${t_raw_create} s (ldapadd ${t_raw_add} s + ldapmodify ${t_raw_mod} s) | $(ratio "$t_cv_create" "$t_raw_create")x | <= 1.2x |"
echo
echo "Command: tools/bench/ldap_bench.sh $n $aces (converge: $converge)"
echo "Raw dump: ${dump[*]//$CONVERGE_TEST_LDAP_PASSWORD_FILE/PASSWORD_FILE}"
