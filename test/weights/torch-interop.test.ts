/**
 * PyTorch interop (SPEC §4): psvit-written weights load into bench/torch_model.py (a PyTorch
 * implementation of SPEC §1) and give the same logits, and weights PyTorch writes load into psvit.
 * Needs /usr/bin/python3 with torch (Debian: apt-get install -y python3-torch libopenblas0-pthread).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/schema.js";
import { HvtModel } from "../../src/model/hvt.js";
import { loadModelWeights, saveModelWeights } from "../../src/weights/io.js";
import { randomInput, useCpu } from "../model/fixtures.js";
import { maxRelErr, python, randomizeWeights, requireTorch, TORCH_CONFIGS } from "./torch-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "psvit-torch-"));

beforeAll(async () => {
  await useCpu();
  requireTorch();
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BATCH = 3;

function writeInput(cfg: ModelConfig, name: string): { file: string; x: tf.Tensor4D } {
  const x = randomInput(cfg, BATCH, 21);
  const file = join(dir, name);
  writeFileSync(file, new Uint8Array((x.dataSync() as Float32Array).slice().buffer));
  return { file, x };
}

describe("PyTorch interop", () => {
  it.each(TORCH_CONFIGS.map((c) => [c.name, c] as const))(
    "%s: psvit weights → PyTorch gives the same logits",
    async (_, cfg) => {
      const m = HvtModel.create(cfg, { seed: 1 });
      // every tensor random (not the 0/1 init of biases and norms), so each layout is exercised
      randomizeWeights(m, 2);
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

  it.each(TORCH_CONFIGS.map((c) => [c.name, c] as const))(
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
