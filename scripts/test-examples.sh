#!/usr/bin/env bash
# Each example installs the packages as npm would publish them (packed tarballs in .packs/),
# with its own dependencies from the registry, and runs its own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
rm -rf .packs && mkdir .packs
for name in kernel audit testing; do
  tarball=$(cd "packages/$name" && npm pack --silent --ignore-scripts --pack-destination ../../.packs)
  mv ".packs/$tarball" ".packs/rowguard-$name.tgz"
done
for example in examples/*/; do
  echo "== $example"
  (cd "$example" && rm -rf node_modules package-lock.json && npm install --no-audit --no-fund --loglevel=error && npm test)
done
