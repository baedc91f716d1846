#!/usr/bin/env bash
# End-to-end: runs the built converge binary through the README walkthrough on a fresh lab.
# Usage: run.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
tmp=$(mktemp -d /tmp/converge-e2e-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export QMM_SERVICE_PASSWORD="e2e-$RANDOM-$RANDOM-Pw!"
export CONVERGE_LAB="$tmp/lab.sqlite"
unset CONVERGE_LAB_FAULTS
M="$src/manifests/exchange2007-target.toml"
OOB="$src/manifests/examples/out-of-band-change.toml"
NSPI="$src/manifests/examples/out-of-band-nspi.toml"
passed=0 failed=0

# expect NAME RC PATTERN... -- CMD...: runs CMD, checks its exit code and that its combined output
# matches every extended regex PATTERN.
expect() {
  local name=$1 rc=$2; shift 2
  local pats=()
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  "$@" >"$tmp/out" 2>&1
  local got=$?
  local ok=1 why=""
  [ "$got" -eq "$rc" ] || { ok=0; why="exit $got, wanted $rc"; }
  for p in "${pats[@]}"; do
    grep -Eq -- "$p" "$tmp/out" || { ok=0; why="$why; missing /$p/"; }
  done
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name: $why"; sed 's/^/     | /' "$tmp/out" | head -40; fi
}
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
[ "$(sha)" = "$before" ] && { passed=$((passed + 1)); echo "ok   stale apply left the lab byte-for-byte unchanged"; } \
  || { failed=$((failed + 1)); echo "FAIL stale apply changed the lab"; }

# 5. A fresh plan applies exactly what was reviewed.
expect "save a fresh plan" 0 'Plan: 1 to create, 2 to update' -- "$converge" plan "$M" --out "$tmp/fresh.json"
expect "apply the reviewed plan" 0 'Apply: 3 applied, 0 failed' -- "$converge" apply "$tmp/fresh.json"
expect "converged again" 0 'Plan: 0 to create, 0 to update, 0 to delete' -- "$converge" plan --detailed-exitcode "$M"

# 6. Secrets never leave the process.
if grep -rqa -- "$QMM_SERVICE_PASSWORD" "$tmp"; then
  failed=$((failed + 1)); echo "FAIL the password appears in: $(grep -rla -- "$QMM_SERVICE_PASSWORD" "$tmp")"
else passed=$((passed + 1)); echo "ok   no secret in lab, plans or output"; fi

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

# 9. The compiled-manifest cache: used for the same bytes, never for an edited manifest.
export CONVERGE_LAB="$tmp/cache.sqlite"
cp "$OOB" "$tmp/edit.toml"
from_cache() { "$converge" plan "$tmp/edit.toml" -vv "$@" 2>&1 | grep -q 'compiled form from the cache'; }
expect "a first plan parses (and caches)" 0 'Plan: 0 to create' -- "$converge" plan --detailed-exitcode "$tmp/edit.toml"
if ls "$tmp"/manifest-cache/*.bin >/dev/null 2>&1 && from_cache && ! from_cache --no-cache; then
  passed=$((passed + 1)); echo "ok   the next plan uses the cache beside the journal; --no-cache parses"
else failed=$((failed + 1)); echo "FAIL the cache is not written or not used"; fi
sed -i 's/^circular_logging = true/circular_logging = false/' "$tmp/edit.toml"
if ! from_cache; then passed=$((passed + 1)); echo "ok   an edited manifest is parsed again"
else failed=$((failed + 1)); echo "FAIL an edited manifest came from the cache"; fi
expect "and planned as edited" 2 'circular_logging = true -> false' -- "$converge" plan --detailed-exitcode "$tmp/edit.toml"
mkdir -p "$tmp/cyc"
expect "a manifest with a dependency cycle is refused" 65 'dependency cycle' \
  -- env CONVERGE_LAB="$tmp/cyc/lab.sqlite" "$converge" plan "$src/tests/bad/019_cycle_depends_on_2.toml"
if [ ! -e "$tmp/cyc/manifest-cache" ]; then passed=$((passed + 1)); echo "ok   ...and leaves no cache entry"
else failed=$((failed + 1)); echo "FAIL a refused manifest left a cache entry"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
