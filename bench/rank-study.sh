#!/usr/bin/env bash
# Issue 16 items 2 and 3: how well the supernet ranks, against its own ceiling, and whether two known
# improvements over plain uniform SPOS sampling raise it.
#   bash bench/rank-study.sh [PIPELINE_DIR] [OUT_DIR]
# PIPELINE_DIR: a `psvit pipeline` run (its supernet: uniform sampling, paths under 25M); made when missing.
# 1. band:   12 subnets drawn within ±5% of 25M, each trained from scratch 2 epochs × 2 seeds
# 2. strata: 12 subnets, one per FLOPs stratum under 25M, 1 epoch × 2 seeds
# 3. variant supernets (trained after the band study, so they are ranked on it first), trained like the pipeline's (5 epochs, paths under 25M, seed 0) with one change
#    each — --sampling fair; lr 1e-3 (bench/recipes/fmnist-supernet-lr1e-3.json) — and ranked against the
#    same from-scratch accuracies (rank-corr --scratch-from: no training).
# Every step is skipped when its result exists; one wasm thread (run beside another job on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PIPE=${1:-runs/rank-study/pipeline}
OUT=${2:-runs/rank-study}
export PSVIT_WASM_THREADS=${PSVIT_WASM_THREADS:-1}
psvit() { node bin/psvit "$@"; }
mkdir -p "$OUT"
[ -f "$PIPE/search-evolution/result.json" ] || psvit pipeline --out "$PIPE"
study() { # NAME, then rank-corr flags: a study stopped midway is continued
  local name=$1; shift
  if [ -f "$PIPE/$name/result.json" ]; then return; fi
  if [ -f "$PIPE/$name/rank-corr.json" ]; then psvit rank-corr --run "$PIPE" --name "$name" --resume
  else psvit rank-corr --run "$PIPE" --name "$name" "$@"; fi
}
study band --sampling band --flops 25M --epochs 2 --samples 12
variant() { # NAME, then train-supernet flags
  local name=$1; shift
  local dir="$OUT/supernet-$name"
  [ -f "$dir/run.json" ] && grep -q '"finished"' "$dir/run.json" || psvit train-supernet --flops-range :25M --seed 0 --out "$dir" --force "$@"
  for study in band strata; do
    [ -f "$PIPE/$study/result.json" ] || continue
    [ -f "$dir/$study/result.json" ] || psvit rank-corr --run "$dir" --name "$study" --scratch-from "$PIPE/$study" --json > /dev/null
  done
}
variant fair --sampling fair
variant lr1e-3 --config bench/recipes/fmnist-supernet-lr1e-3.json
study strata --flops 25M --epochs 1 --samples 12
variant fair --sampling fair
variant lr1e-3 --config bench/recipes/fmnist-supernet-lr1e-3.json
# the table: supernet, study, τ [95% CI], per-seed τ, ceiling, ratio
rows=()
for v in "uniform (pipeline)=$PIPE" "fair=$OUT/supernet-fair" "lr1e-3=$OUT/supernet-lr1e-3"; do
  for s in band strata; do rows+=("$v/$s"); done
done
node bench/rank-table.mjs "${rows[@]}"
