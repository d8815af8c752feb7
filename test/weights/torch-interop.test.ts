/**
 * PyTorch interop (SPEC §4): psvit-written weights load into bench/torch_model.py (a PyTorch
 * implementation of SPEC §1) and give the same logits, and weights PyTorch writes load into psvit.
 * Needs /usr/bin/python3 with torch (Debian: apt-get install -y python3-torch libopenblas0-pthread).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/schema.js";
import { HvtModel } from "../../src/model/hvt.js";
import { Rng } from "../../src/util/rng.js";
import { loadModelWeights, saveModelWeights } from "../../src/weights/io.js";
import { model, randomInput, useCpu } from "../model/fixtures.js";
import { maxRelErr, python, requireTorch } from "./torch-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "psvit-torch-"));

beforeAll(async () => {
  await useCpu();
  requireTorch();
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIGS: ModelConfig[] = [
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

const BATCH = 3;

function writeInput(cfg: ModelConfig, name: string): { file: string; x: tf.Tensor4D } {
  const x = randomInput(cfg, BATCH, 21);
  const file = join(dir, name);
  writeFileSync(file, new Uint8Array((x.dataSync() as Float32Array).slice().buffer));
  return { file, x };
}

describe("PyTorch interop", () => {
  it.each(CONFIGS.map((c) => [c.name, c] as const))(
    "%s: psvit weights → PyTorch gives the same logits",
    async (_, cfg) => {
      const m = HvtModel.create(cfg, { seed: 1 });
      // every tensor random (not the 0/1 init of biases and norms), so each layout is exercised
      const rng = new Rng(2);
      for (const v of m.variables().values()) {
        v.assign(
          tf.tensor(
            Float32Array.from({ length: v.size }, () => rng.normal() * 0.2),
            v.shape,
          ),
        );
      }
      const weights = join(dir, `${cfg.name}.psvit.safetensors`);
      await saveModelWeights(weights, cfg, m);
      const { file, x } = writeInput(cfg, `${cfg.name}.a.f32`);
      const ours = (await m.forward(x).array()) as number[][];
      const theirs = JSON.parse(python(["logits", weights, file, String(BATCH)])).logits as number[][];
      expect(theirs.length).toBe(BATCH);
      expect(maxRelErr(ours, theirs)).toBeLessThanOrEqual(1e-4);
      m.dispose();
      x.dispose();
    },
    120_000,
  );

  it.each(CONFIGS.map((c) => [c.name, c] as const))(
    "%s: PyTorch-written weights → psvit gives the same logits",
    async (_, cfg) => {
      const cfgFile = join(dir, `${cfg.name}.json`);
      writeFileSync(cfgFile, JSON.stringify(cfg));
      const weights = join(dir, `${cfg.name}.torch.safetensors`);
      const { file, x } = writeInput(cfg, `${cfg.name}.b.f32`);
      const theirs = JSON.parse(python(["init", cfgFile, weights, "7", file, String(BATCH)]))
        .logits as number[][];
      const { config, model: m } = await loadModelWeights(weights, cfg);
      expect(config).toEqual(cfg);
      const ours = (await m.forward(x).array()) as number[][];
      expect(maxRelErr(ours, theirs)).toBeLessThanOrEqual(1e-4);
      // not trivially equal: the logits differ between classes and between images
      const spread = (row: number[]) => Math.max(...row) - Math.min(...row);
      expect(spread(theirs[0])).toBeGreaterThan(1e-2);
      expect(theirs[0].reduce((s, v, j) => s + Math.abs(v - theirs[1][j]), 0)).toBeGreaterThan(1e-4);
      m.dispose();
      x.dispose();
    },
    120_000,
  );
});
