#!/usr/bin/env bash
# What converge protects, attacked from outside:
# 1. Values from references never appear in errors: a provider setting from { env } that the
#    provider rejects is named by its reference.
# 2. Writes never follow symbolic links: links planted at the lock file, --report, --metrics and
#    --out paths (and at the PATH.tmp names older versions wrote through) leave their victim
#    untouched.
# 3. State is private: .converge 0700 (an existing 0755 one is tightened), journal, lab, lock,
#    plan and report 0600 (metrics 0644: a collector reads them as another user).
# 4. A { file } secret that is a FIFO or too big is refused at once, naming the reference.
# 5. --timeout: a write that hangs (lab fault latency) ends the run with exit 124 within a bound,
#    naming the change it waited for; the process cannot write a core file; the next run
#    reports the run interrupted.
# 6. The shipped systemd unit and cron line: own user, umask 0077, read-only system, deadlines.
# Usage: security.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
. "$src/tests/e2e/lib.sh"
unset CONVERGE_LAB
export SEC_PW='Sec-Pw-1234!x'
world="$src/manifests/labs/exchange2007-fresh.toml"
cat >"$tmp/m.toml" <<'TOML'
[ou.svc]
name = "Security Test"
path = "DC=target,DC=local"

[account.svc]
name = "SEC_SVC"
path = "${ou.svc.dn}"
password = { env = "SEC_PW" }
TOML
fresh() {  # fresh DIR: a new working directory with a pristine lab in DIR/.converge
  rm -rf "$1" && mkdir -p "$1" && cd "$1" && "$converge" lab init "$world" >/dev/null
}
mode() { stat -c %a "$1"; }

# 1. A value from { env } in a provider's error.
cat >"$tmp/ldap.toml" <<'TOML'
[provider.dc]
type = "ldap"
url = { env = "SEC_URL" }
base_dn = "DC=target,DC=local"
bind_dn = "admin@target.local"
password = { env = "SEC_PW" }

[ou.svc]
name = "Security Test"
path = "DC=target,DC=local"
TOML
fresh "$tmp/w1"
SEC_URL="the-secret-$RANDOM-value" "$converge" plan "$tmp/ldap.toml" >"$tmp/out" 2>&1
rc=$?
check "a provider's error names the reference (exit 65)" [ $rc -eq 65 ]
check "  ... as env:SEC_URL" grep -q "env:SEC_URL" "$tmp/out"
check "  ... never the value" bash -c "! grep -q 'the-secret-' '$tmp/out'"

# 2. Symbolic links planted at every path converge writes.
fresh "$tmp/w2"
echo "precious" >"$tmp/victim"
ln -s "$tmp/victim" .converge/journal.sqlite.lock
expect "a symlink at the lock file is refused" 1 "lock file .*journal.sqlite.lock: it is a symbolic link" \
  -- "$converge" "$tmp/m.toml"
rm .converge/journal.sqlite.lock
for p in report.json metrics.prom plan.json; do
  ln -s "$tmp/victim" "$p"
  ln -s "$tmp/victim" "$p.tmp"
done
expect "drift --report/--metrics through planted links" 2 "drifted" \
  -- "$converge" drift "$tmp/m.toml" --report report.json --metrics metrics.prom
expect "plan --out through a planted link" 0 "Saved the plan" -- "$converge" plan "$tmp/m.toml" --out plan.json
check "  ... the victim is unchanged" [ "$(cat "$tmp/victim")" = precious ]
for p in report.json metrics.prom plan.json; do
  check "  ... $p is a new regular file" bash -c "[ -f '$p' ] && [ ! -L '$p' ] && [ -s '$p' ]"
done
check "  ... report written whole" grep -q '"drifted"' report.json

# 3. Modes of the state and of what converge writes.
fresh "$tmp/w3"
chmod 0755 .converge
"$converge" "$tmp/m.toml" >"$tmp/out" 2>&1
check "a run succeeds" grep -q "Apply: 2 applied" "$tmp/out"
"$converge" plan "$tmp/m.toml" --out plan.json >/dev/null 2>&1
"$converge" drift "$tmp/m.toml" --report report.json --metrics metrics.prom >/dev/null 2>&1
check "existing .converge tightened to 0700" [ "$(mode .converge)" = 700 ]
for f in .converge/journal.sqlite .converge/journal.sqlite.lock .converge/lab.sqlite plan.json report.json; do
  check "  $f is 0600" [ "$(mode "$f")" = 600 ]
done
check "  metrics.prom is 0644 (for the collector's user; counts only)" [ "$(mode metrics.prom)" = 644 ]
rm -rf "$tmp/w3b" && mkdir "$tmp/w3b" && cd "$tmp/w3b"
"$converge" plan "$tmp/m.toml" >/dev/null 2>&1
check "a new .converge is 0700" [ "$(mode .converge)" = 700 ]

# 4. { file } secrets: regular files of at most 64 KiB.
fresh "$tmp/w4"
sed 's/password = { env = "SEC_PW" }/password = { file = "pw" }/' "$tmp/m.toml" >f.toml
mkfifo pw
expect "a FIFO secret is refused at once" 65 "account.svc: secret: file:pw: not a regular file" \
  -- timeout 20 "$converge" plan f.toml
rm pw && head -c 70000 /dev/zero | tr '\0' 'S' >pw
expect "a secret file over 64 KiB is refused" 65 "secret: file:pw: larger than 65536 bytes" \
  -- "$converge" plan f.toml
check "  ... none of it printed" bash -c "! grep -q SSSS '$tmp/out'"

# 5. A hanging write and --timeout.
fresh "$tmp/w5"
start=$SECONDS
(CONVERGE_LAB_FAULTS=latency_ms=600000 exec "$converge" "$tmp/m.toml" --parallelism 1 --timeout 2s \
  >"$tmp/hang.out" 2>&1) &
pid=$!
check "the run cannot write a core file (limit 0)" wait_for "/proc/$pid/limits" "^Max core file size +0 +0 " 10
wait $pid
rc=$?
elapsed=$((SECONDS - start))
check "a hanging write ends with exit 124 (got $rc)" [ $rc -eq 124 ]
check "  ... within 15s (took ${elapsed}s)" [ $elapsed -lt 15 ]
check "  ... naming what it waited for" grep -Eq \
  "deadline \(--timeout 2s\) passed while applying 2 change\(s\); waiting for the provider on: ou.svc" "$tmp/hang.out"
expect "the next run reports it interrupted and converges" 0 "note: run 1 .* was interrupted" \
  "Apply: [12] applied, 0 failed" -- "$converge" "$tmp/m.toml"
expect "--timeout takes a duration" 64 "--timeout: 'soon' is not a duration" -- "$converge" "$tmp/m.toml" --timeout soon

# 6. The shipped unit: another user than root, private files, a read-only system, a deadline.
unit="$src/tools/systemd/converge-drift.service"
for directive in '^User=converge$' '^UMask=0077$' '^ProtectSystem=strict$' '^ReadWritePaths=/var/lib/converge' \
  '^TimeoutStartSec=' '^LimitCORE=0$' '^ExecStart=.* --timeout '; do
  check "converge-drift.service has $directive" grep -Eq "$directive" "$unit"
done
check "the cron line sets a umask and a --timeout" grep -Eq 'umask 077 .* --timeout ' \
  "$src/tools/systemd/converge-drift.cron"
cd "$tmp" || exit 1
finish
