#!/usr/bin/env bash
# Drift detection, correction, monitor-only resources, scheduled runs, reports, metrics, undo.
# Usage: drift.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
. "$src/tests/e2e/lib.sh"

"$converge" lab init "$(ready_world)" >/dev/null
expect "converge on a ready world" 0 'Apply: 48 applied, 0 failed, 0 skipped, 0 blocked, 11 unchanged' -- "$converge" "$M"
expect "no drift" 0 'no drift \(59 resources checked\)' -- "$converge" drift "$M"

# An out-of-band change is reported exactly, as corrective, and nothing is changed.
"$converge" "$src/manifests/examples/out-of-band-change.toml" --allow-destroy >/dev/null 2>&1
before=$(lab_rows)
expect "drift is reported exactly" 2 \
  '\+ ace\.ex_read_domain \(corrective\)' 'ensure: expected present, observed absent' \
  '~ storage_group\.exch2_second \(corrective\)' 'circular_logging: expected false, observed true' \
  '2 resource\(s\) drifted\.' \
  -- "$converge" drift "$M" --report "$tmp/report.json" --metrics "$tmp/metrics.prom"
check "drift without --correct changes nothing" test "$before" = "$(lab_rows)"
expect "the report has the documented format" 0 'report ok' -- python3 - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format_version"] == "2"
for k in ("run_id", "time", "manifest", "manifest_hash", "checked", "drifted", "corrected", "failed", "duration_seconds", "resources"):
    assert k in r, k
assert r["checked"] == 59 and r["drifted"] == 2 and r["corrected"] == 0, r
ids = {x["id"]: x for x in r["resources"]}
sg = ids["storage_group.exch2_second"]
assert sg["attributes"] == [{"attribute": "circular_logging", "expected": False, "observed": True}], sg
assert sg["corrected"] is False and sg["cause"] == "corrective" and sg["drift"] == "default"
assert ids["ace.ex_read_domain"]["attributes"][0]["attribute"] == "ensure"
print("report ok")
PY
expect "the metrics parse as Prometheus text format" 0 'metrics ok' -- python3 - "$tmp/metrics.prom" <<'PY'
import re, sys
seen = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{manifest="[^"]*"\} (-?[0-9.eE+]+)', line)
    assert m, line
    seen[m.group(1)] = float(m.group(2))
for k in ("converge_resources_checked", "converge_resources_drifted", "converge_resources_corrected",
          "converge_resources_failed", "converge_run_duration_seconds", "converge_last_success_timestamp_seconds"):
    assert k in seen, k
assert seen["converge_resources_checked"] == 59 and seen["converge_resources_drifted"] == 2
assert seen["converge_last_success_timestamp_seconds"] > 1.7e9
print("metrics ok")
PY

# drift = "monitor" is reported, never corrected; --correct repairs the rest.
sed 's/^\[storage_group.exch2_second\]$/[storage_group.exch2_second]\ndrift = "monitor"/' "$M" >"$tmp/monitored.toml"
grep -q '^drift = "monitor"' "$tmp/monitored.toml" || echo "FAIL could not make the monitored manifest"
expect "--correct repairs drift but not monitor-only resources" 2 \
  'storage_group\.exch2_second \(monitor only\)' 'ace\.ex_read_domain: created' 'Apply: 1 applied, 0 failed' \
  -- "$converge" drift "$tmp/monitored.toml" --correct
expect "the monitor-only drift is still there" 2 'storage_group\.exch2_second \(monitor only\)' '1 resource\(s\) drifted' \
  -- "$converge" drift "$tmp/monitored.toml" --correct
expect "without monitor, --correct repairs it" 0 'storage_group\.exch2_second: updated' -- \
  sh -c "'$converge' drift '$M' --correct; test \$? -eq 2 && '$converge' drift '$M'"

# --every repeats until SIGTERM, one log line per run, and stops cleanly after the current run.
"$converge" drift "$M" --every 200ms >"$tmp/every.out" 2>"$tmp/every.err" &
every=$!
if wait_for "$tmp/every.err" 'drift run 3: ' 30; then
  kill -TERM $every
  wait $every
  rc=$?
  check "--every ran at least 3 cycles and exited 0 on SIGTERM" test $rc -eq 0
  expect "--every logged each run and the stop" 0 'drift run 1: no drift' 'drift run 3: no drift' 'stopping on signal' -- cat "$tmp/every.err"
else
  kill $every; failed=$((failed + 1)); echo "FAIL --every did not run 3 cycles in 30 s"; cat "$tmp/every.err"
fi
expect "bad --every is a usage error" 64 'is not a duration' -- "$converge" drift "$M" --every 15x

# Undo: a run of updates and additions, undone, leaves every lab row byte-identical.
cat >"$tmp/changes.toml" <<'TOML'
[storage_group.sg]
name = "EXCH1\\First Storage Group"
server = "EXCH1"
circular_logging = true

[account.temp]
name = "QMM_Temp"
path = "OU=Service Accounts,DC=target,DC=local"
enabled = false

[group_member.temp_admin]
group = "Domain Admins"
member = "QMM_Temp"

[ace.temp_read]
object = "OU=Migrated Users,DC=target,DC=local"
principal = "QMM_Temp"
rights = ["GenericRead"]
TOML
before=$(lab_rows)
expect "a run of updates and additions" 0 'Apply: 4 applied' 'Recorded as run [0-9]+' -- "$converge" "$tmp/changes.toml"
run=$(sed -n 's/^Recorded as run \([0-9]*\).*/\1/p' "$tmp/out")
expect "history lists it" 0 "^$run +run +succeeded" -- "$converge" history
expect "show lists its changes with before and after" 0 'update storage_group\.sg: applied' 'circular_logging: false -> true' \
  -- "$converge" show "$run"
expect "undo without --yes on no terminal refuses" 64 'pass --yes' -- "$converge" undo "$run" --allow-destroy
expect "undo will not delete an account without --allow-destroy" 1 'undo would delete a account that holds data' \
  -- "$converge" undo "$run" --yes
expect "undo with --allow-destroy" 0 'Apply: 4 applied, 0 failed' -- "$converge" undo "$run" --yes --allow-destroy
check "after undo the lab is byte-identical" test "$before" = "$(lab_rows)"
# A run whose resources were changed again later cannot be undone.
"$converge" "$tmp/changes.toml" >/dev/null 2>&1
run2=$(("$converge" history -n 1) | awk 'NR==2 {print $1}')
sed -i 's/circular_logging = true/circular_logging = false/' "$tmp/changes.toml"
"$converge" "$tmp/changes.toml" >/dev/null 2>&1
expect "undo refuses resources changed again later" 1 'later runs changed these resources again' 'storage_group\.sg' \
  -- "$converge" undo "$run2" --yes --allow-destroy

# Nothing secret in the journal.
check "no secret in the journal" sh -c "! grep -qa -- '$QMM_SERVICE_PASSWORD' '$tmp'/*.sqlite* '$tmp/report.json'"
finish
