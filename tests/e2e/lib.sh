# Shared helpers for the end-to-end scripts: a temp dir, expect(), counters, a lab world where
# every prerequisite check passes. Source it after setting converge and src.
tmp=$(mktemp -d /tmp/converge-e2e-XXXXXX)
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
export QMM_SERVICE_PASSWORD="e2e-$RANDOM-$RANDOM-Pw!"
export CONVERGE_LAB="$tmp/lab.sqlite"
unset CONVERGE_LAB_FAULTS CONVERGE_JOURNAL
M="$src/manifests/exchange2007-target.toml"
passed=0 failed=0

# expect NAME RC PATTERN... -- CMD...: runs CMD; checks its exit code and that its combined
# output matches every extended regex PATTERN.
expect() {
  local name=$1 rc=$2
  shift 2
  local pats=()
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  "$@" >"$tmp/out" 2>&1
  local got=$? ok=1 why=""
  [ "$got" -eq "$rc" ] || { ok=0; why="exit $got, wanted $rc"; }
  for p in "${pats[@]}"; do grep -Eq -- "$p" "$tmp/out" || { ok=0; why="$why; missing /$p/"; }; done
  if [ $ok -eq 1 ]; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name: $why"; sed 's/^/     | /' "$tmp/out" | head -40; fi
}
check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
# A world like the fresh one, but with MAPI CDO current on both agent hosts: the guide's
# manifest then converges completely.
ready_world() {
  sed 's/installed_version = "6.5.8211.0"/installed_version = "6.5.8353.0"/' "$src/manifests/labs/exchange2007-fresh.toml" >"$tmp/ready.toml"
  printf '\n[software.mapi_cdo_exch2]\nhost = "EXCH2"\nproduct = "MAPI CDO"\ninstalled_version = "6.5.8353.0"\n' >>"$tmp/ready.toml"
  echo "$tmp/ready.toml"
}
# Every row of the lab, in a stable order: "byte-identical" comparisons use this.
lab_rows() {
  sqlite3 "$CONVERGE_LAB" "select type, key, hex(attrs) from objects order by 1, 2; select dn, type, key from dns order by 1;
    select dn, attr, hex(value) from ldap_attrs order by 1, 2;"
}
# wait_for FILE REGEX SECONDS: polls until FILE matches (a condition, not a fixed sleep).
wait_for() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
