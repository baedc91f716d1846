#!/usr/bin/env bash
# Runs that survive crashes and each other.
# 1. SIGKILL at 20 different points of an apply of the guide's manifest (fault injection kills the
#    process inside the Nth write, before it commits). After each: the journal marks the run
#    interrupted, a second run converges fully, a third plans nothing, nothing is duplicated.
# 2. A run killed right after its first change can be undone: the journal committed its plan and
#    that change's outcome before the next change was handed to the target.
# 3. A run whose output pipe is closed finishes instead of dying of SIGPIPE.
# 4. Two runs at once: the second fails at once naming the holder, or waits with --wait.
# Usage: crash.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
. "$src/tests/e2e/lib.sh"
world=$(ready_world)

for n in $(seq 1 20); do
  rm -f "$tmp"/*.sqlite* "$tmp"/*.lock
  "$converge" lab init "$world" >/dev/null
  # (in a subshell, so the shell does not announce the kill it is expecting)
  (CONVERGE_LAB_FAULTS="kill_nth=$((n * 2 + n / 3))" exec "$converge" "$M" >"$tmp/killed.out" 2>&1)
  rc=$?
  ok=1 why=""
  [ $rc -eq 137 ] || { ok=0; why="killed run exited $rc, not 137 (SIGKILL)"; }
  "$converge" "$M" >"$tmp/second.out" 2>&1 || { ok=0; why="$why; second run failed"; }
  grep -Eq 'note: run 1 \(run, started .*\) was interrupted' "$tmp/second.out" || { ok=0; why="$why; interrupted run not reported"; }
  grep -Eq 'Apply: [0-9]+ applied, 0 failed, 0 skipped, 0 blocked' "$tmp/second.out" || { ok=0; why="$why; second run did not converge"; }
  "$converge" plan --detailed-exitcode "$M" >"$tmp/third.out" 2>&1 || { ok=0; why="$why; third run still plans changes"; }
  "$converge" history >"$tmp/history.out" 2>&1
  grep -Eq '^1 +run +interrupted' "$tmp/history.out" || { ok=0; why="$why; journal does not mark run 1 interrupted"; }
  # Exactly one account object per declared account (no duplicates from the retried run).
  dups=$(sqlite3 "$CONVERGE_LAB" "select count(*) from objects where type='account' and key like 'qmm_%'")
  [ "$dups" -eq 6 ] || { ok=0; why="$why; $dups QMM accounts, wanted 6"; }
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); echo "ok   killed at write $((n * 2 + n / 3)): recovered"
  else failed=$((failed + 1)); echo "FAIL killed at write $((n * 2 + n / 3)): $why"; tail -5 "$tmp/second.out" | sed 's/^/     | /'; fi
done

# A run killed right after its first change. One change at a time, so the first change's outcome
# is committed before the second starts; the lab kills the process inside that second write,
# before the write commits.
rm -f "$tmp"/*.sqlite* "$tmp"/*.lock
"$converge" lab init "$world" >/dev/null
lab_rows >"$tmp/fresh.rows"
(CONVERGE_LAB_FAULTS=kill_nth=2 exec "$converge" "$M" --parallelism 1 >"$tmp/killed.out" 2>&1)
check "the run is killed inside its second change" test $? -eq 137
# The first change creates an OU, which holds data: its undo is a delete that needs the flag.
expect "the killed run is undone" 0 'note: run 1 \(run, started .*\) was interrupted' \
  'Apply: 1 applied, 0 failed, 0 skipped, 0 blocked' 'Recorded as run 2' \
  -- "$converge" undo 1 --yes --allow-destroy
lab_rows >"$tmp/undone.rows"
check "after the undo the lab is as it was before the killed run" \
  test -s "$tmp/fresh.rows" -a "$(cat "$tmp/fresh.rows")" = "$(cat "$tmp/undone.rows")"
expect "the journal shows the first change applied and the second interrupted" 0 \
  '^run 1: run, interrupted' '1\. create [a-z_.]+: applied' '2\. create [a-z_.]+: interrupted' \
  -- "$converge" show 1

# A run whose output nobody reads any more (its terminal or pipe closed) is not killed by
# SIGPIPE halfway through: every write fails with EPIPE, and the run goes on to the end.
rm -f "$tmp"/*.sqlite* "$tmp"/*.lock
"$converge" lab init "$world" >/dev/null
python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)  # the reader is gone before the run starts
rc = subprocess.run(sys.argv[1:], stdout=w, stderr=w).returncode
sys.exit(128 - rc if rc < 0 else rc)  # killed by signal N: 128 + N, as the shell says' "$converge" "$M"
check "a run writing into a closed pipe finishes (exit $?, 141 would be SIGPIPE)" test $? -eq 0
expect "and it converged everything" 0 'Plan: 0 to create, 0 to update, 0 to delete, 59 unchanged' \
  -- "$converge" plan --detailed-exitcode "$M"

# Two runs at once.
rm -f "$tmp"/*.sqlite* "$tmp"/*.lock
"$converge" lab init "$world" >/dev/null
CONVERGE_LAB_FAULTS=latency_ms=40 "$converge" "$M" --parallelism 1 >"$tmp/first.out" 2>&1 &
first=$!
if wait_for "$tmp/lab.sqlite" '' 10 && wait_for "$tmp/journal.sqlite.lock" '^pid [0-9]+' 30; then
  expect "a second run fails at once, naming the holder" 1 'another converge run holds the lock' "pid $first on .* since .*\(converge " \
    -- "$converge" "$M"
  expect "a run with --wait queues behind it and then finds nothing to do" 0 'waiting for the lock held by pid' \
    'Apply: 0 applied, 0 failed' -- "$converge" "$M" --wait
  wait $first
  check "the first run converged" test $? -eq 0
else
  failed=$((failed + 1)); echo "FAIL the first run never took the lock"; wait $first
fi
expect "the final state is correct" 0 'Plan: 0 to create, 0 to update, 0 to delete, 59 unchanged, 0 blocked' \
  -- "$converge" plan --detailed-exitcode "$M"
finish
