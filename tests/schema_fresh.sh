#!/usr/bin/env bash
# Fails when schema/ is stale: the checked-in JSON Schema and docs must equal what the type
# declarations generate. Usage: schema_fresh.sh CONVERGE SOURCE_DIR
set -euo pipefail
converge=$1 src=$2
status=0
diff -u "$src/schema/manifest.schema.json" <("$converge" schema) || { echo "schema/manifest.schema.json is stale: run '$converge schema > schema/manifest.schema.json'"; status=1; }
diff -u "$src/schema/resource-types.md" <("$converge" schema --format markdown) || { echo "schema/resource-types.md is stale: run '$converge schema --format markdown > schema/resource-types.md'"; status=1; }
[ $status -eq 0 ] && echo "1 passed, 0 failed"
exit $status
