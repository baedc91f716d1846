#!/usr/bin/env bash
# Every C++ file git tracks is clang-format clean (.clang-format at the root).
# Usage: format_check.sh SOURCE_DIR
set -u
cd "$1" || exit 1
bad=0 n=0
while IFS= read -r f; do
  n=$((n + 1))
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "not clang-format clean: $f (run clang-format -i $f)"; bad=$((bad + 1)); }
done < <(git ls-files '*.cpp' '*.h' '*.cc' '*.hpp')
echo "$((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
