#!/usr/bin/env bash
# Do two commits train to the same bits? Trains the searched winner's config for 0.4 epochs (seed 0, one
# wasm thread, embedded data) at each commit and compares the weights byte for byte, and prints the loss
# at step 20. A commit compared with itself tells whether training is deterministic.
#   bash bench/same-bits.sh COMMIT_A COMMIT_B [ARCH]
# Worktrees and runs go to ${TMPDIR:-/tmp}/psvit-same-bits; node_modules is this checkout's.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 ARCH=${3:-IBIBIB-ISBIIB-IIBBBB}
W=${TMPDIR:-/tmp}/psvit-same-bits
mkdir -p "$W"
node bin/psvit export --space search-spaces/fmnist-2d.json --arch "$ARCH" --out "$W/cfg" --force > /dev/null
cfg="$W/cfg/fmnist-2d-$ARCH.model.json"
train() { # COMMIT RUN
  local id; id=$(git rev-parse --short "$1")
  local tree="$W/tree-$id"
  [ -d "$tree" ] || { git worktree add -q --detach "$tree" "$id"; ln -s "$PWD/node_modules" "$tree/node_modules"; }
  (cd "$tree" && npm run build > "$W/build-$id.log" 2>&1)
  (cd "$tree" && PSVIT_WASM_THREADS=1 node bin/psvit train "$cfg" --seed 0 --epochs 0.4 --out "$2" --force > "$2.log" 2>&1)
  echo "$1 ($id): loss at step 20 $(head -1 "$2/metrics.jsonl" | sed 's/.*"loss":\([^,]*\).*/\1/')"
}
train "$A" "$W/run-a"
train "$B" "$W/run-b"
if cmp -s "$W/run-a/fmnist-2d-$ARCH.safetensors" "$W/run-b/fmnist-2d-$ARCH.safetensors"; then
  echo "same weights"
else
  echo "different weights"
fi
