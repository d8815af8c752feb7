/**
 * The PyTorch reference (bench/torch_model.py, run by /usr/bin/python3 with Debian's python3-torch) as
 * the tests call it, and how they compare its logits with psvit's.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../../src/config/schema.js";
import type { HvtModel } from "../../src/model/hvt.js";
import { Rng } from "../../src/util/rng.js";
import { model } from "../model/fixtures.js";

export const PYTHON = "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "../../bench/torch_model.py");

/** Throws with the install line when /usr/bin/python3 cannot import torch. */
export function requireTorch(): void {
  const probe = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `the PyTorch interop test needs ${PYTHON} with torch, but it cannot import torch` +
        ` (${(probe.stderr || String(probe.error)).trim().split("\n").at(-1)}).` +
        ` Install it: apt-get install -y python3-torch libopenblas0-pthread`,
    );
  }
}

/** bench/torch_model.py with these arguments; its stdout. */
export function python(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0)
    throw new Error(`python3 ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.error ?? ""}`);
  return r.stdout;
}

/** Largest |a − b| / max(1, |b|) over two tables of logits. */
export function maxRelErr(a: number[][], b: number[][]): number {
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++)
      err = Math.max(err, Math.abs(a[i][j] - b[i][j]) / Math.max(1, Math.abs(b[i][j])));
  }
  return err;
}

/** Every variable N(0, 0.2²) from `seed` (not the 0/1 init of biases and norms), so each layout is exercised. */
export function randomizeWeights(m: HvtModel, seed: number): void {
  const rng = new Rng(seed);
  for (const v of m.variables().values())
    v.assign(
      tf.tensor(
        Float32Array.from({ length: v.size }, () => rng.normal() * 0.2),
        v.shape,
      ),
    );
}

/** Models the PyTorch comparisons run: conv2d pools with reuse and an empty stage; 1-D pools, class token. */
export const TORCH_CONFIGS: ModelConfig[] = [
  model(
    "torch-2d",
    [
      { dim: 8, heads: 2, layers: ["attn", "reuse"] },
      {
        pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1, posEmbed: true },
        dim: 16,
        heads: 4,
        layers: ["attn", "reuse", "attn"],
      },
      { pool: { type: "conv2d", kernel: 2, stride: 2 }, dim: 12, heads: 3, layers: [] },
    ],
    { image: { size: 16, channels: 3 }, numClasses: 6, mlpRatio: 2 },
  ),
  model(
    "torch-1d-cls",
    [
      { dim: 8, heads: 2, layers: ["attn"] },
      {
        pool: { type: "linear-max1d", kernel: 3, stride: 2, posEmbed: true },
        dim: 12,
        heads: 3,
        layers: ["attn", "reuse"],
      },
      { pool: { type: "max1d", kernel: 2, stride: 1 }, dim: 12, heads: 2, layers: ["attn"] },
    ],
    { image: { size: 12, channels: 2 }, patchSize: 3, classToken: true, numClasses: 4, mlpRatio: 3 },
  ),
];
