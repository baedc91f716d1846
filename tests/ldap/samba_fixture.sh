#!/usr/bin/env bash
# CTest fixture of the LDAP tests: a fresh throw-away Samba AD DC (tools/testenv/samba.sh) with
# the Exchange-like skeleton, on 127.0.0.1 of a network namespace of its own
# (tools/testenv/netns.sh): Samba's ports are fixed, and each fixture directory gets its own
# loopback, so fixtures never clash. The tests that use it run in that namespace too
# (`netns.sh exec DIR ...`).
#
#   samba_fixture.sh start DIR   provision a fresh domain in DIR, start it, create the skeleton
#   samba_fixture.sh stop DIR    stop it and delete the namespace
#
# CONVERGE_NETNS=current starts the server in the caller's namespace instead (a benchmark that
# runs in a private namespace of its own). The server is stopped by its watchdog when the
# process that ran "start" (ctest) exits, or CONVERGE_SAMBA_WATCH_PID (0 = no watchdog).
set -euo pipefail
TESTENV=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools/testenv" && pwd)
SAMBA=$TESTENV/samba.sh
NETNS=$TESTENV/netns.sh
(($# == 2)) || {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
cmd=$1 dir=$2
case $cmd in
  start)
    mkdir -p "$dir"
    rm -f "$dir/netns"
    watch=${CONVERGE_SAMBA_WATCH_PID:-$PPID}
    script='"$1" start "$2" --fresh --watch-pid "$3" && "$1" exchange-skeleton "$2"'
    if [[ ${CONVERGE_NETNS:-own} == current ]]; then
      bash -c "$script" fixture "$SAMBA" "$dir" "$watch"
    else
      "$NETNS" start "$dir" bash -c "$script" fixture "$SAMBA" "$dir" "$watch"
    fi
    ;;
  stop)
    "$NETNS" stop "$dir" "$SAMBA" stop "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
