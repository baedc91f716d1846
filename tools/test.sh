#!/usr/bin/env bash
# The test command (README.md): installs what is missing, builds with warnings as errors, runs
# every test through CTest, again under AddressSanitizer + UndefinedBehaviorSanitizer, then runs
# each libFuzzer target briefly. Servers the tests need (Samba AD DC, BIND 9) are started and
# stopped by the tests themselves on 127.0.0.1. Usage: tools/test.sh [--quick] (skip ASan/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fuzz_seconds=${CONVERGE_FUZZ_SECONDS:-30}

tools/install-deps.sh --with-servers

total=0
# ctest, counting the tests it ran for the closing line.
run_ctest() {
  local out
  out=$(mktemp)
  ctest --test-dir "$1" --output-on-failure | tee "$out"
  local rc=${PIPESTATUS[0]}
  local n
  n=$(sed -n 's/.*tests passed, [0-9]* tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
  rm -f "$out"
  total=$((total + ${n:-0}))
  return "$rc"
}

echo "== release build (warnings are errors) and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
run_ctest build

if [ $quick -eq 1 ]; then
  echo "tests: $total passed, 0 failed"
  exit 0
fi

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCONVERGE_SANITIZE=ON >/dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan

echo "== fuzz targets, ${fuzz_seconds}s each"
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVERGE_FUZZ=ON -DCONVERGE_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_targets
corpus=$(mktemp -d /tmp/converge-fuzz-XXXXXX)
trap 'rm -rf "$corpus"' EXIT
for target in build-fuzz/fuzz_*; do
  name=$(basename "$target")
  mkdir -p "$corpus/$name"
  case $name in
    fuzz_manifest) cp manifests/*.toml manifests/examples/*.toml tests/bad/*.toml "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_dns) cp tests/dns/fuzz_corpus/* "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_security_descriptor) cp tests/ldap/fuzz_corpus/* "$corpus/$name/" 2>/dev/null || true ;;
  esac
  [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus/$name/" 2>/dev/null
  echo "-- $name"
  set +e
  (cd "$corpus" && "$OLDPWD/$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$corpus/$name" >"$corpus/$name.log" 2>&1)
  rc=$?
  set -e
  grep -E "stat::number_of_executed_units|^Done|ERROR|SUMMARY|dns_fuzz:|Test unit written" "$corpus/$name.log" || true
  if [ $rc -ne 0 ]; then
    echo "fuzz target $name failed (exit $rc); the input that failed:"
    ls "$corpus"/crash-* "$corpus"/timeout-* "$corpus"/oom-* 2>/dev/null | head -3
    tail -30 "$corpus/$name.log"
    exit 1
  fi
  total=$((total + 1))
done
echo "tests: $total passed, 0 failed"
