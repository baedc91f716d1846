#!/usr/bin/env bash
# Drift benchmark (issue #5): wall time of `converge drift` with no drift, on the guide's manifest
# and on the generated 100,000-resource manifest, against `converge plan` of the same manifest
# and lab measured in the same run; and the journal's size after 100 runs that each correct an
# out-of-band change. Usage: tools/bench/drift_bench.sh [N]   (default N = 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
converge=$PWD/${CONVERGE:-build/converge}
src=$PWD
n=${1:-100000}
tmp=$(mktemp -d /tmp/converge-drift-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export QMM_SERVICE_PASSWORD="bench-$RANDOM-Pw!"
best() {  # best-of-3 wall seconds of a command (its exit status is not judged: drift may exit 2)
  python3 - "$@" <<'PY'
import subprocess, sys, time
best = min((lambda t: (subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(f"{best:.3f}")
PY
}
cd "$tmp"
# The guide's manifest on a world where every check passes.
sed 's/installed_version = "6.5.8211.0"/installed_version = "6.5.8353.0"/' "$src/manifests/labs/exchange2007-fresh.toml" >ready.toml
printf '\n[software.mapi_cdo_exch2]\nhost = "EXCH2"\nproduct = "MAPI CDO"\ninstalled_version = "6.5.8353.0"\n' >>ready.toml
export CONVERGE_LAB=$tmp/guide.sqlite CONVERGE_JOURNAL=$tmp/guide-journal.sqlite
"$converge" lab init ready.toml >/dev/null
"$converge" "$src/manifests/exchange2007-target.toml" >/dev/null
"$converge" drift "$src/manifests/exchange2007-target.toml" >/dev/null  # exits 0: no drift
g_drift=$(best "$converge" drift "$src/manifests/exchange2007-target.toml")
g_plan=$(best "$converge" plan "$src/manifests/exchange2007-target.toml")

python3 "$src/tools/bench/gen_lab_bench.py" "$n" big >/dev/null
export CONVERGE_LAB=$tmp/big.sqlite CONVERGE_JOURNAL=$tmp/big-journal.sqlite
"$converge" lab init big/world.toml >/dev/null
"$converge" drift big/manifest.toml >/dev/null
b_drift=$(best "$converge" drift big/manifest.toml)
b_plan=$(best "$converge" plan big/manifest.toml)

# 100 runs, each correcting an out-of-band change (2 changes journaled per run).
export CONVERGE_LAB=$tmp/guide.sqlite CONVERGE_JOURNAL=$tmp/j100.sqlite
for i in $(seq 1 50); do
  "$converge" "$src/manifests/examples/out-of-band-change.toml" --allow-destroy >/dev/null
  "$converge" drift "$src/manifests/exchange2007-target.toml" --correct >/dev/null || true
done
runs=$(sqlite3 j100.sqlite "select count(*) from runs")
changes=$(sqlite3 j100.sqlite "select count(*) from changes")
sqlite3 j100.sqlite "pragma wal_checkpoint(truncate)" >/dev/null
size=$(stat -c %s j100.sqlite)

echo "| manifest | resources | converge drift (s) | converge plan (s) | drift / plan |"
echo "|---|---|---|---|---|"
python3 -c "print(f'| guide | 58 | $g_drift | $g_plan | {$g_drift/$g_plan:.2f}x |')"
python3 -c "print(f'| generated | $n | $b_drift | $b_plan | {$b_drift/$b_plan:.2f}x |')"
echo
echo "journal after $runs runs ($changes changes journaled): $((size / 1024)) KiB"
