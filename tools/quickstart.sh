#!/usr/bin/env bash
# The main job (README.md, first command): installs what is missing, builds converge, and runs
# `converge manifests/exchange2007-target.toml` against the embedded lab (.converge/lab.sqlite).
# On a fresh lab converge applies everything the lab can have and reports the prerequisites it
# cannot fix (MAPI CDO on the agent hosts) as blocked, which makes converge exit 1. This script
# then checks that nothing else is pending and exits 0 in that case.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVERGE_TESTS=OFF >/dev/null
cmake --build build --target converge
if [ -z "${QMM_SERVICE_PASSWORD:-}" ]; then
  # The service accounts' initial password comes from the environment, never from the manifest.
  QMM_SERVICE_PASSWORD="Qs-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')-9"
  export QMM_SERVICE_PASSWORD
  echo "(QMM_SERVICE_PASSWORD was not set: using a random one for this lab run)"
fi
set +e
build/converge manifests/exchange2007-target.toml "$@"
rc=$?
set -e
if [ $rc -eq 1 ] && build/converge plan --detailed-exitcode manifests/exchange2007-target.toml >/dev/null 2>&1; then
  echo
  echo "converge exited 1 because prerequisites it cannot fix are blocked (see '!' above)."
  echo "Everything else is converged: 'converge plan' has nothing left to create, update or delete."
  exit 0
fi
exit $rc
