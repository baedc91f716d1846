#!/usr/bin/env bash
# Network namespaces for the test servers and the tests that talk to them. Each server runs on
# the loopback of a namespace of its own, so servers with fixed ports (Samba: 389/636/445) never
# clash with each other or with anything on the machine, and a test can reach nothing but
# loopback. Needs CAP_SYS_ADMIN (root, as the test servers do); without it every command fails.
#
#   netns.sh start DIR CMD...   create DIR's namespace (loopback up; name kept in DIR/netns) and
#                               run CMD in it: the fixture that starts a server
#   netns.sh exec DIR CMD...    run CMD in DIR's namespace (in the current one when DIR has none,
#                               e.g. a server a benchmark started in its own private namespace)
#   netns.sh stop DIR CMD...    run CMD in DIR's namespace, then delete the namespace
#   netns.sh private CMD...     run CMD in a new namespace of its own holding only loopback
#
# The name is "converge-" and 12 hex digits of DIR's absolute path: one namespace per fixture
# directory, so two build directories' tests never share one.
set -euo pipefail

die() {
  printf 'netns.sh: %s\n' "$*" >&2
  exit 1
}
(($# >= 2)) || die "usage: netns.sh start|exec|stop DIR CMD... | private CMD..."

cmd=$1
shift
if [[ $cmd == private ]]; then
  exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' netns-private "$@"
fi

dir=$1
shift
(($# >= 1)) || die "$cmd $dir: no command"
mkdir -p -- "$dir"
dir=$(cd -- "$dir" && pwd -P)
name_file=$dir/netns

case $cmd in
  start)
    name=converge-$(printf '%s' "$dir" | sha256sum | cut -c1-12)
    # A namespace left by a killed run of the same directory holds no live server: start over.
    if ip netns list | grep -qw -- "$name"; then ip netns delete "$name"; fi
    ip netns add "$name" || die "cannot create network namespace $name (root needed)"
    ip -n "$name" link set lo up
    printf '%s\n' "$name" >"$name_file"
    exec ip netns exec "$name" "$@"
    ;;
  exec | stop)
    if [[ ! -s $name_file ]]; then
      exec "$@"
    fi
    name=$(<"$name_file")
    if [[ $cmd == exec ]]; then exec ip netns exec "$name" "$@"; fi
    rc=0
    ip netns exec "$name" "$@" || rc=$?
    ip netns delete "$name" 2>/dev/null || true
    rm -f -- "$name_file"
    exit "$rc"
    ;;
  *) die "unknown command $cmd" ;;
esac
