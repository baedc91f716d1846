#!/usr/bin/env bash
# End-to-end: the guide's "Testing the SMTP Connectors" against real servers. In the network
# namespace it runs in (ctest runs it under tools/testenv/netns.sh private) it starts BIND 9
# (tools/testenv/bind.sh) and a mail host, Postfix + Dovecot IMAP (tools/testenv/mail.sh); then
# the built converge creates target.local's MX and A records and its smtp_probe finds them,
# sends through Postfix and finds the message over IMAP. Effects are checked with dig, nsupdate
# and the Maildir, independently of converge.
#
# Usage: tests/mail/run.sh CONVERGE SOURCE_DIR
# Prints `ok NAME` / `FAIL NAME: why` per check, then `N passed, M failed`.
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 CONVERGE SOURCE_DIR" >&2
  exit 64
fi
converge=$(realpath "$1")
src=$(realpath "$2")
tmp=$(mktemp -d /tmp/converge-mail-e2e-XXXXXX)
chmod 711 "$tmp" # Postfix and Dovecot run as their own users below it
listener_pid=""
cleanup() {
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
  "$src/tools/testenv/mail.sh" stop "$tmp/mail" >/dev/null 2>&1
  "$src/tools/testenv/bind.sh" stop "$tmp/bind" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
for s in bind mail; do
  if ! "$src/tools/testenv/$s.sh" start "$tmp/$s" --watch-pid $$ >"$tmp/$s-start.log" 2>&1; then
    echo "FAIL $s did not start:"
    sed 's/^/     | /' "$tmp/$s-start.log" | tail -40
    echo "0 passed, 1 failed"
    exit 1
  fi
  # shellcheck disable=SC1090
  . "$tmp/$s/env"
done
server=$CONVERGE_TEST_DNS_SERVER
host=${server%:*}
port=${server##*:}
key=$CONVERGE_TEST_TSIG_KEY_FILE
probe_password=$(cat "$CONVERGE_TEST_IMAP_PASSWORD_FILE")
export CONVERGE_DNS_SERVER=$server CONVERGE_DNS_TSIG_KEY_FILE=$key
export CONVERGE_PROBE_PASSWORD=$probe_password
lab=(--lab "$tmp/lab.sqlite")  # the journal goes beside it; nothing is written in the repository
# shellcheck source=../support/expect.sh
. "$src/tests/support/expect.sh"

# The shipped manifest, pointed at this namespace's servers and the test mailbox.
M=$tmp/mail.toml
sed -e 's/^exchange_address = .*/exchange_address = "127.0.0.1"/' \
  -e "s/^imap_server = .*/imap_server = \"$CONVERGE_TEST_IMAP_SERVER\"/" \
  -e 's/qmm-test@target\.local/probe@target.local/' \
  -e "s|^type = \"mail\"\$|type = \"mail\"\nca_file = \"$CONVERGE_TEST_MAIL_CA\"\nstarttls = \"required\"\ntimeout = 5|" \
  "$src/manifests/exchange2007-target-mail.toml" >"$M"

mx() { dig +short +time=3 +tries=1 -p "$port" "@$host" target.local MX; }
nsupdate_target() { # update-line
  printf 'server %s %s\nzone target.local\n%s\nsend\n' "$host" "$port" "$1" | nsupdate -t 5 -k "$key"
}
# Messages in the probe mailbox (new and cur), by Dovecot's and Postfix's shared Maildir.
in_mailbox() { find "$CONVERGE_TEST_MAIL_DIR/target.local/probe" -type f -path '*/new/*' -o -type f -path '*/cur/*' 2>/dev/null | wc -l; }

# ---- the DNS rows and the probe converge together ----
expect "plan: records to create, the probe waits for them" 2 \
  '\+ dns_record\.target_mx' '\+ dns_record\.exch1' 'smtp_probe\.source_to_target' \
  'checked after its dependencies are applied' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"
expect "run: MX and A created, then the probe passes" 0 \
  'dns_record\.target_mx: created' 'dns_record\.exch1: created' 'smtp_probe\.source_to_target: check passed' \
  -- "$converge" run "$M" "${lab[@]}"
expect "dig sees the MX converge created" 0 '^10 exch1\.target\.local\.$' -- mx
check "the probe message was found and deleted" test "$(in_mailbox)" -eq 0
expect "second plan: nothing to do, the probe passes at plan time" 0 'No changes\.' \
  'Plan: 0 to create, 0 to update, 0 to delete, 4 unchanged, 0 blocked\.' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}" -vv
sed 's/^expect = "delivered"/expect = "accepted"/' "$M" >"$tmp/accepted.toml"
expect "expect = accepted: the message is accepted (and left in the mailbox)" 0 'No changes\.' \
  -- "$converge" plan --detailed-exitcode "$tmp/accepted.toml" "${lab[@]}"
check "the accepted message reached the Maildir" test "$(in_mailbox)" -ge 1

# ---- drift: the MX removed out of band ----
nsupdate_target "update delete target.local. MX"
expect "drift reports the missing MX and the failing probe" 2 \
  'dns_record\.target_mx' 'smtp_probe\.source_to_target' "no MX for target\.local at $host:$port" \
  -- "$converge" drift "$M" "${lab[@]}"
expect "drift --correct restores the MX and the probe passes again" 2 \
  'dns_record\.target_mx: created' 'smtp_probe\.source_to_target: check passed' 'NOT:CHECK FAILED' \
  -- "$converge" drift --correct "$M" "${lab[@]}"
expect "dig sees the restored MX" 0 '^10 exch1\.target\.local\.$' -- mx
expect "after the repair, no drift" 0 'NOT:smtp_probe' -- "$converge" drift "$M" "${lab[@]}"

# ---- Postfix refuses the recipient ----
"$src/tools/testenv/mail.sh" refuse "$tmp/mail" probe@target.local >/dev/null
expect "a refused recipient fails the probe with Postfix's reply" 0 \
  'RCPT TO:<probe@target\.local>: 550 5\.1\.1' 'User unknown in virtual mailbox table' \
  'MX exch1\.target\.local \(127\.0\.0\.1:25\)' \
  -- "$converge" plan "$M" "${lab[@]}"
"$src/tools/testenv/mail.sh" accept "$tmp/mail" probe@target.local >/dev/null
expect "accepted again: the probe passes" 0 'No changes\.' \
  -- "$converge" plan --detailed-exitcode "$M" "${lab[@]}"

# ---- a server that accepts TCP and never answers ----
mkfifo "$tmp/lport"
python3 "$src/tests/ldap/listener.py" "$tmp/listener.log" >"$tmp/lport" &
listener_pid=$!
read -r lport <"$tmp/lport"
sed "s/^expect = \"delivered\"/expect = \"accepted\"\nserver = \"127.0.0.1:$lport\"/" "$M" >"$tmp/silent.toml"
start=$(date +%s)
expect "a silent server fails the probe within its deadline" 0 \
  "server 127\.0\.0\.1:$lport: no greeting \(no answer within 5 s\)" \
  -- "$converge" plan "$tmp/silent.toml" "${lab[@]}"
check "... in under 20 s (timeout 5 s)" test $(($(date +%s) - start)) -lt 20

# ---- the probe's password appears nowhere ----
check "no probe password in any output" bash -c '! grep -qF -- "$1" "$2"' _ "$probe_password" "$tmp/all-output"
check "no probe password in the journal, lab or plans" bash -c '! grep -rqaF -- "$1" "$2"/*.sqlite* "$2"/*.toml' _ "$probe_password" "$tmp"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
