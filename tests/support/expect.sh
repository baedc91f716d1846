# Shared checks of the server end-to-end scripts (tests/dns/run.sh, tests/mail/run.sh). Source
# it after setting $tmp; it sets passed/failed and empties $tmp/all-output, which collects the
# output of every command run through expect (for the scripts' no-secret checks).
passed=0 failed=0
: >"$tmp/all-output"

# expect NAME RC PATTERN... -- CMD...: runs CMD, checks its exit code and that its combined output
# matches every extended regex PATTERN (one written NOT:REGEX must not match).
expect() {
  local name=$1 rc=$2
  shift 2
  local pats=()
  while [ "$1" != "--" ]; do
    pats+=("$1")
    shift
  done
  shift
  "$@" >"$tmp/out" 2>&1
  local got=$?
  cat "$tmp/out" >>"$tmp/all-output"
  local ok=1 why="" p
  [ "$got" -eq "$rc" ] || {
    ok=0
    why="exit $got, wanted $rc"
  }
  for p in "${pats[@]}"; do
    if [ "${p:0:4}" = "NOT:" ]; then
      if grep -Eq -- "${p:4}" "$tmp/out"; then
        ok=0
        why="$why; unexpected /${p:4}/"
      fi
    elif ! grep -Eq -- "$p" "$tmp/out"; then
      ok=0
      why="$why; missing /$p/"
    fi
  done
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $why"
    sed 's/^/     | /' "$tmp/out" | head -60
  fi
}

# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
  fi
}
