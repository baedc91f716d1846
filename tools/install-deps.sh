#!/usr/bin/env bash
# Installs every Debian package converge needs to build, test and benchmark.
# Idempotent: only missing packages are installed. Usage: tools/install-deps.sh [--with-servers]
# --with-servers adds Samba AD DC, BIND 9, Postfix, Dovecot IMAP and their client tools (needed by
# the test suite).
set -euo pipefail

build_pkgs=(cmake ninja-build g++ clang clang-format libclang-rt-14-dev pkg-config
  libtomlplusplus-dev libboost-graph-dev libspdlog-dev doctest-dev libcli11-dev
  nlohmann-json3-dev libsqlite3-dev sqlite3 libldap-dev libldns-dev libssl-dev libcurl4-openssl-dev
  graphviz)
server_pkgs=(samba samba-ad-provision samba-dsdb-modules samba-vfs-modules ldap-utils bind9 bind9-utils bind9-dnsutils ldnsutils openssl iproute2 util-linux
  postfix dovecot-core dovecot-imapd curl)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--with-servers" ]]; then want+=("${server_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
# Package scripts must not start system daemons: the tests start their own servers on loopback.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix: no system mail configuration (tools/testenv/mail.sh writes its own under its DIR).
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
