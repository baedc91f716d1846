#!/usr/bin/env bash
# No-op plan benchmark on the embedded lab: for each N, generate a manifest of N
# resources and a lab that already holds them, then time `converge plan` (wall, peak RSS) against
# two baselines measured in the same run: a raw SQLite dump of the lab's rows (the I/O floor) and
# `converge validate` (parse + validate + graph, no observation).
# Usage: tools/bench/lab_bench.sh [N ...]   (default: 10000 100000). Needs build/converge.
set -euo pipefail
cd "$(dirname "$0")/../.."
converge=${CONVERGE:-build/converge}
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000)
tmp=$(mktemp -d /tmp/converge-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# best-of-3 wall seconds and the peak RSS (MiB) of one command
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
best = None
for _ in range(3):
    t = time.perf_counter()
    p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if p.returncode not in (0,):
        sys.stderr.write(p.stderr.decode()); sys.exit(p.returncode)
    best = dt if best is None else min(best, dt)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{best:.3f} {rss:.0f}")
PY
}

echo "| N | converge plan (s) | peak RSS (MiB) | sqlite3 dump (s) | plan / dump | converge validate (s) | plan / validate |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  d="$tmp/$n"
  python3 tools/bench/gen_lab_bench.py "$n" "$d"
  "$converge" lab init "$d/world.toml" --lab "$d/lab.sqlite" >/dev/null
  # The plan must be a no-op: every resource observed equal.
  "$converge" plan --detailed-exitcode "$d/manifest.toml" --lab "$d/lab.sqlite" > "$d/plan.txt" \
    || { echo "plan for N=$n is not a no-op:"; tail -5 "$d/plan.txt"; exit 1; }
  read -r t_plan rss_plan < <(measure "$converge" plan "$d/manifest.toml" --lab "$d/lab.sqlite")
  read -r t_dump _ < <(measure sqlite3 "$d/lab.sqlite" "select type, key, attrs from objects")
  read -r t_val _ < <(measure "$converge" validate "$d/manifest.toml")
  python3 -c "print(f'| $n | $t_plan | $rss_plan | $t_dump | {$t_plan/$t_dump:.1f}x | $t_val | {$t_plan/$t_val:.2f}x |')"
done
