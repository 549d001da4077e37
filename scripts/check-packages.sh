#!/usr/bin/env bash
# publint and arethetypeswrong on exactly what npm would publish, for every package of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for dir in packages/kernel packages/audit packages/testing .; do
  (cd "$dir" && npx publint --strict)
  tarball=$(cd "$dir" && npm pack --silent --ignore-scripts --pack-destination "$out")
  # ESM only, for Node >= 20.19 (where require() of ESM works) and bundlers.
  npx attw "$out/$tarball" --profile esm-only --format ascii
done
