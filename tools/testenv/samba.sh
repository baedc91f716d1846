#!/usr/bin/env bash
# Throw-away Samba AD domain controller for the converge test suite.
#
#   samba.sh start DIR [--fresh] [--watch-pid PID | --no-watch]
#   samba.sh stop DIR [--clean]
#   samba.sh status DIR
#   samba.sh exchange-skeleton DIR
#
# start  provisions realm TARGET.LOCAL (NetBIOS TARGET, base DN DC=target,DC=local) under DIR,
#        generates a test CA + server certificate, runs only Samba's LDAP service on
#        127.0.0.1 (ports 389/636, plus the global-catalog ports 3268/3269 which Samba
#        always opens; none of them is configurable), waits until an LDAPS bind works and
#        writes DIR/env. An existing provision in DIR is reused unless --fresh is given.
#        A watchdog stops the server when the watched process exits (default: the process
#        that ran "samba.sh start"; --no-watch disables it, then only "stop" ends it).
# stop   terminates the server and the watchdog (TERM, bounded wait, then KILL).
#        --clean additionally removes DIR.
# exchange-skeleton  creates (idempotently) the Exchange-like objects the tests expect.
#
# Nothing outside DIR is written and only 127.0.0.1 is contacted. See README.md.
set -euo pipefail

readonly REALM=TARGET.LOCAL
readonly NETBIOS_DOMAIN=TARGET
readonly BASE_DN=DC=target,DC=local
readonly CONFIG_DN=CN=Configuration,${BASE_DN}
readonly ADMIN_DN=CN=Administrator,CN=Users,${BASE_DN}
readonly LDAP_HOST=127.0.0.1
readonly SAMBA_PORTS=(389 636 3268 3269)
readonly READY_TIMEOUT_S=60
readonly STOP_TIMEOUT_S=15

SELF=$(readlink -f "${BASH_SOURCE[0]}")
readonly SELF

log() { printf 'samba.sh: %s\n' "$*"; }
die() {
  printf 'samba.sh: error: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '2,7p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  echo $((t / 1000))
}

# Canonical absolute DIR. Restricted character set: the path ends up in smb.conf (where '%'
# is a substitution), in sourceable shell and in unix socket paths.
resolve_dir() {
  local d=$1 create=$2
  [[ -n "$d" ]] || die "DIR must not be empty"
  if [[ "$create" == yes ]]; then mkdir -p -- "$d"; fi
  [[ -d "$d" ]] || die "$d is not a directory"
  d=$(cd -- "$d" && pwd -P)
  [[ "$d" =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "DIR '$d' may only contain [A-Za-z0-9._/+-]"
  [[ "$d" != / ]] || die "DIR must not be /"
  # Samba's LDAPI socket lives in the private dir; sun_path holds at most 107 bytes.
  ((${#d} <= 70)) || die "DIR '$d' is too long for Samba's unix sockets (max 70 characters)"
  printf '%s' "$d"
}

# LDAP client environment for every ldap-utils call made here: trust only the test CA,
# never chase referrals (Samba refers to ldaps://target.local/..., which would need DNS).
ldap_env() {
  export LDAPTLS_CACERT="$DIR/tls/ca.pem" LDAPTLS_REQCERT=demand LDAPREFERRALS=off
}

# PIDs in process group $1 whose executable is one of the ':'-separated paths in $2
# (guards against PID/PGID reuse: only our own binaries are ever signalled).
group_members() {
  local pgid=$1 exes=":$2:" p
  [[ "$pgid" =~ ^[0-9]+$ ]] || return 0
  for p in $(pgrep -g "$pgid" 2>/dev/null || true); do
    if [[ "$exes" == *":$(readlink "/proc/$p/exe" 2>/dev/null || echo '?'):"* ]]; then echo "$p"; fi
  done
}

# Terminate process group $1 (members running $2): TERM, wait up to $3 s, then KILL.
kill_group() {
  local pgid=$1 exe=$2 timeout_s=$3 deadline
  local -a pids
  mapfile -t pids < <(group_members "$pgid" "$exe")
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$(($(now_ms) + timeout_s * 1000))
  while (($(now_ms) < deadline)); do
    mapfile -t pids < <(group_members "$pgid" "$exe")
    ((${#pids[@]})) || return 0
    sleep 0.1
  done
  log "process group $pgid did not exit after ${timeout_s}s, sending KILL"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  deadline=$(($(now_ms) + 5000))
  while (($(now_ms) < deadline)); do
    mapfile -t pids < <(group_members "$pgid" "$exe")
    ((${#pids[@]})) || return 0
    sleep 0.1
  done
  die "could not kill process group $pgid: ${pids[*]}"
}

samba_exe() { readlink -f "$(command -v samba)"; }

stop_watchdog() {
  local f="$DIR/samba.watchdog.pid"
  [[ -f "$f" ]] || return 0
  kill_group "$(<"$f")" "$(readlink -f "$BASH"):$(readlink -f "$(command -v tail)")" 5
  rm -f -- "$f"
}

stop_server() {
  local f="$DIR/samba.pid"
  [[ -f "$f" ]] || return 0
  kill_group "$(<"$f")" "$(samba_exe)" "$STOP_TIMEOUT_S"
  rm -f -- "$f"
}

is_running() {
  [[ -f "$DIR/samba.pid" ]] && [[ -n "$(group_members "$(<"$DIR/samba.pid")" "$(samba_exe)")" ]]
}

gen_tls() {
  local t="$DIR/tls"
  rm -rf -- "$t"
  mkdir -p "$t"
  (
    cd "$t"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=converge test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
      -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    # An unrelated CA, used to prove that verification really depends on ca.pem.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout decoy-ca.key \
      -out decoy-ca.pem -days 3650 -subj "/CN=converge decoy CA" 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 0600 ca.key server.key decoy-ca.key
    chmod 0644 ca.pem server.pem decoy-ca.pem
  )
  openssl verify -CAfile "$t/ca.pem" "$t/server.pem" >/dev/null || die "generated certificate does not verify"
}

provision() {
  local s="$DIR/samba" out="$DIR/provision.log" pass
  rm -rf -- "$s" "$DIR/admin.pass"
  mkdir -p "$s/run" "$s/log"
  pass="Cv1-$(openssl rand -hex 16)-Zq"
  (umask 077 && printf '%s' "$pass" >"$DIR/admin.pass")
  chmod 0600 "$DIR/admin.pass"
  : >"$DIR/empty.conf" # never read /etc/samba/smb.conf
  local -a opts=(
    "interfaces = $LDAP_HOST"
    "bind interfaces only = yes"
    "server services = ldap"
    "pid directory = $s/run"
    "ncalrpc dir = $s/run/ncalrpc"
    "ntp signd socket directory = $s/run/ntp_signd"
    "winbindd socket directory = $s/run/winbindd"
    "smb passwd file = $s/private/smbpasswd"
    "usershare path = $s/usershares"
    "log file = $s/log/samba.log"
    "logging = file"
    "max log size = 10000"
    "tls enabled = yes"
    "tls keyfile = $DIR/tls/server.key"
    "tls certfile = $DIR/tls/server.pem"
    "tls cafile = $DIR/tls/ca.pem"
  )
  local -a args=(domain provision -s "$DIR/empty.conf" --targetdir="$s"
    --realm="$REALM" --domain="$NETBIOS_DOMAIN" --adminpass="$pass"
    --server-role=dc --dns-backend=NONE --host-name=DC1 --host-ip="$LDAP_HOST")
  local o
  for o in "${opts[@]}"; do args+=("--option=$o"); done
  if ! samba-tool "${args[@]}" >"$out" 2>&1; then
    tail -n 20 "$out" >&2
    if grep -q "Module \[samba_" "$out"; then
      die "provision failed: Samba's AD database modules are missing (Debian: apt-get install samba-dsdb-modules samba-vfs-modules, or samba-ad-dc)"
    elif grep -q "vfs/acl_xattr.so" "$out"; then
      die "provision failed: Samba VFS modules are missing (Debian: apt-get install samba-vfs-modules, or samba-ad-dc)"
    fi
    die "provision failed, see $out"
  fi
  local conf="$s/etc/smb.conf"
  grep -qi '^[[:space:]]*dns forwarder' "$conf" && die "provisioned smb.conf unexpectedly sets a dns forwarder"
  if command -v testparm >/dev/null &&
    testparm -s -v "$conf" 2>/dev/null | grep -E '= /(var|etc|run)/'; then
    die "provisioned smb.conf still uses system paths: $conf"
  fi
  touch "$s/.converge-provisioned"
}

ldap_bind_ok() { # url [extra ldapsearch args...]
  local url=$1
  shift
  ldapsearch -LLL -o nettimeout=3 -l 5 -H "$url" -x -D "$ADMIN_DN" -y "$DIR/admin.pass" \
    -b "$BASE_DN" -s base "$@" dn >/dev/null 2>&1
}

write_env() {
  local tmp="$DIR/env.tmp.$$"
  {
    echo "# Generated by tools/testenv/samba.sh; source this file."
    # Values never contain single quotes (DIR is restricted to [A-Za-z0-9._/+-]).
    printf "export %s='%s'\n" \
      CONVERGE_TEST_LDAP_URL "ldaps://$LDAP_HOST" \
      CONVERGE_TEST_LDAP_STARTTLS_URL "ldap://$LDAP_HOST" \
      CONVERGE_TEST_LDAP_BASE "$BASE_DN" \
      CONVERGE_TEST_LDAP_BIND_DN "$ADMIN_DN" \
      CONVERGE_TEST_LDAP_PASSWORD_FILE "$DIR/admin.pass" \
      CONVERGE_TEST_LDAP_CA "$DIR/tls/ca.pem" \
      CONVERGE_TEST_LDAP_REALM "$REALM" \
      CONVERGE_TEST_LDAP_NETBIOS_DOMAIN "$NETBIOS_DOMAIN" \
      LDAPTLS_CACERT "$DIR/tls/ca.pem" \
      LDAPTLS_REQCERT demand \
      LDAPREFERRALS off \
      SAMBA_SMB_CONF "$DIR/samba/etc/smb.conf"
  } >"$tmp"
  mv -f -- "$tmp" "$DIR/env"
}

start_watchdog() {
  local watch=$1
  [[ "$watch" =~ ^[0-9]+$ ]] || die "--watch-pid needs a numeric PID"
  ((watch > 1)) || return 0
  kill -0 "$watch" 2>/dev/null || die "watched PID $watch does not exist"
  # setsid: own process group, so stop can end it (and its tail) without touching the caller.
  # shellcheck disable=SC2016 # expanded by the watchdog shell
  setsid "$BASH" -c 'tail --pid="$1" -f /dev/null; exec "$2" stop "$3" --from-watchdog' \
    watchdog "$watch" "$SELF" "$DIR" </dev/null >>"$DIR/samba.watchdog.log" 2>&1 &
  echo "$!" >"$DIR/samba.watchdog.pid"
}

cmd_start() {
  local fresh=no watch=$PPID
  while (($#)); do
    case $1 in
      --fresh) fresh=yes ;;
      --no-watch) watch=0 ;;
      --watch-pid)
        (($# >= 2)) || die "--watch-pid needs a PID"
        watch=$2
        shift
        ;;
      *) die "unknown start option: $1" ;;
    esac
    shift
  done
  local c
  for c in samba samba-tool ldapsearch ldapmodify ldapadd openssl setsid pgrep ss tail; do
    command -v "$c" >/dev/null || die "required command '$c' not found (run tools/install-deps.sh --with-servers)"
  done

  [[ ! -e "$DIR/named.conf" ]] || die "$DIR belongs to bind.sh; give samba.sh its own DIR (both write DIR/env)"
  if is_running; then
    die "Samba is already running for $DIR (pid $(<"$DIR/samba.pid")); run: $SELF stop $DIR"
  fi
  if [[ -f "$DIR/samba.pid" || -f "$DIR/samba.watchdog.pid" ]]; then
    log "cleaning up after a previous run that did not stop cleanly"
    stop_watchdog
    stop_server
  fi
  rm -f -- "$DIR/env"

  local p busy
  for p in "${SAMBA_PORTS[@]}"; do
    busy=$(ss -Hltnp "( sport = :$p )" 2>/dev/null || true)
    [[ -z "$busy" ]] || die "TCP port $p is already in use (Samba's LDAP ports are fixed: ${SAMBA_PORTS[*]}): $busy"
  done

  local t0 t1 t2 provision_ms=0
  t0=$(now_ms)
  if [[ "$fresh" == yes || ! -f "$DIR/samba/.converge-provisioned" || ! -s "$DIR/admin.pass" ||
    ! -f "$DIR/tls/server.key" ]]; then
    gen_tls
    provision
    t1=$(now_ms)
    provision_ms=$((t1 - t0))
    log "provisioned $REALM in $DIR/samba in ${provision_ms} ms"
  else
    t1=$t0
    log "reusing existing provision in $DIR/samba (use --fresh to re-provision)"
  fi
  chmod 0600 "$DIR/tls/server.key" "$DIR/admin.pass" # Samba refuses a group/world-readable key

  # From here on, anything that fails must not leave a server behind.
  trap 'rc=$?; if ((rc != 0)); then stop_watchdog || true; stop_server || true; fi' EXIT

  local conf="$DIR/samba/etc/smb.conf" pid
  # Non-interactive bash: the background job is not a group leader, so setsid does not fork
  # and $! is samba itself, leader of a new session/process group that contains its workers.
  # --debug-stdout: otherwise samba opens /var/log/samba/log.samba before reading smb.conf.
  setsid samba --foreground --no-process-group --debug-stdout -s "$conf" \
    </dev/null >>"$DIR/samba/log/samba.log" 2>&1 &
  pid=$!
  echo "$pid" >"$DIR/samba.pid"
  local pgid
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  [[ -z "$pgid" || "$pgid" == "$pid" ]] || die "samba (pid $pid) is not leader of its own process group ($pgid)"

  ldap_env
  local deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000))
  until ldap_bind_ok "ldaps://$LDAP_HOST"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DIR/samba/log/samba.log" >&2 || true
      die "samba exited during startup, see $DIR/samba/log/"
    fi
    if (($(now_ms) > deadline)); then
      tail -n 30 "$DIR/samba/log/samba.log" >&2 || true
      die "no successful LDAPS bind within ${READY_TIMEOUT_S}s"
    fi
    sleep 0.1
  done
  t2=$(now_ms)
  log "samba (pid $pid) answers LDAPS binds $((t2 - t1)) ms after start (provision+start: $((t2 - t0)) ms)"

  # Certificate verification must depend on the test CA, and StartTLS must work on 389.
  LDAPTLS_CACERT="$DIR/tls/decoy-ca.pem" ldap_bind_ok "ldaps://$LDAP_HOST" &&
    die "LDAPS bind succeeded although the server certificate is not signed by the trusted CA"
  ldap_bind_ok "ldap://$LDAP_HOST" -ZZ || die "StartTLS bind on ldap://$LDAP_HOST failed"

  # Test-friendly password policy: allow immediate changes, never expire (idempotent).
  ldapmodify -o nettimeout=3 -H "ldaps://$LDAP_HOST" -x -D "$ADMIN_DN" -y "$DIR/admin.pass" \
    >/dev/null <<EOF || die "could not relax the password policy"
dn: $BASE_DN
changetype: modify
replace: minPwdAge
minPwdAge: 0
-
replace: maxPwdAge
maxPwdAge: 0
EOF

  start_watchdog "$watch"
  write_env
  trap - EXIT
  if ((watch > 1)); then
    log "watchdog stops the server when PID $watch exits"
  fi
  log "ready; source $DIR/env (stop with: $SELF stop $DIR)"
}

cmd_stop() {
  local clean=no from_watchdog=no
  while (($#)); do
    case $1 in
      --clean) clean=yes ;;
      --from-watchdog) from_watchdog=yes ;;
      *) die "unknown stop option: $1" ;;
    esac
    shift
  done
  if [[ "$from_watchdog" == yes ]]; then
    rm -f -- "$DIR/samba.watchdog.pid"
    log "watched process exited, stopping samba"
  else
    stop_watchdog
  fi
  stop_server
  log "stopped"
  if [[ "$clean" == yes ]]; then
    rm -rf -- "$DIR"
    log "removed $DIR"
  fi
}

cmd_status() {
  if is_running; then
    log "running (pid $(<"$DIR/samba.pid"))"
  else
    log "not running"
    return 3
  fi
}

# Adds one LDIF entry; "Already exists" counts as success.
ldap_add_idempotent() {
  local ldif=$1 out rc=0
  out=$(ldapadd -o nettimeout=3 -H "ldaps://$LDAP_HOST" -x -D "$ADMIN_DN" -y "$DIR/admin.pass" \
    <<<"$ldif" 2>&1) || rc=$?
  case $rc in
    0) log "added   $(head -n1 <<<"$ldif" | cut -c5-)" ;;
    68) log "exists  $(head -n1 <<<"$ldif" | cut -c5-)" ;;
    *)
      printf '%s\n' "$out" >&2
      die "ldapadd failed (rc $rc)"
      ;;
  esac
}

cmd_exchange_skeleton() {
  is_running || die "Samba is not running for $DIR; run: $SELF start $DIR"
  ldap_env
  local exch="CN=Microsoft Exchange,CN=Services,$CONFIG_DN"
  local org="CN=Target Org,$exch"
  local ag="CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,$org"
  local sg="OU=Microsoft Exchange Security Groups,$BASE_DN"
  # msExchConfigurationContainer is part of Samba's base AD schema; every other Exchange
  # class is not, so the rest are plain containers (container inherits displayName and
  # adminDisplayName from top).
  ldap_add_idempotent "dn: $exch
objectClass: msExchConfigurationContainer"
  ldap_add_idempotent "dn: $org
objectClass: container"
  ldap_add_idempotent "dn: CN=Administrative Groups,$org
objectClass: container"
  ldap_add_idempotent "dn: $ag
objectClass: container
adminDisplayName: Exchange Administrative Group (FYDIBOHF23SPDLT)"
  ldap_add_idempotent "dn: CN=Servers,$ag
objectClass: container"
  local n
  for n in EXCH1 EXCH2; do
    ldap_add_idempotent "dn: CN=$n,CN=Servers,$ag
objectClass: container
adminDisplayName: $n"
  done
  ldap_add_idempotent "dn: CN=Databases,$ag
objectClass: container"
  for n in DB01 DB02; do
    ldap_add_idempotent "dn: CN=$n,CN=Databases,$ag
objectClass: container
displayName: $n
adminDisplayName: $n"
  done
  ldap_add_idempotent "dn: $sg
objectClass: organizationalUnit"
  for n in "Exchange Public Folder Administrators" "Exchange View-Only Administrators"; do
    ldap_add_idempotent "dn: CN=$n,$sg
objectClass: group
sAMAccountName: $n
groupType: -2147483640"
  done
  ldap_add_idempotent "dn: OU=Microsoft Exchange System Objects,$BASE_DN
objectClass: organizationalUnit"
  ldap_add_idempotent "dn: OU=Migrated Users,$BASE_DN
objectClass: organizationalUnit"
}

(($# >= 2)) || usage
cmd=$1
case $cmd in
  start | exchange-skeleton) DIR=$(resolve_dir "$2" "$([[ $cmd == start ]] && echo yes || echo no)") ;;
  stop | status)
    [[ -d "$2" ]] || {
      log "$2 does not exist; nothing is running there"
      [[ $cmd == stop ]] && exit 0 || exit 3
    }
    DIR=$(resolve_dir "$2" no)
    ;;
  *) usage ;;
esac
readonly DIR
shift 2
case $cmd in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  exchange-skeleton) cmd_exchange_skeleton "$@" ;;
esac
