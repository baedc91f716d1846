#!/usr/bin/env bash
# End-to-end: runs the built converge binary through the README walkthrough on a fresh lab.
# Usage: run.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
. "$src/tests/e2e/lib.sh"
OOB="$src/manifests/examples/out-of-band-change.toml"
NSPI="$src/manifests/examples/out-of-band-nspi.toml"

sha() { cat "$CONVERGE_LAB" "$CONVERGE_LAB-wal" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# 1. First run on a fresh lab: everything the lab can have is applied; the MAPI CDO checks block
#    the agent-host memberships that depend on them.
expect "first run converges what it can" 1 \
  'Plan: 41 to create, 5 to update, 0 to delete, 9 unchanged, 4 blocked\.' \
  '! software\.mapi_cdo\[EXCH1\]  \(blocked\)  \(restart required\)' \
  'check failed: min_version: have "6\.5\.8211\.0", need >= "6\.5\.8353\.0"' \
  'MAPI CDO is not installed on EXCH2' \
  'local_group_member\.ah_agent_host_admin\[EXCH2\]  \(blocked\)' \
  'would create, but blocked by software\.mapi_cdo\[EXCH2\]' \
  'Apply: 46 applied, 0 failed, 0 skipped, 4 blocked, 9 unchanged\.' \
  -- "$converge" "$M"
expect "second plan is empty" 0 'Plan: 0 to create, 0 to update, 0 to delete, 55 unchanged, 4 blocked\.' \
  -- "$converge" plan --detailed-exitcode "$M"
expect "a second run changes nothing" 1 'Apply: 0 applied, 0 failed, 0 skipped, 4 blocked, 55 unchanged\.' -- "$converge" "$M"
expect "the shorthand takes options before the manifest" 1 'Apply: 0 applied, 0 failed, 0 skipped, 4 blocked, 55 unchanged\.' \
  -- "$converge" --no-color --lab "$CONVERGE_LAB" --timeout 5m "$M"

# 2. Deleting needs --allow-destroy; without it the deletion is blocked and the rest proceeds.
expect "deletion is blocked without --allow-destroy" 1 \
  'ace\.removed_read_on_domain  \(blocked\)' 'deletion needs --allow-destroy' \
  'storage_group\.circular_logging_back_on: updated' 'Apply: 1 applied, 0 failed, 0 skipped, 1 blocked' \
  -- "$converge" "$OOB"
expect "out-of-band change with --allow-destroy" 0 'ace\.removed_read_on_domain: deleted' -- "$converge" "$OOB" --allow-destroy

# 3. The plan shows exactly what drifted, with before -> after.
expect "plan reveals the out-of-band change" 2 \
  '\+ ace\.ex_read_domain' '~ storage_group\.exch2_second' 'circular_logging = true -> false' \
  'Plan: 1 to create, 1 to update, 0 to delete' \
  -- "$converge" plan --detailed-exitcode "$M"
"$converge" plan --json "$M" >"$tmp/plan.json" 2>/dev/null
expect "JSON plan has the documented shape" 0 'shape ok' -- python3 - "$tmp/plan.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
assert p["format_version"] == "1"
assert set(p["summary"]) >= {"create", "update", "delete", "noop", "blocked"}, p["summary"]
assert p["summary"]["create"] == 1 and p["summary"]["update"] == 1, p["summary"]
for r in p["resources"]:
    assert {"id", "type", "action", "changes", "blocked_by"} <= set(r), r
    assert r["action"] in ("create", "update", "delete", "noop", "blocked")
upd = [r for r in p["resources"] if r["action"] == "update"][0]
assert upd["changes"] == [{"attribute": "circular_logging", "before": True, "after": False, "sensitive": False}], upd["changes"]
blocked = [r for r in p["resources"] if r["id"] == "local_group_member.ah_agent_host_admin[EXCH1]"][0]
assert blocked["blocked_by"] == ["software.mapi_cdo[EXCH1]"], blocked
print("shape ok")
PY

# 4. A saved plan made stale by another change is refused, naming the resource, and changes nothing.
expect "save a plan" 0 'Saved the plan to' -- "$converge" plan "$M" --out "$tmp/saved.json"
"$converge" "$NSPI" >/dev/null 2>&1
before=$(sha)
expect "stale plan is refused" 1 'the plan is stale' \
  'registry_value\.nspi_max_sessions\[DC1\]: data was 100 when planned, now 50' 'Nothing was changed' \
  -- "$converge" apply "$tmp/saved.json"
check "stale apply left the lab byte-for-byte unchanged" test "$(sha)" = "$before"

# 5. A fresh plan applies exactly what was reviewed.
expect "save a fresh plan" 0 'Plan: 1 to create, 2 to update' -- "$converge" plan "$M" --out "$tmp/fresh.json"
expect "apply the reviewed plan" 0 'Apply: 3 applied, 0 failed' -- "$converge" apply "$tmp/fresh.json"
expect "converged again" 0 'Plan: 0 to create, 0 to update, 0 to delete' -- "$converge" plan --detailed-exitcode "$M"

# 6. Secrets never leave the process.
check "no secret in lab, plans or output" sh -c "! grep -rqa -- \"\$QMM_SERVICE_PASSWORD\" '$tmp'"

# 7. Faults: a failing type fails its resources, skips their dependents, lets the rest finish.
export CONVERGE_LAB="$tmp/faults.sqlite"
expect "injected account failures skip dependents only" 1 \
  'account\.trg_ex: FAILED: lab: injected failure of writes to account' \
  'ace\.ex_read_domain: skipped \(account\.trg_ex did not apply\)' \
  'dns_record\.target_mx: created' \
  'Apply: 18 applied, 6 failed, 22 skipped, 4 blocked, 9 unchanged\.' \
  -- env CONVERGE_LAB_FAULTS=fail_type=account "$converge" "$M" --parallelism 3
expect "after the fault clears, the next run converges" 1 'Apply: 28 applied, 0 failed, 0 skipped, 4 blocked, 27 unchanged' -- "$converge" "$M"
unset CONVERGE_LAB_FAULTS

# 8. Graph export and exit codes.
expect "graph as DOT renders with Graphviz" 0 '<svg' -- sh -c "'$converge' graph '$M' | dot -Tsvg"
expect "graph as JSON" 0 '"kind": "inferred"' -- "$converge" graph "$M" --format json
expect "usage error exits 64" 64 'manifest is required|required' -- "$converge" plan
expect "missing manifest exits 64" 64 'cannot read manifest' -- "$converge" plan "$tmp/nope.toml"
expect "validate" 0 'valid \(59 resources' -- "$converge" validate "$M"

# 9. A manifest the graph refuses changes nothing: no lab, no journal.
mkdir -p "$tmp/cyc"
expect "a manifest with a dependency cycle is refused" 65 'dependency cycle' \
  -- env CONVERGE_LAB="$tmp/cyc/lab.sqlite" "$converge" "$src/tests/bad/019_cycle_depends_on_2.toml"
check "...and leaves nothing behind" test -z "$(ls -A "$tmp/cyc")"

finish
