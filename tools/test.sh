#!/usr/bin/env bash
# The test command (README.md): installs what is missing, then
#   1. a Release build with GCC (warnings are errors) and every test through CTest;
#   2. a Debug build with GCC under AddressSanitizer + UndefinedBehaviorSanitizer, every test;
#   3. a Debug build with Clang under ThreadSanitizer: the engine, executor and DNS tests (the
#      concurrent parts);
#   4. each libFuzzer target (Clang) for CONVERGE_FUZZ_SECONDS (default 30).
# Every stage configures its own build directory with tests on, and CTest fails when it finds no
# test, so no stage can pass by running nothing. Servers the tests need (Samba AD DC, BIND 9) are
# started and stopped by the tests themselves. Usage: tools/test.sh [--quick] (stage 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fuzz_seconds=${CONVERGE_FUZZ_SECONDS:-30}

tools/install-deps.sh --with-servers

total=0
# Runs CTest in build dir $1 (further arguments go to ctest) and adds the tests it ran to the
# total. Fails when a test failed or when none ran.
run_ctest() {
  local dir=$1 out n
  shift
  out=$(mktemp)
  set +e
  ctest --test-dir "$dir" --no-tests=error --output-on-failure "$@" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  set -e
  n=$(sed -n 's/.*tests passed, [0-9]* tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
  rm -f "$out"
  if [ "$rc" -ne 0 ]; then
    echo "ctest in $dir failed (exit $rc)"
    return "$rc"
  fi
  if [ "${n:-0}" -eq 0 ]; then
    echo "ctest in $dir ran no test"
    return 1
  fi
  total=$((total + n))
}

# configure DIR [cmake options...]: tests on and warnings as errors, whatever DIR held before.
configure() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCONVERGE_TESTS=ON -DCONVERGE_WERROR=ON "$@" >/dev/null
}

echo "== Release build (GCC, warnings are errors) and tests"
CXX=g++ configure build -DCMAKE_BUILD_TYPE=Release -DCONVERGE_SANITIZE=OFF -DCONVERGE_TSAN=OFF
cmake --build build
run_ctest build

if [ $quick -eq 1 ]; then
  echo "tests: $total passed, 0 failed"
  exit 0
fi

echo "== ASan + UBSan build (GCC, Debug) and tests"
CXX=g++ configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCONVERGE_SANITIZE=ON
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan

echo "== ThreadSanitizer build (Clang, Debug): engine, executor and DNS tests"
CXX=clang++ configure build-tsan -DCMAKE_BUILD_TYPE=Debug -DCONVERGE_TSAN=ON
cmake --build build-tsan --target engine_tests dns_tests
# The DNS tests against BIND need its fixture; ctest starts and stops it.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_ctest build-tsan -R '^(engine_unit|dns_unit|dns_bind|dns_server_start|dns_server_stop)$'

echo "== fuzz targets (Clang), ${fuzz_seconds}s each"
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVERGE_FUZZ=ON \
  -DCONVERGE_TESTS=OFF -DCONVERGE_WERROR=ON >/dev/null
cmake --build build-fuzz --target fuzz_targets
corpus=$(mktemp -d /tmp/converge-fuzz-XXXXXX)
trap 'rm -rf "$corpus"' EXIT
nfuzz=0
for target in build-fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  mkdir -p "$corpus/$name"
  case $name in
    fuzz_manifest) cp manifests/*.toml manifests/examples/*.toml tests/bad/*.toml "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_dns) cp tests/dns/fuzz_corpus/* "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_dns_tsig) cp tests/dns/fuzz_corpus_tsig/* "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_security_descriptor) cp tests/ldap/fuzz_corpus/* "$corpus/$name/" 2>/dev/null || true ;;
    fuzz_ldap_input) cp tests/ldap/fuzz_corpus_ldap_input/* "$corpus/$name/" 2>/dev/null || true ;;
  esac
  if [ -d "tests/fuzz/corpus/$name" ]; then cp tests/fuzz/corpus/"$name"/* "$corpus/$name/" 2>/dev/null || true; fi
  echo "-- $name"
  set +e
  (cd "$corpus" && "$OLDPWD/$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$corpus/$name" >"$corpus/$name.log" 2>&1)
  rc=$?
  set -e
  grep -E "stat::number_of_executed_units|^Done|ERROR|SUMMARY|Test unit written" "$corpus/$name.log" || true
  if [ $rc -ne 0 ]; then
    echo "fuzz target $name failed (exit $rc); the input that failed:"
    ls "$corpus"/crash-* "$corpus"/timeout-* "$corpus"/oom-* 2>/dev/null | head -3
    tail -30 "$corpus/$name.log"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$corpus/$name.log" | tail -1)
  if [ "${runs:-0}" -eq 0 ]; then
    echo "fuzz target $name executed nothing"
    exit 1
  fi
  nfuzz=$((nfuzz + 1))
done
if [ $nfuzz -eq 0 ]; then
  echo "no fuzz target was built"
  exit 1
fi
total=$((total + nfuzz))
echo "tests: $total passed, 0 failed"
