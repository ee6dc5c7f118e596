#!/usr/bin/env bash
# govkit end-to-end demo on the embedded SQLite registry.
# Every step is a plain `govkit` command you can copy and adapt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${GOVKIT_DEMO_OUT:-$PWD/demo-output}
rm -rf "$OUT"; mkdir -p "$OUT"
export GOVKIT_HOME="$OUT/home"     # keeps the demo's registry and key apart from yours
step() { printf '\n== %s\n' "$*"; }

step "Registry: create and migrate the embedded SQLite database"
govkit db upgrade
govkit db current

step "Audit chain: verify"
govkit audit verify

printf '\nDemo finished. Outputs:\n  registry: %s\n' "$GOVKIT_HOME/registry.sqlite"
