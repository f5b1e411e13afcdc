#!/usr/bin/env bash
# CI: generate the TypeScript client types from the app's OpenAPI document with
# openapi-typescript and type-check clients/ts/usage.ts against them with tsc. The versions
# are pinned in clients/ts/package-lock.json (npm ci installs exactly those).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLIENT="$ROOT/clients/ts"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

cd "$CLIENT"
if [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/openapi-typescript ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p generated
"$PYTHON" "$ROOT/scripts/dump_openapi.py" generated/openapi.json
npx --no-install openapi-typescript generated/openapi.json -o generated/schema.d.ts --silent
npx --no-install tsc --noEmit -p tsconfig.json
echo "check_ts_client: usage.ts type-checks against the generated client"
