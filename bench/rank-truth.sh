#!/usr/bin/env bash
# Issue 16 items 2–3: ground truths that later sessions can reuse — within the band with the default
# recipe's 5 epochs from scratch, across the whole space's FLOPs with 1 epoch — and supernet variants
# ranked against them.
#   bash bench/rank-truth.sh [OUT=runs/rank-truth] [EPOCHS=5]
# 1. the pipeline's supernet (uniform SPOS, paths under 25M, seed 0, the default 5 epochs)
# 2. rank-corr --sampling band: 12 subnets within ±5% of 25M, each trained from scratch EPOCHS epochs with
#    seeds 0 and 1 — through a BullMQ queue to one `psvit worker --concurrency 2` (a redis-server on port
#    6390 is started when none answers there), so both cores train
# 3. variant supernets, each trained like 1. with one change, ranked with --scratch-from (no training):
#    --sampling sandwich (BigNAS's sandwich rule, in-place distillation; 4 paths a step), and its two
#    controls: uniform for 20 epochs (the same compute) and both with seed 1 as well
# 4. across FLOPs: a supernet of the whole space (uniform, seed 0, 5 epochs) and rank-corr's default
#    sampling: 12 subnets, one per FLOPs stratum of the whole space, 1 epoch from scratch × 2 seeds
# 5. the ground truths are copied to bench/results/ (run.json, rank-corr.json, samples.jsonl: what
#    --scratch-from reads) so that a later session ranks new variants without retraining:
#      psvit rank-corr --run NEW_SUPERNET --name band --scratch-from bench/results/rank-band-e5/band
# Every step is skipped when its result exists; every training uses one wasm thread.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/rank-truth}
EPOCHS=${2:-5}
export PSVIT_WASM_THREADS=1
mkdir -p "$OUT"
# shellcheck source=bench/rank-lib.sh
source bench/rank-lib.sh
supernet "$OUT/uniform" --flops-range :25M
study "$OUT/uniform" band --sampling band --flops 25M --epochs "$EPOCHS" --samples 12
keep "$OUT/uniform" band "bench/results/rank-band-e$EPOCHS"
supernet "$OUT/whole"
study "$OUT/whole" strata --epochs 1 --samples 12
keep "$OUT/whole" strata bench/results/rank-strata-e1
variant() { # NAME, then train-supernet flags
  local name=$1; shift
  supernet "$OUT/$name" "$@"
  [ -f "$OUT/$name/band/result.json" ] ||
    psvit rank-corr --run "$OUT/$name" --name band --scratch-from "$OUT/uniform/band" --json > /dev/null
}
variant sandwich --flops-range :25M --sampling sandwich
# controls for it: the same compute spent on uniform sampling (4 paths a step × 5 epochs = 20 epochs of
# one path), and both again with another seed (is a τ the recipe's, or one supernet seed's?)
variant uniform20 --flops-range :25M --epochs 20
variant sandwich-s1 --flops-range :25M --sampling sandwich --seed 1
variant uniform20-s1 --flops-range :25M --epochs 20 --seed 1
node bench/rank-proxies.mjs "$OUT/uniform/band" "$OUT/whole/strata"
# do supernets of another seed or recipe rank the band alike? (τ between their inherited accuracies)
node bench/rank-agree.mjs uniform="$OUT/uniform/band/result.json" sandwich="$OUT/sandwich/band/result.json" \
  sandwich-s1="$OUT/sandwich-s1/band/result.json" uniform20="$OUT/uniform20/band/result.json" \
  uniform20-s1="$OUT/uniform20-s1/band/result.json"
# the table: supernet, τ [95% CI], per-seed τ, ceiling, ratio
node bench/rank-table.mjs "uniform=$OUT/uniform/band" "sandwich=$OUT/sandwich/band" "uniform20=$OUT/uniform20/band" \
  "sandwich-s1=$OUT/sandwich-s1/band" "uniform20-s1=$OUT/uniform20-s1/band" "whole=$OUT/whole/strata"
