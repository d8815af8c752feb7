/** A tiny space, recipe and IDX dataset for fast end-to-end training tests on the cpu backend. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeIdx } from "../../src/data/idx.js";
import { Rng } from "../../src/util/rng.js";
import { tempDir } from "../helpers.js";

export const TINY_SPACE = {
  kind: "psvit.space",
  version: 1,
  name: "tiny",
  image: { size: 8, channels: 1 },
  patchSize: 2,
  numClasses: 3,
  mlpRatio: 2,
  classToken: false,
  stages: [
    { dim: 8, heads: 2, cells: 2 },
    { pool: { type: "conv2d", kernel: 2, stride: 2 }, dim: 16, heads: 2, cells: 2 },
  ],
};

export const TINY_RECIPE = {
  kind: "psvit.recipe",
  version: 1,
  name: "tiny",
  epochs: 2,
  batchSize: 8,
  evalBatchSize: 16,
  optimizer: { type: "adamw", lr: 0.003, weightDecay: 0.05 },
  schedule: { type: "cosine", warmupEpochs: 0.5 },
  checkpoint: { everySteps: 3, keep: 2 },
  logEverySteps: 2,
};

/** Writes space, recipe and a 3-class 8×8 IDX dataset (class = which third of the image is bright). */
export function tinySetup(n = 72): { dir: string; space: string; recipe: string; data: string } {
  const dir = tempDir("psvit-train-");
  const rng = new Rng(123);
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let p = 0; p < 64; p++) {
      const row = Math.floor(p / 8);
      const bright = Math.floor(row / 3) === c;
      images[i * 64 + p] = Math.min(255, (bright ? 160 : 40) + rng.int(60));
    }
  }
  writeFileSync(join(dir, "images.idx"), encodeIdx([n, 8, 8], images));
  writeFileSync(join(dir, "labels.idx"), encodeIdx([n], labels));
  writeFileSync(join(dir, "space.json"), JSON.stringify(TINY_SPACE));
  writeFileSync(join(dir, "recipe.json"), JSON.stringify(TINY_RECIPE));
  return {
    dir,
    space: join(dir, "space.json"),
    recipe: join(dir, "recipe.json"),
    data: `idx:${join(dir, "images.idx")},${join(dir, "labels.idx")}`,
  };
}

/** Options that keep a training command quiet and synchronous on the cpu backend. */
export const QUIET = { backend: "cpu", logLevel: "silent", prefetch: 0 } as const;

/** A tiny train-supernet run's options (seed 7) on `setup`'s space, recipe and data, into `out`. */
export function tinyTrainOptions(setup: ReturnType<typeof tinySetup>, out: string) {
  return { ...QUIET, space: setup.space, config: setup.recipe, data: setup.data, out, seed: 7 };
}

/** A tiny supernet trained with seed 3 on a fresh `tinySetup()`: the run directory the search tests copy. */
export async function tinySupernetRun(): Promise<string> {
  const { trainSupernetCommand } = await import("../../src/cli/commands/train.js");
  const { captureIo } = await import("../../src/cli/io.js");
  const tf = await import("@tensorflow/tfjs");
  const s = tinySetup();
  const runDir = join(tempDir(), "run");
  await trainSupernetCommand(
    { ...QUIET, space: s.space, config: s.recipe, data: s.data, out: runDir, seed: 3 },
    captureIo(),
  );
  await tf.setBackend("cpu");
  return runDir;
}
