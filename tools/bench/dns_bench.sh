#!/usr/bin/env bash
# DNS benchmark (issue #4) against the test BIND 9 (tools/testenv/bind.sh, started here in a temp
# directory on 127.0.0.1 and stopped on exit): N A records plus one MX for every fifth host, all in
# zone target.local. Measured in the same run, best of R:
#   (a) the no-op `converge plan` of the populated zone (one transfer, every record compared) vs
#       one TSIG-signed `dig AXFR` of it;
#   (b) creating the records with `converge run` vs one `nsupdate` run that sends the same
#       records in batches of 1000 per UPDATE message.
# Prints a markdown table with the ratios, then where converge's time goes (-vv phase timings).
# Usage: tools/bench/dns_bench.sh [N] [R]   (default 5000 5). CONVERGE=path overrides build/converge.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
converge=$(realpath "${CONVERGE:-build/converge}")
n=${1:-5000}
reps=${2:-5}
zone=target.local
tmp=$(mktemp -d /tmp/converge-dns-bench-XXXXXX)
cleanup() {
  "$src/tools/testenv/bind.sh" stop "$tmp/bind" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$src/tools/testenv/bind.sh" start "$tmp/bind" --watch-pid $$ >"$tmp/bind.log" 2>&1 || {
  cat "$tmp/bind.log"
  exit 1
}
# shellcheck disable=SC1091
. "$tmp/bind/env"
key=$CONVERGE_TEST_TSIG_KEY_FILE
host=${CONVERGE_TEST_DNS_SERVER%:*}
port=${CONVERGE_TEST_DNS_SERVER##*:}
python3 tools/bench/dns/gen_dns_bench.py "$n" "$zone" "$CONVERGE_TEST_DNS_SERVER" "$key" "$tmp/in"
records=$((n + (n + 4) / 5))
lab=(--lab "$tmp/lab.sqlite")
cd "$tmp"

# wall seconds of one command (output discarded; a failure aborts the benchmark)
timed() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
if p.returncode != 0:
    sys.stderr.write(f"{sys.argv[1:]} exited {p.returncode}: {p.stderr.decode()[-2000:]}\n")
    sys.exit(1)
print(f"{dt:.4f}")
PY
}
min() { printf '%s\n' "$@" | sort -g | head -1; }
reset_zone() { nsupdate -t 30 -k "$key" "$tmp/in/delete.nsupdate" >/dev/null; }
count_zone() { dig +noall +answer -p "$port" "@$host" -k "$key" "$zone" AXFR | awk '$4 != "SOA"' | wc -l; }

# ---- (b) creating the records ----
declare -a t_run t_nsupdate
for ((i = 0; i < reps; i++)); do
  reset_zone
  t_run+=("$(timed "$converge" run "$tmp/in/manifest.toml" "${lab[@]}")")
  have=$(count_zone)
  [ "$have" -eq $((records + 1)) ] || { echo "converge created $have records, expected $records (+NS)"; exit 1; }
  reset_zone
  t_nsupdate+=("$(timed nsupdate -t 30 -k "$key" "$tmp/in/create.nsupdate")")
  have=$(count_zone)
  [ "$have" -eq $((records + 1)) ] || { echo "nsupdate created $have records, expected $records (+NS)"; exit 1; }
done

# ---- (a) the no-op plan of the populated zone ----
"$converge" plan --detailed-exitcode "$tmp/in/manifest.toml" "${lab[@]}" >"$tmp/noop.txt" 2>&1 ||
  { echo "the plan is not a no-op:"; tail -5 "$tmp/noop.txt"; exit 1; }
declare -a t_plan t_axfr t_validate
for ((i = 0; i < reps; i++)); do
  t_plan+=("$(timed "$converge" plan "$tmp/in/manifest.toml" "${lab[@]}")")
  t_axfr+=("$(timed dig -p "$port" "@$host" -k "$key" "$zone" AXFR)")
  t_validate+=("$(timed "$converge" validate "$tmp/in/manifest.toml")")
done
"$converge" plan "$tmp/in/manifest.toml" "${lab[@]}" -vv >/dev/null 2>"$tmp/phases.txt"
reset_zone
"$converge" run "$tmp/in/manifest.toml" "${lab[@]}" -vv >/dev/null 2>"$tmp/apply.txt"

plan=$(min "${t_plan[@]}")
axfr=$(min "${t_axfr[@]}")
validate=$(min "${t_validate[@]}")
run=$(min "${t_run[@]}") nsu=$(min "${t_nsupdate[@]}")
ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }
echo
echo "DNS benchmark: $n A + $((records - n)) MX records in zone $zone on BIND $(named -v | awk '{print $2}'), best of $reps"
echo
echo "| measurement | converge (s) | baseline (s) | ratio | target |"
echo "|---|---|---|---|---|"
echo "| (a) no-op plan vs one \`dig AXFR\` (TSIG) | $plan | $axfr | $(ratio "$plan" "$axfr") | ≤ 3x |"
echo "| (b) create $records records, \`converge run\` vs one \`nsupdate\` batch | $run | $nsu | $(ratio "$run" "$nsu") | ≤ 2x |"
echo "| converge validate (parse + graph, no DNS) vs \`dig AXFR\` | $validate | $axfr | $(ratio "$validate" "$axfr") | |"
echo
echo "Where a no-op plan's time goes (-vv):"
grep -E "debug ((load manifest|build graph|observe|plan|observe and plan): [0-9.]+ ms|dns: AXFR|dns: observed)" "$tmp/phases.txt" |
  sed 's/^[^ ]* debug /  /'
echo "Creating (-vv): $(grep -c "dns: UPDATE" "$tmp/apply.txt") UPDATE messages for $records changes," \
  "first at $(grep -m1 "dns: UPDATE" "$tmp/apply.txt" | cut -c12-23), last at $(grep "dns: UPDATE" "$tmp/apply.txt" | tail -1 | cut -c12-23)," \
  "plan done at $(grep -E "debug (plan|observe and plan): [0-9.]+ ms" "$tmp/apply.txt" | head -1 | cut -c12-23)"
