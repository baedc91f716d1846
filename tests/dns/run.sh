#!/usr/bin/env bash
# End-to-end: the guide's DNS rows (manifests/exchange2007-target-dns.toml) converge on a real
# BIND 9 through the built converge binary; results are checked with dig and out-of-band changes
# made with nsupdate, independently of converge.
#
# Usage: tests/dns/run.sh CONVERGE SOURCE_DIR [BIND_ENV]
#   BIND_ENV  env file of a running tools/testenv/bind.sh server (the ctest fixture's); without
#             it (or when it does not exist) the script starts its own server in a temp directory
#             and stops it on exit.
# Prints `ok NAME` / `FAIL NAME: why` per check, then `N passed, M failed`.
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 CONVERGE SOURCE_DIR [BIND_ENV]" >&2
  exit 64
fi
converge=$(realpath "$1")
src=$(realpath "$2")
bind_env=${3:-}
tmp=$(mktemp -d /tmp/converge-dns-e2e-XXXXXX)
own_bind=""
cleanup() {
  if [ -n "$own_bind" ]; then "$src/tools/testenv/bind.sh" stop "$own_bind" >/dev/null 2>&1; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

if [ -z "$bind_env" ] || [ ! -f "$bind_env" ]; then
  own_bind="$tmp/bind"
  if ! "$src/tools/testenv/bind.sh" start "$own_bind" --watch-pid $$ >"$tmp/bind-start.log" 2>&1; then
    cat "$tmp/bind-start.log"
    echo "0 passed, 1 failed"
    exit 1
  fi
  bind_env="$own_bind/env"
fi
# shellcheck disable=SC1090
. "$bind_env"
server=$CONVERGE_TEST_DNS_SERVER
host=${server%:*}
port=${server##*:}
key=$CONVERGE_TEST_TSIG_KEY_FILE
secret=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$key")

M="$src/manifests/exchange2007-target-dns.toml"
export CONVERGE_DNS_SERVER=$server CONVERGE_DNS_TSIG_KEY_FILE=$key
lab=(--lab "$tmp/lab.sqlite")  # nothing is written in the repository
# shellcheck source=../support/expect.sh
. "$src/tests/support/expect.sh"

nsupdate_local() { # lines...
  printf 'server %s %s\nzone local\n%s\nsend\n' "$host" "$port" "$(printf '%s\n' "$@")" |
    nsupdate -t 5 -k "$key"
}
# The zone "local" as the server holds it. (Plain queries for target.local names are answered by
# the test server's own zone "target.local", which shadows these records; a transfer of "local"
# shows exactly what is in it.)
axfr_local() { dig +noall +answer +time=3 +tries=1 -p "$port" "@$host" -k "$key" local AXFR; }
serial() { dig +short +time=3 +tries=1 -p "$port" "@$host" local SOA | awk '{print $3}'; }
closed_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A clean slate for the guide's records (the fixture's server may have served earlier runs).
nsupdate_local "update delete exch1.target.local. A" "update delete target.local. MX" ||
  echo "warning: could not clean the zone"

# ---- the guide's rows converge ----
expect "plan shows the two records to create" 2 \
  '\+ dns_record\.exch1' '\+ values = \["192\.0\.2\.11"\]' \
  '\+ dns_record\.target_mx' '\+ values = \["10 exch1\.target\.local\."\]' \
  'Plan: 2 to create, 0 to update, 0 to delete, 1 unchanged, 0 blocked\.' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "first run creates them" 0 \
  'dns_record\.exch1: created' 'dns_record\.target_mx: created' \
  'Apply: 2 applied, 0 failed, 0 skipped, 0 blocked, 1 unchanged\.' \
  -- "$converge" run "$M" "${lab[@]}"
expect "second plan is empty" 0 'No changes\.' 'Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged, 0 blocked\.' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "second plan is empty, with diagnostics (-vv)" 0 'dns: AXFR local\.: [0-9]+ records' 'TSIG key converge-test' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}" -vv
"$converge" plan --json "$M" "${lab[@]}" >"$tmp/noop.json" 2>/dev/null
expect "--json lists every resource" 0 'listed 3' -- python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert all(r["action"] == "noop" for r in p["resources"]), p
print("listed", len(p["resources"]))' "$tmp/noop.json"
sed 's/secret ".*"/secret "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="/' "$key" >"$tmp/wrong.key"
expect "a wrong secret fails the plan (BADSIG)" 1 'BADSIG' 'NOT:No changes' \
  -- env CONVERGE_DNS_TSIG_KEY_FILE="$tmp/wrong.key" "$converge" plan "$M" "${lab[@]}"
expect "dig sees the A record" 0 '^exch1\.target\.local\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.11$' \
  -- axfr_local
expect "dig sees the MX record" 0 '^target\.local\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 exch1\.target\.local\.$' \
  -- axfr_local

# ---- out-of-band changes show up exactly and are repaired ----
nsupdate_local "update delete target.local. MX"
expect "deleted MX: plan shows it to create" 2 '\+ dns_record\.target_mx' \
  'Plan: 1 to create, 0 to update' -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "deleted MX: repaired (-vv, logged)" 0 'dns_record\.target_mx: created' 'Apply: 1 applied' 'dns: UPDATE local\.' \
  -- "$converge" run "$M" "${lab[@]}" -vv --log-file "$tmp/converge.log"

nsupdate_local "update delete exch1.target.local. A" "update add exch1.target.local. 300 IN A 192.0.2.11"
expect "changed TTL: plan shows 300 -> 3600" 2 '~ dns_record\.exch1' '~ ttl = 300 -> 3600$' \
  'Plan: 0 to create, 1 to update' -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "changed TTL: repaired" 0 'dns_record\.exch1: updated' -- "$converge" run "$M" "${lab[@]}"
expect "changed TTL: dig sees 3600 again" 0 '^exch1\.target\.local\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+A' -- axfr_local

nsupdate_local "update add target.local. 3600 IN MX 20 rogue.example.com."
expect "added value: plan shows the exact sets" 2 '~ dns_record\.target_mx' \
  '~ values = \["10 exch1\.target\.local\.", "20 rogue\.example\.com\."\] -> \["10 exch1\.target\.local\."\]$' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
"$converge" plan --json "$M" "${lab[@]}" >"$tmp/plan.json" 2>/dev/null
expect "added value: JSON plan has before and after" 0 'shape ok' -- python3 - "$tmp/plan.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
mx = [r for r in p["resources"] if r["id"] == "dns_record.target_mx"][0]
assert mx["action"] == "update", mx
assert mx["changes"] == [{"attribute": "values", "before": ["10 exch1.target.local.", "20 rogue.example.com."],
                          "after": ["10 exch1.target.local."], "sensitive": False}], mx["changes"]
assert mx["before"]["ttl"] == 3600 and mx["before"]["name"] == "target.local.", mx["before"]
print("shape ok")
PY
expect "added value: repaired" 0 'dns_record\.target_mx: updated' -- "$converge" run "$M" "${lab[@]}"
expect "added value: dig sees one MX" 0 '10 exch1\.target\.local\.$' 'NOT:rogue' -- axfr_local
expect "plan is empty after the repairs" 0 'No changes\.' -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "a run with nothing to apply changes nothing" 0 'No changes\.' 'NOT:: (created|updated|deleted)' -- "$converge" run "$M" "${lab[@]}"

# ---- drift (issue #5) against the real server: an nsupdate is reported, then corrected ----
expect "no drift after converging" 0 'no drift \(3 resources checked\)' -- "$converge" drift "$M" "${lab[@]}"
nsupdate_local "update delete target.local. MX"
expect "drift reports the deleted MX" 2 '\+ dns_record\.target_mx' 'ensure: expected present, observed absent' \
  '1 resource\(s\) drifted' -- "$converge" drift "$M" "${lab[@]}"
expect "drift --correct repairs it" 2 'dns_record\.target_mx: created' 'Apply: 1 applied, 0 failed' \
  -- "$converge" drift "$M" "${lab[@]}" --correct
expect "no drift after the correction" 0 'no drift' -- "$converge" drift "$M" "${lab[@]}"
expect "dig sees the MX again" 0 '^target\.local\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+MX[[:space:]]+10 exch1\.target\.local\.$' \
  -- axfr_local

# A saved plan made stale by a change on the server is refused and changes nothing.
nsupdate_local "update delete target.local. MX"
"$converge" plan "$M" "${lab[@]}" --out "$tmp/saved.json" >/dev/null 2>&1
nsupdate_local "update add target.local. 3600 IN MX 10 exch1.target.local."
before=$(serial)
expect "stale saved plan is refused" 1 'the plan is stale' 'dns_record\.target_mx: did not exist when planned, now exists' \
  -- "$converge" apply "$tmp/saved.json" "${lab[@]}"
expect "stale saved plan changed nothing" 0 "^$before\$" -- serial

# ---- bad input and faults: clear errors naming the resource, nothing half-applied ----
nsupdate_local "update delete target.local. MX" "update delete exch1.target.local. A"
before=$(serial)

sed 's/secret ".*"/secret "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="/' "$key" >"$tmp/wrong.key"
expect "wrong TSIG secret" 1 \
  '! dns_record\.exch1  \(blocked\)' \
  "could not observe: dns_record\.exch1: cannot transfer zone local\.: the server rejected TSIG key '$CONVERGE_TEST_TSIG_KEY_NAME': BADSIG" \
  'nothing was changed' \
  -- env CONVERGE_DNS_TSIG_KEY_FILE="$tmp/wrong.key" "$converge" run "$M" "${lab[@]}" -vv \
  --log-file "$tmp/converge.log"

cat >"$tmp/nozone.toml" <<EOF
[provider.dns]
type = "dns"
server = "$server"
tsig_key_file = "$key"

[dns_zone.nozone]
name = "nozone.test"

[dns_record.www]
zone = "nozone.test"
name = "www"
type = "A"
values = ["192.0.2.80"]
EOF
expect "unknown zone: blocked with a note, its record blocked by it" 1 \
  '! dns_zone\.nozone  \(blocked\)' '# zone nozone\.test\. is not served by' 'RFC 2136 cannot create zones' \
  '! dns_record\.www  \(blocked\)' '# would create, but blocked by dns_zone\.nozone' \
  'Apply: 0 applied, 0 failed, 0 skipped, 2 blocked' \
  -- "$converge" run "$tmp/nozone.toml" "${lab[@]}"

down=$(closed_port)
expect "server down" 1 \
  '! dns_record\.target_mx  \(blocked\)' "could not observe: dns_record\.target_mx: .*127\.0\.0\.1:$down: Connection refused" \
  'nothing was changed' \
  -- env CONVERGE_DNS_SERVER="127.0.0.1:$down" "$converge" run "$M" "${lab[@]}" --no-color

sed 's/values = \["10 exch1.target.local."\]/values = ["exch1.target.local."]/' "$M" >"$tmp/badmx.toml"
expect "malformed MX value in the manifest" 65 \
  "badmx\.toml:[0-9]+:[0-9]+: dns_record\.target_mx: malformed MX value 'exch1\.target\.local\.'" 'nothing was changed' \
  -- "$converge" run "$tmp/badmx.toml" "${lab[@]}"

cat >"$tmp/badaaaa.toml" <<EOF
[provider.dns]
type = "dns"
server = "$server"
tsig_key_file = "$key"

[dns_record.exch1]
zone = "local"
name = "exch1.target"
type = "A"
values = ["192.0.2.11"]

[dns_record.exch1_v6]
zone = "local"
name = "exch1.target"
type = "AAAA"
values = ["2001:db8::zz"]
EOF
expect "malformed AAAA value: invalid manifest, nothing applied" 65 \
  "dns_record\.exch1_v6: malformed AAAA value '2001:db8::zz'" 'nothing was changed' \
  -- "$converge" run "$tmp/badaaaa.toml" "${lab[@]}"

cat >"$tmp/badsettings.toml" <<EOF
[provider.dns]
type = "dns"
server = "$server"

[dns_record.exch1]
zone = "local"
name = "exch1.target"
type = "A"
values = ["192.0.2.11"]
EOF
expect "no TSIG key configured" 65 'provider\.dns: no TSIG key: updates are always signed' \
  -- "$converge" run "$tmp/badsettings.toml" "${lab[@]}"

expect "the faults changed nothing on the server" 0 "^$before\$" -- serial
expect "the faults left no records behind" 0 'NOT:exch1|nozone|2001:db8' -- axfr_local

# The secret of the key (and the wrong one) never appears in anything converge printed or logged,
# -vv runs included.
cat "$tmp/converge.log" >>"$tmp/all-output" 2>/dev/null
if [ -z "$secret" ] || grep -qF -e "$secret" -e d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE= \
  "$tmp/all-output"; then
  failed=$((failed + 1))
  echo "FAIL a TSIG secret appeared in converge's output or log (or none was read from the key)"
else
  passed=$((passed + 1))
  echo "ok   no TSIG secret appears in any output or log"
fi

# Leave the guide's rows in place for whoever looks at the server next.
"$converge" run "$M" "${lab[@]}" >/dev/null 2>&1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
