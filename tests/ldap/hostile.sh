#!/usr/bin/env bash
# The ldap provider against servers that misbehave, without a directory: loopback listeners
# (tests/ldap/listener.py) that accept TCP and never answer, and a port nobody listens on.
#
#   tests/ldap/hostile.sh CONVERGE SOURCE_DIR
#
# 1. A URL list "ldaps://DEAD ldap://LISTENER" (and the comma form) is refused before anything is
#    sent: the plain listener records no byte, and the error says why.
# 2. A TLS handshake that never completes (ldaps://, and ldap:// with StartTLS) ends within
#    3 x timeout with a non-zero exit and an error naming the host and port.
# Only 127.0.0.1 is contacted.
set -uo pipefail
(($# == 2)) || {
  echo "usage: $0 CONVERGE SOURCE_DIR" >&2
  exit 2
}
CONVERGE=$(readlink -f "$1")
SRC=$(readlink -f "$2")
TMP=$(mktemp -d /tmp/converge-ldap-hostile.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
export LDAP_TEST_PASSWORD="hostile-$RANDOM-$RANDOM-pw"

passed=0 failed=0
check() { # description command...
  local d=$1
  shift
  if "$@"; then
    echo "ok   - $d"
    passed=$((passed + 1))
  else
    echo "FAIL - $d"
    failed=$((failed + 1))
    [[ -f $TMP/out ]] && sed 's/^/     | /' "$TMP/out" | head -20
  fi
}

# start_listener NAME: a listener whose port is in $PORT and whose log is $TMP/NAME.log. The
# read blocks until the listener prints its port, i.e. until it listens.
start_listener() {
  local fd
  exec {fd}< <(exec python3 "$SRC/tests/ldap/listener.py" "$TMP/$1.log")
  pids+=($!)
  read -r PORT <&"$fd"
}

manifest() { # URL [EXTRA-SETTING-LINE]
  cat >"$TMP/m.toml" <<TOML
[provider.ad]
type = "ldap"
url = "$1"
base_dn = "DC=target,DC=local"
bind_dn = "CN=Administrator,CN=Users,DC=target,DC=local"
password = { env = "LDAP_TEST_PASSWORD" }
timeout = 2
${2:-}

[ou.canary]
name = "Canary"
path = "DC=target,DC=local"
TOML
}

# plan: converge plan of $TMP/m.toml; $RC, $SECS, output in $TMP/out.
plan() {
  local t0=$EPOCHREALTIME
  "$CONVERGE" --no-color --lab "$TMP/lab.sqlite" plan "$TMP/m.toml" >"$TMP/out" 2>&1
  RC=$?
  SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}
says() { grep -qF -- "$1" "$TMP/out"; }
within() { awk -v s="$SECS" -v m="$1" 'BEGIN { exit !(s < m) }'; }

# ---- 1. no downgrade through a URL list ----------------------------------------------------------
start_listener plain
DEAD=1 # nothing listens on port 1 of 127.0.0.1
for url in "ldaps://127.0.0.1:$DEAD ldap://127.0.0.1:$PORT" "ldaps://127.0.0.1:$DEAD,ldap://127.0.0.1:$PORT"; do
  manifest "$url" "starttls = false"
  plan
  check "mixed URL list '$url': non-zero exit" test "$RC" != 0
  check "mixed URL list: the error says the list mixes schemes" says "mixes ldaps:// and ldap://"
  manifest "$url"
  plan
  check "mixed URL list with StartTLS: refused as well" says "mixes ldaps:// and ldap://"
done
check "the plain-text listener received nothing (no bind, no request)" test ! -s "$TMP/plain.log"

# ---- 2. a handshake that never completes is bounded ----------------------------------------------
start_listener silent
manifest "ldaps://127.0.0.1:$PORT"
plan
check "ldaps:// to a silent server: non-zero exit" test "$RC" != 0
check "ldaps:// to a silent server: ends within 3 x timeout (${SECS}s)" within 6
check "ldaps:// to a silent server: the error names host and port" says "127.0.0.1:$PORT"
check "ldaps:// to a silent server: the error says it timed out" says "within 2 s (timeout)"
check "ldaps:// to a silent server: the error names the resource" says "ou.canary"
manifest "ldap://127.0.0.1:$PORT" "starttls = true"
plan
check "ldap:// + StartTLS to a silent server: non-zero exit" test "$RC" != 0
check "ldap:// + StartTLS to a silent server: ends within 3 x timeout (${SECS}s)" within 6
check "ldap:// + StartTLS to a silent server: the error names host and port" says "127.0.0.1:$PORT"
check "ldap:// + StartTLS to a silent server: the error says it timed out" says "StartTLS with"
check "the password appears in no output" bash -c '! grep -rqaF -- "$1" "$2"' _ "$LDAP_TEST_PASSWORD" "$TMP"

echo "$passed passed, $failed failed"
((failed == 0))
