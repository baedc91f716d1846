#!/usr/bin/env bash
# Bad-manifest corpus: every tests/bad/NNN_name.toml is wrong in exactly one way.
#
# Usage: tests/bad/run.sh CONVERGE SOURCE_DIR
#
# For each case, runs both `converge plan FILE` and `converge FILE` (observe + plan + apply)
# against a pristine lab and checks that
#   - the exit code is exactly 65 (invalid manifest),
#   - every `# expect: SUBSTRING` header line of the file appears in stderr,
#   - the lab file (and any -wal file) is byte-for-byte unchanged.
# Prints `ok NAME` or `FAIL NAME: reason` per case, then `N passed, M failed`.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 CONVERGE SOURCE_DIR" >&2
  exit 64
fi
CONVERGE=$(realpath "$1")
SRC=$(realpath "$2")
CASES_DIR="$SRC/tests/bad"
WORLD="$SRC/manifests/labs/exchange2007-fresh.toml"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LAB="$TMP/lab.sqlite"
WORK="$TMP/cwd"
mkdir -p "$WORK"
cd "$WORK" || exit 1   # any .converge/ the engine creates lands in the temp dir, not the repo

if ! "$CONVERGE" lab init "$WORLD" --lab "$LAB" >"$TMP/init.out" 2>&1; then
  echo "cannot create the lab:" >&2
  cat "$TMP/init.out" >&2
  exit 1
fi

lab_digest() {
  local f
  for f in "$LAB" "$LAB-wal"; do
    if [ -e "$f" ]; then sha256sum "$f" | cut -d' ' -f1; else echo "no $(basename "$f")"; fi
  done
}
PRISTINE=$(lab_digest)

# Runs converge with the lab; $@ are the subcommand and its arguments.
run_converge() {
  QMM_SERVICE_PASSWORD='Bad-Corpus-Pw1!' "$CONVERGE" "$@" --lab "$LAB"
}

passed=0
failed=0
shopt -s nullglob
cases=("$CASES_DIR"/*.toml)
if [ ${#cases[@]} -eq 0 ]; then
  echo "no cases in $CASES_DIR" >&2
  exit 1
fi

for file in "${cases[@]}"; do
  name=$(basename "$file" .toml)
  expects=()
  while IFS= read -r line; do
    expects+=("${line#\# expect: }")
  done < <(grep '^# expect: ' "$file")
  reasons=()
  if [ ${#expects[@]} -eq 0 ]; then
    reasons+=("no '# expect:' line in the file")
  fi
  for mode in plan run; do
    if [ "$mode" = plan ]; then args=(plan "$file"); else args=("$file"); fi
    run_converge "${args[@]}" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    err=$(cat "$TMP/err")
    printf -v "err_$mode" '%s' "$err"
    [ "$rc" -eq 65 ] || reasons+=("$mode: exit $rc, want 65")
    for e in "${expects[@]}"; do
      [[ "$err" == *"$e"* ]] || reasons+=("$mode: stderr lacks '$e'")
    done
    if [ "$(lab_digest)" != "$PRISTINE" ]; then
      reasons+=("$mode: the lab changed")
      # Later cases need a pristine lab again.
      rm -f "$LAB" "$LAB-wal" "$LAB-shm"
      "$CONVERGE" lab init "$WORLD" --lab "$LAB" >/dev/null 2>&1
      PRISTINE=$(lab_digest)
    fi
  done
  if [ ${#reasons[@]} -eq 0 ]; then
    echo "ok $name"
    passed=$((passed + 1))
  else
    joined=$(printf '; %s' "${reasons[@]}")
    echo "FAIL $name: ${joined#; }"
    echo "    stderr of plan:"
    printf '%s\n' "$err_plan" | sed 's/^/    | /'
    if [ "$err_run" != "$err_plan" ]; then
      echo "    stderr of run:"
      printf '%s\n' "$err_run" | sed 's/^/    | /'
    fi
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
