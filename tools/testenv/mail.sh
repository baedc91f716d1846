#!/usr/bin/env bash
# Throw-away mail host for the converge test suite: Postfix (SMTP) and Dovecot (IMAP).
#
#   mail.sh start DIR [--watch-pid PID | --no-watch]
#   mail.sh refuse|accept DIR ADDRESS
#   mail.sh stop DIR [--clean]
#   mail.sh status DIR
#
# start  recreates everything below DIR (configurations, test CA, Maildirs of probe@ and
#        admin@target.local, random IMAP password DIR/imap.pass), runs Postfix on 127.0.0.1:25
#        (virtual domain target.local, no relaying, nothing is ever sent out) and Dovecot on
#        127.0.0.1:143 (plaintext login, STARTTLS offered), checks both, writes DIR/env. Ports
#        are fixed: run it in a network namespace of its own (netns.sh). A watchdog stops the
#        servers when the watched process exits (default: the parent of "mail.sh start").
# refuse/accept  remove/add ADDRESS in Postfix's mailbox table; returns once RCPT TO
#        answers accordingly (550 / 250).
# stop   terminates servers and watchdog (TERM, bounded wait, then KILL); --clean removes DIR.
# Nothing outside DIR is written and only 127.0.0.1 is contacted. See README.md.
set -euo pipefail

readonly HOST=127.0.0.1 SMTP_PORT=25 IMAP_PORT=143 DOMAIN=target.local
readonly USERS=(probe admin)
readonly MAIL_USER=mail # Debian base-passwd's uid 8: owns the Maildirs (Postfix and Dovecot)
readonly READY_TIMEOUT_S=30 STOP_TIMEOUT_S=10
readonly POSTFIX_EXES='/usr/lib/postfix/sbin/*' DOVECOT_EXES='/usr/sbin/dovecot:/usr/lib/dovecot/*'
SELF=$(readlink -f "${BASH_SOURCE[0]}")
readonly SELF

log() { printf 'mail.sh: %s\n' "$*"; }
die() {
  printf 'mail.sh: error: %s\n' "$*" >&2
  exit 1
}
fail() { # like die, after showing the servers' logs
  tail -n 20 "$DIR/postfix.log" "$DIR/dovecot.log" >&2 2>/dev/null || true
  die "$1 (logs: $DIR/postfix.log, $DIR/dovecot.log)"
}
now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  echo $((t / 1000))
}
resolve_dir() { # as in bind.sh: DIR is embedded in configuration files and in DIR/env
  local d=$1
  [[ -n "$d" ]] || die "DIR must not be empty"
  if [[ "$2" == yes ]]; then mkdir -p -- "$d"; fi
  [[ -d "$d" ]] || die "$d is not a directory"
  d=$(cd -- "$d" && pwd -P)
  [[ "$d" =~ ^/[A-Za-z0-9._/+-]*$ && "$d" != / ]] || die "DIR '$d' must not be / and only contain [A-Za-z0-9._/+-]"
  printf '%s' "$d"
}

# PIDs in process group $1 whose executable matches one of the ':'-separated globs in $2
# (guards against PID/PGID reuse: only our own binaries are ever signalled).
group_members() {
  local p exe pat
  [[ "$1" =~ ^[0-9]+$ ]] || return 0
  for p in $(pgrep -g "$1" 2>/dev/null || true); do
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    for pat in ${2//:/ }; do
      # shellcheck disable=SC2053 # glob match intended
      if [[ "$exe" == $pat ]]; then echo "$p" && break; fi
    done
  done
}
kill_group() { # pgid exe-globs timeout_s: TERM (the leader only, if alive: both masters stop
  local deadline sig # their children in order), bounded wait, then KILL everything
  local -a pids
  for sig in TERM KILL; do
    mapfile -t pids < <(group_members "$1" "$2")
    ((${#pids[@]})) || return 0
    if [[ $sig == KILL ]]; then
      log "process group $1 did not exit after ${3}s, sending KILL"
    elif [[ " ${pids[*]} " == *" $1 "* ]]; then
      pids=("$1")
    fi
    kill "-$sig" "${pids[@]}" 2>/dev/null || true
    deadline=$(($(now_ms) + $3 * 1000))
    while (($(now_ms) < deadline)); do
      mapfile -t pids < <(group_members "$1" "$2")
      ((${#pids[@]})) || return 0
      sleep 0.1
    done
  done
  die "could not kill process group $1: ${pids[*]}"
}
stop_one() { # NAME exe-globs timeout: DIR/NAME.pid holds the pgid of what start setsid'ed
  [[ -f "$DIR/$1.pid" ]] || return 0
  kill_group "$(<"$DIR/$1.pid")" "$2" "$3"
  rm -f -- "$DIR/$1.pid"
}
stop_all() {
  stop_one watchdog "$(readlink -f "$BASH"):$(readlink -f "$(command -v tail)")" 5
  stop_one dovecot "$DOVECOT_EXES" "$STOP_TIMEOUT_S"
  stop_one postfix "$POSTFIX_EXES" "$STOP_TIMEOUT_S"
}
running() { [[ -f "$DIR/$1.pid" && -n "$(group_members "$(<"$DIR/$1.pid")" "$2")" ]]; }

# Minimal SMTP/IMAP dialogues over bash's /dev/tcp, each in a subshell (the socket closes).
reply() { # FD: read one (multi-line) SMTP reply, print its last line
  local l
  while IFS= read -r -t 5 -u "$1" l; do
    l=${l%$'\r'}
    [[ $l == [0-9][0-9][0-9]-* ]] || { printf '%s\n' "$l" && return 0; }
  done
  return 1
}
smtp_rcpt() ( # ADDRESS: the reply to RCPT TO:<ADDRESS> after MAIL FROM:<x@example.org>
  exec 3<>"/dev/tcp/$HOST/$SMTP_PORT" && [[ $(reply 3) == 220* ]] || exit 1
  printf 'EHLO probe.invalid\r\n' >&3 && [[ $(reply 3) == 250* ]] &&
    printf 'MAIL FROM:<x@example.org>\r\n' >&3 && [[ $(reply 3) == 250* ]] &&
    printf 'RCPT TO:<%s>\r\n' "$1" >&3 && reply 3 && printf 'QUIT\r\n' >&3
) 2>/dev/null
imap_login() ( # USER PASS: the tagged reply to LOGIN
  exec 3<>"/dev/tcp/$HOST/$IMAP_PORT" && IFS= read -r -t 5 -u 3 l && [[ $l == '* OK'* ]] || exit 1
  printf 'a LOGIN "%s" "%s"\r\n' "$1" "$2" >&3
  while IFS= read -r -t 5 -u 3 l; do [[ $l != a\ * ]] || { printf '%s\n' "${l%$'\r'}" && break; }; done
  printf 'b LOGOUT\r\n' >&3
) 2>/dev/null
imap_ready() (exec 3<>"/dev/tcp/$HOST/$IMAP_PORT" && IFS= read -r -t 5 -u 3 l && [[ $l == '* OK'* ]]) 2>/dev/null
smtp_ready() (exec 3<>"/dev/tcp/$HOST/$SMTP_PORT" && [[ $(reply 3) == 220* ]]) 2>/dev/null
tls_ok() { # starttls-protocol port: the certificate verifies against DIR/tls/ca.pem
  openssl s_client -starttls "$1" -connect "$HOST:$2" -CAfile "$DIR/tls/ca.pem" -verify_return_error \
    -verify_ip "$HOST" </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'
}
wait_rcpt() { # ADDRESS REPLY-PREFIX: poll (bounded) until Postfix answers RCPT TO that way
  local deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000)) r=""
  until r=$(smtp_rcpt "$1") && [[ "$r" == "$2"* ]]; do
    (($(now_ms) < deadline)) || fail "RCPT TO:<$1> answered '$r', expected '$2…'"
    sleep 0.05
  done
}
# Postfix waits until main.cf or a texthash file is ~2 s old before reading it (it might
# still be being written); an older mtime avoids that delay.
backdate() { touch -d "@$((EPOCHSECONDS - 10))" "$@"; }

write_config() {
  local uid gid pass u d t="$DIR/tls"
  uid=$(id -u "$MAIL_USER") gid=$(id -g "$MAIL_USER")
  rm -rf -- "$DIR"/{postfix,queue,postfix-data,dovecot,mail,tls,vmailbox,imap.pass,imap.passwd,dovecot.conf}
  chmod 0711 "$DIR" # the postfix, dovecot and mail users must reach their files below DIR
  mkdir -m 0700 "$t"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/ca.key" \
    -out "$t/ca.pem" -days 3650 -subj "/CN=converge mail test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/server.key" -subj /CN=localhost 2>/dev/null |
    openssl x509 -req -CA "$t/ca.pem" -CAkey "$t/ca.key" -days 3650 -out "$t/server.pem" 2>/dev/null \
      -extfile <(printf '%s\n' "subjectAltName=IP:$HOST,DNS:localhost,DNS:*.$DOMAIN" "extendedKeyUsage=serverAuth")
  openssl verify -CAfile "$t/ca.pem" "$t/server.pem" >/dev/null || die "generated certificate does not verify"
  mkdir -p "$DIR/postfix" "$DIR/queue/pid" "$DIR/postfix-data" "$DIR/dovecot/state"
  for d in active bounce corrupt defer deferred flush hold incoming private saved trace maildrop public; do
    mkdir -m 0700 "$DIR/queue/$d"; chown postfix "$DIR/queue/$d"
  done
  chown postfix "$DIR/postfix-data"; chgrp postdrop "$DIR/queue/maildrop" "$DIR/queue/public"
  chmod 0730 "$DIR/queue/maildrop"; chmod 0710 "$DIR/queue/public"
  pass=$(openssl rand -hex 16)
  (umask 077 && printf '%s' "$pass" >"$DIR/imap.pass")
  pass=$(openssl passwd -6 -stdin <<<"$pass")
  for u in "${USERS[@]}"; do
    mkdir -p "$DIR/mail/$DOMAIN/$u/"{cur,new,tmp}
    echo "$u@$DOMAIN $DOMAIN/$u/" >>"$DIR/vmailbox"
    echo "$u@$DOMAIN:{SHA512-CRYPT}$pass" >>"$DIR/imap.passwd"
  done
  chown -R "$uid:$gid" "$DIR/mail"; chmod -R go-rwx "$DIR/mail"; backdate "$DIR/vmailbox"
  chgrp dovecot "$DIR/imap.passwd"; chmod 0640 "$DIR/imap.passwd"
  : >"$DIR/postfix/dynamicmaps.cf" # with meta_directory below: never read /etc/postfix
  printf '%s\n' "# Generated by tools/testenv/mail.sh. Loopback only; nothing is ever sent out." \
    "compatibility_level = 3.6" "meta_directory = $DIR/postfix" "queue_directory = $DIR/queue" \
    "data_directory = $DIR/postfix-data" "mail_owner = postfix" "setgid_group = postdrop" \
    "maillog_file = $DIR/postfix.log" "maillog_file_prefixes = $DIR" "biff = no" \
    "myhostname = mail.$DOMAIN" "mydomain = $DOMAIN" "myorigin = \$myhostname" "mydestination =" \
    "relay_domains =" "relayhost =" "inet_interfaces = $HOST" "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.2/32" "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination" \
    "virtual_mailbox_domains = $DOMAIN" "virtual_mailbox_maps = texthash:$DIR/vmailbox" \
    "virtual_mailbox_base = $DIR/mail" "virtual_uid_maps = static:$uid" "virtual_gid_maps = static:$gid" \
    "virtual_minimum_uid = $uid" "alias_maps =" "alias_database =" "local_recipient_maps =" \
    "local_transport = error:no local delivery on the test mail host" \
    "default_transport = error:the test mail host sends nothing out" \
    "relay_transport = error:the test mail host sends nothing out" "smtp_dns_support_level = disabled" \
    "smtpd_peername_lookup = no" "smtpd_banner = \$myhostname ESMTP" "smtpd_tls_security_level = may" \
    "smtpd_tls_cert_file = $t/server.pem" "smtpd_tls_key_file = $t/server.key" >"$DIR/postfix/main.cf"
  # Only the services needed, none chrooted (column 5).
  printf '%s\n' "$HOST:$SMTP_PORT inet n - n - - smtpd" "cleanup unix n - n - 0 cleanup" \
    "qmgr unix n - n 300 1 qmgr" "tlsmgr unix - - n 1000? 1 tlsmgr" "rewrite unix - - n - - trivial-rewrite" \
    "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" "trace unix - - n - 0 bounce" \
    "flush unix n - n 1000? 0 flush" "showq unix n - n - - showq" "error unix - - n - - error" \
    "retry unix - - n - - error" "virtual unix - n n - - virtual" "anvil unix - - n - 1 anvil" \
    "postlog unix-dgram n - n - 1 postlogd" >"$DIR/postfix/master.cf"
  backdate "$DIR"/postfix/*
  printf '%s\n' "# Generated by tools/testenv/mail.sh. Loopback only." "protocols = imap" "listen = $HOST" \
    "base_dir = $DIR/dovecot/run" "state_dir = $DIR/dovecot/state" "log_path = $DIR/dovecot.log" \
    "default_internal_user = dovecot" "default_login_user = dovenull" "auth_mechanisms = plain login" \
    "disable_plaintext_auth = no" "auth_failure_delay = 0" "ssl = yes" "ssl_cert = <$t/server.pem" \
    "ssl_key = <$t/server.key" "first_valid_uid = $uid" "last_valid_uid = $uid" "mail_uid = $uid" \
    "mail_gid = $gid" "mail_location = maildir:$DIR/mail/%d/%n" \
    "passdb {" "driver = passwd-file" "args = $DIR/imap.passwd" "}" \
    "userdb {" "driver = static" "args = uid=$uid gid=$gid home=$DIR/mail/%d/%n" "}" \
    "service imap-login {" "inet_listener imap {" "address = $HOST" "port = $IMAP_PORT" "}" \
    "inet_listener imaps {" "port = 0" "}" "}" >"$DIR/dovecot.conf"
  for u in postfix dovecot "$MAIL_USER"; do
    setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups test -x "$DIR" ||
      die "user $u cannot reach $DIR: a parent directory is not searchable (chmod o+x)"
  done
  d=$(postconf -c "$DIR/postfix" 2>&1 >/dev/null) || die "postconf failed: $d"
  [[ -z "$d" ]] || die "postconf complains about $DIR/postfix/main.cf: $d"
  doveconf -c "$DIR/dovecot.conf" >/dev/null || die "doveconf rejected $DIR/dovecot.conf"
}

cmd_start() {
  local watch=$PPID c t0 t1 deadline pass
  while (($#)); do
    case $1 in
      --no-watch) watch=0 ;;
      --watch-pid)
        [[ ${2:-} =~ ^[0-9]+$ ]] || die "--watch-pid needs a numeric PID"
        watch=$2 && shift
        ;;
      *) die "unknown start option: $1" ;;
    esac
    shift
  done
  for c in postconf dovecot doveconf openssl setsid setpriv pgrep ss tail; do
    command -v "$c" >/dev/null || die "required command '$c' not found (run tools/install-deps.sh --with-servers)"
  done
  for c in postfix dovecot dovenull "$MAIL_USER"; do id -u "$c" >/dev/null 2>&1 || die "user $c missing"; done
  getent group postdrop >/dev/null || die "group postdrop missing (package postfix)"
  [[ ! -e "$DIR/samba" && ! -e "$DIR/named.conf" ]] || die "$DIR belongs to samba.sh/bind.sh; use a DIR of its own"
  if running postfix "$POSTFIX_EXES" || running dovecot "$DOVECOT_EXES"; then
    die "mail servers already running for $DIR; run: $SELF stop $DIR"
  fi
  if [[ -f "$DIR/postfix.pid" || -f "$DIR/dovecot.pid" || -f "$DIR/watchdog.pid" ]]; then
    log "cleaning up after a previous run that did not stop cleanly" && stop_all
  fi
  rm -f -- "$DIR/env"
  for c in "$SMTP_PORT" "$IMAP_PORT"; do
    [[ -z "$(ss -Hltn "( sport = :$c )")" ]] || die "port $c in use (use a namespace: netns.sh): $(ss -Hltnp "( sport = :$c )")"
  done

  t0=$(now_ms)
  write_config
  trap 'rc=$?; if ((rc != 0)); then stop_all || true; fi' EXIT
  # As in bind.sh, $! is the server itself (setsid does not fork). Both stay in the foreground
  # (master -d, dovecot -F). Master logs its start-up errors (lock, bind) to syslog, or with
  # POSTLOG_* in its environment straight to maillog_file; dovecot's go to stderr.
  t1=$(now_ms)
  POSTLOG_SERVICE=postlog POSTLOG_HOSTNAME=mail.$DOMAIN setsid \
    "$(postconf -c "$DIR/postfix" -h daemon_directory)/master" -c "$DIR/postfix" -d </dev/null >>"$DIR/postfix.log" 2>&1 &
  echo "$!" >"$DIR/postfix.pid"
  setsid dovecot -F -c "$DIR/dovecot.conf" </dev/null >>"$DIR/dovecot.log" 2>&1 &
  echo "$!" >"$DIR/dovecot.pid"
  deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000))
  until smtp_ready && imap_ready; do
    # kill -0, not running(): right after the fork the child may not have exec'ed the server yet.
    kill -0 "$(<"$DIR/postfix.pid")" 2>/dev/null || fail "Postfix exited during startup"
    kill -0 "$(<"$DIR/dovecot.pid")" 2>/dev/null || fail "Dovecot exited during startup"
    (($(now_ms) < deadline)) || fail "the servers did not answer within ${READY_TIMEOUT_S}s"
    sleep 0.05
  done
  log "configuration written in $((t1 - t0)) ms; Postfix (pid $(<"$DIR/postfix.pid")) and Dovecot (pid $(<"$DIR/dovecot.pid")) answer $(($(now_ms) - t1)) ms after start"

  pass=$(<"$DIR/imap.pass")
  for c in "${USERS[@]}"; do
    wait_rcpt "$c@$DOMAIN" 250
    [[ $(imap_login "$c@$DOMAIN" "$pass") == "a OK"* ]] || fail "IMAP LOGIN $c@$DOMAIN failed"
  done
  wait_rcpt "nobody@$DOMAIN" "550 5.1.1 <nobody@$DOMAIN>: Recipient address rejected: User unknown in virtual mailbox table"
  wait_rcpt x@example.org "554 5.7.1 <x@example.org>: Relay access denied"
  [[ $(imap_login "probe@$DOMAIN" "wrong$pass") == "a NO"* ]] || fail "IMAP LOGIN with a wrong password not refused"
  tls_ok imap "$IMAP_PORT" || fail "IMAP STARTTLS does not verify against $DIR/tls/ca.pem"
  tls_ok smtp "$SMTP_PORT" || fail "SMTP STARTTLS does not verify against $DIR/tls/ca.pem"

  if ((watch > 1)); then
    kill -0 "$watch" 2>/dev/null || die "watched PID $watch does not exist"
    # shellcheck disable=SC2016 # expanded by the watchdog shell
    setsid "$BASH" -c 'tail --pid="$1" -f /dev/null; exec "$2" stop "$3" --from-watchdog' \
      watchdog "$watch" "$SELF" "$DIR" </dev/null >>"$DIR/watchdog.log" 2>&1 &
    echo "$!" >"$DIR/watchdog.pid"
    log "watchdog stops the servers when PID $watch exits"
  fi
  {
    echo "# Generated by tools/testenv/mail.sh; source this file."
    printf "export %s='%s'\n" CONVERGE_TEST_SMTP_SERVER "$HOST:$SMTP_PORT" \
      CONVERGE_TEST_IMAP_SERVER "$HOST:$IMAP_PORT" CONVERGE_TEST_IMAP_PASSWORD_FILE "$DIR/imap.pass" \
      CONVERGE_TEST_MAIL_DIR "$DIR/mail" CONVERGE_TEST_MAIL_DOMAIN "$DOMAIN" \
      CONVERGE_TEST_MAIL_USERS "${USERS[*]/%/@$DOMAIN}" CONVERGE_TEST_MAIL_CA "$DIR/tls/ca.pem"
  } >"$DIR/env.tmp.$$"; mv -f -- "$DIR/env.tmp.$$" "$DIR/env"
  trap - EXIT
  log "ready in $(($(now_ms) - t0)) ms; source $DIR/env (stop with: $SELF stop $DIR)"
}

cmd_mailbox() { # refuse|accept ADDRESS
  local addr=${1,,} expect=550 before deadline
  [[ $addr =~ ^[a-z0-9._+-]+@${DOMAIN//./\\.}$ ]] || die "ADDRESS must be LOCAL@$DOMAIN"
  running postfix "$POSTFIX_EXES" || die "Postfix is not running for $DIR"
  grep -v "^$addr " "$DIR/vmailbox" >"$DIR/vmailbox.tmp" || true
  if [[ $cmd == accept ]]; then
    expect=250 && echo "$addr $DOMAIN/${addr%@*}/" >>"$DIR/vmailbox.tmp"
    # Same password as everyone else; Dovecot rereads the file when it changes.
    grep -q "^$addr:" "$DIR/imap.passwd" || echo "$addr:$(head -n1 "$DIR/imap.passwd" | cut -d: -f2-)" >>"$DIR/imap.passwd"
  fi
  chmod 0644 "$DIR/vmailbox.tmp"; backdate "$DIR/vmailbox.tmp"; mv -f -- "$DIR/vmailbox.tmp" "$DIR/vmailbox"
  # texthash is read when a process starts: reload (what "postfix reload" does), wait for the
  # master to log it, then for new smtpd processes to answer RCPT TO accordingly.
  before=$(grep -c ' reload -- version' "$DIR/postfix.log" || true)
  kill -HUP "$(<"$DIR/postfix.pid")"
  deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000))
  until (($(grep -c ' reload -- version' "$DIR/postfix.log" || true) > before)); do
    (($(now_ms) < deadline)) || fail "Postfix did not log the reload"
    sleep 0.02
  done
  wait_rcpt "$addr" "$expect"
  log "$cmd $addr: RCPT TO answers $expect"
}

(($# >= 2)) || {
  sed -n '2,7p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
cmd=$1
case $cmd in
  start) DIR=$(resolve_dir "$2" yes) ;;
  stop | status | refuse | accept)
    if [[ ! -d "$2" ]]; then
      log "$2 does not exist; nothing is running there"
      [[ $cmd == stop ]] && exit 0 || exit 3
    fi
    DIR=$(resolve_dir "$2" no)
    ;;
  *) die "unknown command $cmd (start, refuse, accept, stop, status)" ;;
esac
readonly DIR cmd
shift 2
case $cmd in
  start) cmd_start "$@" ;;
  refuse | accept) cmd_mailbox "${1:-}" ;;
  status)
    if running postfix "$POSTFIX_EXES" && running dovecot "$DOVECOT_EXES"; then
      log "running (Postfix pid $(<"$DIR/postfix.pid"), Dovecot pid $(<"$DIR/dovecot.pid"))"
    else
      log "not running" && exit 3
    fi
    ;;
  stop)
    if [[ "${1:-}" == --from-watchdog ]]; then
      rm -f -- "$DIR/watchdog.pid" && log "watched process exited, stopping the mail servers"
    elif [[ -n "${1:-}" && "$1" != --clean ]]; then
      die "unknown stop option: $1"
    fi
    stop_all && log "stopped"
    if [[ "${1:-}" == --clean ]]; then rm -rf -- "$DIR" && log "removed $DIR"; fi
    ;;
esac
