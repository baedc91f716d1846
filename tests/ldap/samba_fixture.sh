#!/usr/bin/env bash
# CTest fixture of the LDAP tests: a fresh throw-away Samba AD DC (tools/testenv/samba.sh) with
# the Exchange-like skeleton, on 127.0.0.1.
#
#   samba_fixture.sh start DIR   take /tmp/converge-samba.lock (waiting up to 30 minutes: Samba's
#                                LDAP ports are fixed, so one Samba per machine), provision a
#                                fresh domain in DIR, start it, create the Exchange skeleton, and
#                                keep holding the lock until that server stops
#   samba_fixture.sh stop DIR    stop it (the lock is released within a second)
#
# The server is stopped by its watchdog when the process that ran "start" (ctest) exits, or
# CONVERGE_SAMBA_WATCH_PID (0 = no watchdog, for manual use).
set -euo pipefail
LOCK=${CONVERGE_SAMBA_LOCK:-/tmp/converge-samba.lock}
SAMBA=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools/testenv" && pwd)/samba.sh
(($# == 2)) || {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
cmd=$1 dir=$2
case $cmd in
  start)
    mkdir -p "$dir"
    exec 9>>"$LOCK"
    if ! flock -n 9; then
      echo "samba_fixture: waiting for $LOCK (another Samba test environment is running)"
      flock -w 1800 9 || {
        echo "samba_fixture: gave up waiting for $LOCK" >&2
        exit 1
      }
    fi
    watch=${CONVERGE_SAMBA_WATCH_PID:-$PPID}
    "$SAMBA" start "$dir" --fresh --watch-pid "$watch"
    pid=$(<"$dir/samba.pid")
    # Hold the lock while this server runs: the holder inherits descriptor 9.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done' lock-holder "$pid" \
      </dev/null >/dev/null 2>&1 &
    "$SAMBA" exchange-skeleton "$dir"
    ;;
  stop)
    "$SAMBA" stop "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
