#!/usr/bin/env bash
# End-to-end: every network operation of the dns provider has a deadline. Against servers that
# accept connections and then stay silent, trickle one octet at a time, or drip a transfer that
# never ends (tests/dns/slow_server.py, on 127.0.0.1), `converge plan` / `converge run` fail with
# an error naming the server within a bound derived from the provider's timeout; and nothing
# converge prints or logs at -vv shows the TSIG secret.
#
# Usage: tests/dns/deadlines.sh CONVERGE SOURCE_DIR
# Prints `ok NAME` / `FAIL NAME: why` per check, then `N passed, M failed`.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 CONVERGE SOURCE_DIR" >&2
  exit 64
fi
converge=$(realpath "$1")
src=$(realpath "$2")
# shellcheck source=../e2e/lib.sh
. "$src/tests/e2e/lib.sh"

export DNS_DEADLINE_SECRET="ZGVhZGxpbmUtdGVzdC1zZWNyZXQtZG8tbm90LXByaW50IQ=="
: >"$tmp/all-output"
now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  echo $((t / 1000))
}

# serve ARGS...: starts slow_server.py ARGS in the background and sets $port once it listens
# (a blocking read of the line it prints: no polling).
serve() {
  rm -f "$tmp/port.fifo"
  mkfifo "$tmp/port.fifo"
  python3 "$src/tests/dns/slow_server.py" "$@" >"$tmp/port.fifo" &
  server_pid=$!
  read -r port <"$tmp/port.fifo"
}
stop_serving() { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }

# manifest FILE RESOURCE SETTING-LINES...: a dns provider for 127.0.0.1:$port with the settings
# given, and one resource: "zone" (dns_zone slow.test: the SOA query) or "record" (dns_record
# www.slow.test: the zone transfer, then an UPDATE when it is created).
manifest() {
  local file=$1 what=$2
  shift 2
  {
    printf '[provider.dns]\ntype = "dns"\nserver = "127.0.0.1:%s"\n' "$port"
    printf '%s\n' "$@"
    if [ "$what" = zone ]; then
      printf '\n[dns_zone.slow]\nname = "slow.test"\n'
    else
      printf '\n[dns_record.www]\nzone = "slow.test"\nname = "www"\ntype = "A"\nvalues = ["192.0.2.9"]\n'
    fi
  } >"$file"
}
signed=('tsig_name = "deadline-key"' 'tsig_secret = { env = "DNS_DEADLINE_SECRET" }')

# within NAME MAX_MS RC PATTERN... -- CMD...: expect() (lib.sh), and CMD took less than MAX_MS.
# CMD runs under timeout(1), so a missing deadline fails the check instead of hanging the suite.
within() {
  local name=$1 max=$2 rc=$3
  shift 3
  local pats=()
  while [ "$1" != "--" ]; do
    pats+=("$1")
    shift
  done
  shift
  local t0 took
  t0=$(now_ms)
  expect "$name" "$rc" "${pats[@]}" -- timeout 30 "$@" -vv --log-file "$tmp/log"
  took=$(($(now_ms) - t0))
  cat "$tmp/out" "$tmp/log" >>"$tmp/all-output" 2>/dev/null
  check "$name: took ${took} ms, bound ${max} ms" test "$took" -lt "$max"
}

# ---- one attempt of 1 s: each failure within 3 s ----
serve --soa silent
manifest "$tmp/zone.toml" zone "${signed[@]}" 'timeout = 1' 'attempts = 1'
within "SOA query, silent server" 3000 1 "no answer from 127\.0\.0\.1:$port within 1 s" \
  -- "$converge" plan "$tmp/zone.toml"
stop_serving

serve --soa trickle
manifest "$tmp/zone.toml" zone "${signed[@]}" 'timeout = 1' 'attempts = 1'
within "SOA query, trickling server" 3000 1 \
  "incomplete answer from 127\.0\.0\.1:$port: [0-9]+ of 512 octets arrived within 1 s" \
  -- "$converge" plan "$tmp/zone.toml"
stop_serving

serve --axfr silent
manifest "$tmp/record.toml" record "${signed[@]}" 'timeout = 1' 'attempts = 1'
within "zone transfer, silent server" 3000 1 \
  "cannot transfer zone slow\.test\.: no answer from 127\.0\.0\.1:$port within 1 s" \
  -- "$converge" plan "$tmp/record.toml"
stop_serving

serve --axfr trickle
manifest "$tmp/record.toml" record "${signed[@]}" 'timeout = 1' 'attempts = 1'
within "zone transfer, trickling server" 3000 1 \
  "cannot transfer zone slow\.test\.: incomplete answer from 127\.0\.0\.1:$port: [0-9]+ of 512 octets" \
  -- "$converge" plan "$tmp/record.toml"

# Two attempts: the bound grows with them, the error says how many there were.
manifest "$tmp/record.toml" record "${signed[@]}" 'timeout = 1' 'attempts = 2'
within "zone transfer, trickling server, 2 attempts" 6000 1 \
  "incomplete answer from 127\.0\.0\.1:$port: .*\(2 attempts\)" \
  -- "$converge" plan "$tmp/record.toml"
stop_serving

# Every message arrives within the timeout, but the transfer never ends: transfer_timeout ends it.
serve --axfr drip
manifest "$tmp/record.toml" record 'allow_unsigned = true' 'timeout = 1' 'attempts = 1' \
  'transfer_timeout = 2'
within "zone transfer that never ends" 6000 1 \
  "cannot transfer zone slow\.test\.: the transfer from 127\.0\.0\.1:$port did not finish within 2 s \(transfer_timeout\)" \
  -- "$converge" plan "$tmp/record.toml"
stop_serving

# UPDATE: observation succeeds, the update is never answered (whole). The engine tries a change
# 3 times: each attempt within 3x the timeout.
serve --update trickle
manifest "$tmp/record.toml" record 'allow_unsigned = true' 'timeout = 1' 'attempts = 1'
within "UPDATE, trickling server" 9000 1 \
  "dns_record\.www: .*incomplete answer from 127\.0\.0\.1:$port: [0-9]+ of 512 octets" \
  -- "$converge" run "$tmp/record.toml"
stop_serving

serve --update silent
manifest "$tmp/record.toml" record 'allow_unsigned = true' 'timeout = 1' 'attempts = 1'
within "UPDATE, silent server" 9000 1 "dns_record\.www: .*no answer from 127\.0\.0\.1:$port within 1 s" \
  -- "$converge" run "$tmp/record.toml"
stop_serving

# The TSIG secret never appears in anything converge printed or logged (all of it ran at -vv).
check "diagnostics were captured" grep -q "dns: provider dns for 127.0.0.1" "$tmp/all-output"
no_secret() { ! grep -qF -- "$DNS_DEADLINE_SECRET" "$tmp/all-output"; }
check "the TSIG secret appears in no output or log" no_secret
finish
