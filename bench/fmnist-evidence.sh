#!/bin/sh
# Issue 7's Fashion-MNIST evidence, end to end (≈ 2–3 hours on 2 cores; docs/BENCHMARKS.md has the
# results and timings). Needs the Debian package dataset-fashion-mnist. Every step writes into $OUT;
# each command can be re-run with --resume after an interruption.
#   sh bench/fmnist-evidence.sh [OUT=runs/fmnist-evidence] [EPOCHS=3] [BUDGET=25M]
set -eu
OUT=${1:-runs/fmnist-evidence}
EPOCHS=${EPOCHS:-3}
BUDGET=${BUDGET:-25M}
P="node bin/psvit"
DATA="--data fashion-mnist"
mkdir -p "$OUT"

# 1. supernet (SPOS, 2 epochs of 54,000 images), search under the budget, export the winner
$P train-supernet $DATA --epochs 2 --out "$OUT/supernet"
$P search --run "$OUT/supernet" --flops "$BUDGET" --population 16 --generations 8 --val-images 2000 --workers 2
$P export --run "$OUT/supernet" --out "$OUT/searched" --json > "$OUT/searched.json"
W=$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(j.flops)' "$OUT/searched.json")

# 2. the baselines: a random architecture of the same FLOPs (within 1% below the winner's), drawn
#    uniformly from the space; the DeiT-like uniform model (configs/fmnist-deit-uniform.json, 23.3 M)
LO=$(node -e 'console.log(Math.floor(Number(process.argv[1])*0.99))' "$W")
$P space search-spaces/fmnist-2d.json --flops-range "$LO:$W" --sample 1 --seed 0 --json > "$OUT/random.json"
ARCH=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).samples[0].arch)' "$OUT/random.json")
$P export --space search-spaces/fmnist-2d.json --arch "$ARCH" --out "$OUT/random" --name fmnist-2d-random

# 3. the three from scratch with the same recipe, then their test accuracy (10,000 test images)
for m in "searched:$OUT/searched/$(ls "$OUT/searched" | grep '\.model\.json$')" \
  "random:$OUT/random/fmnist-2d-random.model.json" "deit:configs/fmnist-deit-uniform.json"; do
  name=${m%%:*}
  cfg=${m#*:}
  $P train "$cfg" $DATA --epochs "$EPOCHS" --out "$OUT/train-$name"
  model=$(ls "$OUT/train-$name" | grep '\.model\.json$')
  base=${model%.model.json}
  $P eval "$OUT/train-$name/$model" --weights "$OUT/train-$name/$base.safetensors" $DATA --split test --json \
    > "$OUT/test-$name.json"
done

# 4. ranking correlation: 12 subnets, a quarter epoch each from scratch, against the supernet
$P rank-corr --run "$OUT/supernet" --samples 12 --epochs 0.25 --val-images 2000 --json > "$OUT/rank-corr.json"
cat "$OUT"/test-*.json "$OUT/rank-corr.json"
