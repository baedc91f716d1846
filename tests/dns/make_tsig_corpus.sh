#!/usr/bin/env bash
# Regenerates tests/dns/fuzz_corpus_tsig: zone transfers recorded from a real BIND 9 (started here
# on 127.0.0.1 with the key of providers/dns/dns_replay_test_support.h), plus variants with one fault each.
# Each file is a recording in the format dns_replay_test_support.h describes: the clock, dig's signed AXFR
# request, BIND's answers. A python relay between dig and named records the bytes.
#
# Usage: tests/dns/make_tsig_corpus.sh [OUT_DIR]   (default: tests/dns/fuzz_corpus_tsig)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$src/tests/dns/fuzz_corpus_tsig}")
key_name=converge-fuzz
secret=$(sed -n 's/.*"hmac-sha256\.", "\([^"]*\)".*/\1/p' "$src/providers/dns/dns_replay_test_support.h")
[ -n "$secret" ] || { echo "no key in dns_replay_test_support.h" >&2; exit 1; }
tmp=$(mktemp -d /tmp/converge-tsig-corpus-XXXXXX)
named_pid=""
cleanup() {
  if [ -n "$named_pid" ]; then kill "$named_pid" 2>/dev/null; wait "$named_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

printf 'key "%s" { algorithm hmac-sha256; secret "%s"; };\n' "$key_name" "$secret" >"$tmp/key.conf"
zone_file() { # ZONE RECORDS
  {
    echo "\$TTL 300"
    echo "@ IN SOA ns.$1. hostmaster.$1. ( 7 3600 600 86400 60 )"
    echo "@ IN NS ns.$1."
    echo "ns IN A 127.0.0.1"
    for i in $(seq 1 "$2"); do echo "h$i IN A 192.0.2.$i"; done
    echo "@ IN MX 10 h1.$1."
    echo "@ IN TXT \"recorded for the fuzz corpus\""
  } >"$tmp/$1.db"
}
zone_file one.fuzz 4
zone_file many.fuzz 4
zone_file closed.fuzz 1
# start_named FORMAT: named on $port, sending transfers in FORMAT (one-answer: one record per
# message, so a small zone makes a stream of many signed messages).
start_named() {
  if [ -n "$named_pid" ]; then kill "$named_pid"; wait "$named_pid" 2>/dev/null || true; fi
  cat >"$tmp/named.conf" <<EOF
include "$tmp/key.conf";
options {
  directory "$tmp";
  pid-file "$tmp/named.pid";
  session-keyfile "$tmp/session.key";
  managed-keys-directory "$tmp";
  listen-on port $port { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  empty-zones-enable no;
  transfer-format $1;
};
controls { };
zone "one.fuzz" { type primary; file "$tmp/one.fuzz.db"; allow-transfer { key $key_name; }; };
zone "many.fuzz" { type primary; file "$tmp/many.fuzz.db"; allow-transfer { key $key_name; }; };
zone "closed.fuzz" { type primary; file "$tmp/closed.fuzz.db"; allow-transfer { none; }; };
EOF
  named -g -4 -c "$tmp/named.conf" </dev/null >"$tmp/named.log" 2>&1 &
  named_pid=$!
  local _
  for _ in $(seq 1 300); do # named takes a moment to load; ask until it answers (bounded)
    dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 many.fuzz SOA >/dev/null 2>&1 && return 0
  done
  echo "named did not start:" >&2
  cat "$tmp/named.log" >&2
  exit 1
}

# record NAME ZONE KEY-SPEC: dig's AXFR through a relay that writes the recording OUT/NAME.
record() {
  local name=$1 zone=$2 key=$3 relay_port
  coproc RELAY { python3 - "$port" "$out/$name" <<'PY'
import socket, struct, sys, threading, time
upstream, path = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", upstream))
now = int(time.time())
up, down = bytearray(), bytearray()
def pump(a, b, buf):
    while True:
        d = a.recv(65536)
        if not d:
            break
        buf.extend(d)
        b.sendall(d)
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
t = threading.Thread(target=pump, args=(c, s, up))
t.start()
pump(s, c, down)
t.join()
open(path, "wb").write(struct.pack("!Q", now) + bytes(up) + bytes(down))
PY
  }
  # shellcheck disable=SC2153 # RELAY_PID is set by coproc
  local relay_pid=$RELAY_PID
  read -r relay_port <&"${RELAY[0]}"
  dig +noall +answer +tcp +time=3 +tries=1 -p "$relay_port" @127.0.0.1 -y "$key" "$zone" AXFR >/dev/null || true
  wait "$relay_pid"
}

mkdir -p "$out"
rm -f "$out"/*.bin
start_named many-answers
record axfr_many_answers.bin many.fuzz "hmac-sha256:$key_name:$secret"
start_named one-answer
record axfr_one_answer.bin one.fuzz "hmac-sha256:$key_name:$secret"
record axfr_refused.bin closed.fuzz "hmac-sha256:$key_name:$secret"
record axfr_badkey.bin one.fuzz "hmac-sha256:unknown-key:$secret"
record axfr_badsig.bin one.fuzz "hmac-sha256:$key_name:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="

# Variants of the one-answer transfer, one fault each (what an attacker on the path could send).
python3 - "$out" <<'PY'
import struct, sys
out = sys.argv[1]
data = open(out + "/axfr_one_answer.bin", "rb").read()
head, msgs, at = data[:8], [], 8
while at + 2 <= len(data):
    n = struct.unpack("!H", data[at:at + 2])[0]
    msgs.append(data[at + 2:at + 2 + n])
    at += 2 + n
def write(name, ms):
    open(out + "/" + name, "wb").write(head + b"".join(struct.pack("!H", len(m)) + m for m in ms))
def strip_tsig(m):
    # The TSIG record is the last one: its owner, the key name, uncompressed, then type 250.
    at = m.rfind(b"\x0dconverge-fuzz\x00\x00\xfa\x00\xff")
    assert at > 12, "no TSIG record"
    arcount = struct.unpack("!H", m[10:12])[0] - 1
    return m[:10] + struct.pack("!H", arcount) + m[12:at]
def flip_mac(m):
    b = bytearray(m)
    b[-10] ^= 0x01  # inside the MAC (then original id, error, other length follow)
    return bytes(b)
req, answers = msgs[0], msgs[1:]
assert len(answers) >= 3, "expected a transfer of several messages"
write("unsigned_second.bin", [req, answers[0], strip_tsig(answers[1])] + answers[2:])
write("badmac_second.bin", [req, answers[0], flip_mac(answers[1])] + answers[2:])
write("swapped.bin", [req, answers[0], answers[2], answers[1]] + answers[3:])
write("unsigned_first.bin", [req, strip_tsig(answers[0])] + answers[1:])
write("replayed_first.bin", [req, answers[0], answers[0]] + answers[1:])
write("truncated.bin", [req] + answers[:-1])
PY
ls -l "$out"
