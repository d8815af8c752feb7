#!/usr/bin/env bash
# Issue 16 item 2 across FLOPs with a ground truth that ranks: the 12 subnets of the kept 1-epoch study
# (bench/results/rank-strata-e1: one per FLOPs stratum of the whole space, 14.7–49.2 MFLOPs, rank-corr's
# seed 0 draws the same plan) trained from scratch EPOCHS epochs (the default recipe's 5) with seeds 0
# and 1, against the whole-space supernet (uniform SPOS, seed 0, 5 epochs: the one the 1-epoch study used).
#   bash bench/rank-across.sh [OUT=runs/rank-across] [EPOCHS=5]
# 1. the supernet, on both wasm threads (nothing else runs yet); its inherited accuracies must equal the
#    kept study's (same recipe and seed): rank-agree prints τ 1 when they do
# 2. rank-corr: 24 trainings through a BullMQ queue to one `psvit worker --concurrency 2`, one thread each
# 3. the ground truth is kept in bench/results/rank-strata-e$EPOCHS
# 4. the same supernet with seeds 1 and 2, ranked against that ground truth with --scratch-from (no
#    training): a single supernet's τ is one draw (within the band two seeds of one recipe disagreed)
# 5. the table puts them beside the 1-epoch study, rank-agree.mjs says whether the three supernets agree
#    and what their mean buys, rank-proxies.mjs how much of the order FLOPs and params alone give
# Every step is skipped when its result exists; a study stopped midway is continued.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/rank-across}
EPOCHS=${2:-5}
mkdir -p "$OUT"
# shellcheck source=bench/rank-lib.sh
source bench/rank-lib.sh
PSVIT_WASM_THREADS=2 supernet "$OUT/whole"
export PSVIT_WASM_THREADS=1
study "$OUT/whole" strata --epochs "$EPOCHS" --samples 12
keep "$OUT/whole" strata "bench/results/rank-strata-e$EPOCHS"
for seed in 1 2; do
  PSVIT_WASM_THREADS=2 supernet "$OUT/whole-s$seed" --seed "$seed"
  [ -f "$OUT/whole-s$seed/strata/result.json" ] ||
    psvit rank-corr --run "$OUT/whole-s$seed" --name strata --scratch-from "$OUT/whole/strata" --json > /dev/null
  mkdir -p "bench/results/rank-strata-e$EPOCHS/whole-s$seed"
  cp "$OUT/whole-s$seed/run.json" "$OUT/whole-s$seed/strata/result.json" "bench/results/rank-strata-e$EPOCHS/whole-s$seed/"
done
# the seed-0 supernet retrained here against the one the kept 1-epoch study used (τ 1 when they agree)
node bench/rank-agree.mjs this="$OUT/whole/strata/result.json" kept-e1="bench/results/rank-strata-e1/strata/result.json"
node bench/rank-agree.mjs seed0="$OUT/whole/strata/result.json" seed1="$OUT/whole-s1/strata/result.json" \
  seed2="$OUT/whole-s2/strata/result.json"
node bench/rank-table.mjs "whole=bench/results/rank-strata-e1/strata" "whole=$OUT/whole/strata" \
  "whole-s1=$OUT/whole-s1/strata" "whole-s2=$OUT/whole-s2/strata"
node bench/rank-proxies.mjs bench/results/rank-strata-e1/strata "$OUT/whole/strata"
