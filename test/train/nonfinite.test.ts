/**
 * A poisoned step never reaches the weights: the loop checks the loss and the gradients before the
 * optimizer applies them, stops with a message naming the step (and the path of a supernet step), and
 * the last good checkpoint stays the newest one.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { parseRecipe } from "../../src/config/recipe.js";
import { resolveData } from "../../src/data/resolve.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { type Trainable, trainLoop } from "../../src/train/loop.js";
import { RunDir } from "../../src/train/rundir.js";
import { createLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers.js";
import { TINY_RECIPE, tinySetup } from "./fixtures.js";

let setup: ReturnType<typeof tinySetup>;

beforeAll(async () => {
  setup = tinySetup();
  await tf.setBackend("cpu");
});

/**
 * A linear classifier on the 8×8 images whose training forward number `poisonAt` goes bad: "loss"
 * makes the logits NaN; "grad" keeps the loss finite and makes z's gradient NaN (0·√z at z = 0: the
 * value is 0, its derivative 0·∞). Other steps add 0·z (z's gradient 0).
 */
function poisonedTarget(poisonAt: number, how: "loss" | "grad"): { target: Trainable; w: tf.Variable } {
  const w = tf.variable(tf.randomNormal([64, 3], 0, 0.1, "float32", 1), true, `w-${how}-${poisonAt}`);
  const z = tf.variable(tf.zeros([1]), true, `z-${how}-${poisonAt}`);
  let calls = 0;
  const vars = new Map<string, tf.Variable>([
    ["head.weight", w],
    ["z", z],
  ]);
  const target: Trainable = {
    kind: "model",
    config: {},
    forward: (x) => {
      calls++;
      const logits = x.reshape([x.shape[0], 64]).matMul(w) as tf.Tensor2D;
      if (calls !== poisonAt) return logits.add(z.mul(0)) as tf.Tensor2D;
      if (how === "loss") return logits.mul(Number.NaN) as tf.Tensor2D;
      return logits.add(z.sqrt().mul(0)) as tf.Tensor2D;
    },
    trainableVariables: () => vars,
    allVariables: () => vars,
  };
  return { target, w };
}

async function runPoisoned(how: "loss" | "grad", poisonAt: number) {
  const data = await resolveData(setup.data, { seed: 1, imageSize: 8, channels: 1 });
  const { target, w } = poisonedTarget(poisonAt, how);
  const out = join(tempDir(), `poison-${how}`);
  const run = RunDir.open(out);
  const before: Float32Array[] = [];
  const recipe = parseRecipe({
    ...JSON.parse(readFileSync(setup.recipe, "utf8")),
    ...TINY_RECIPE,
    epochs: 4,
    checkpoint: { everySteps: 2, keep: 3 },
    logEverySteps: 1,
  });
  const err = await trainLoop({
    target,
    evalPaths: [],
    data: { train: data.train, val: data.val, preprocess: data.info.preprocess, augment: data.info.augment },
    recipe,
    seed: 1,
    run,
    logger: createLogger({ level: "silent" }),
    prefetch: 0,
    onStep: () => before.push(Float32Array.from(w.dataSync() as Float32Array)),
  }).catch((e) => e);
  return { err, w, run, before };
}

describe("non-finite steps", () => {
  // the "grad" poison: the loss stays finite; d/dz of 0·√z at z = 0 is 0·∞ = NaN
  for (const how of ["loss", "grad"] as const) {
    it(`a ${how === "loss" ? "NaN loss" : "finite loss with a NaN gradient"} at step 5 leaves the weights as step 4 left them`, async () => {
      const { err, w, run, before } = await runPoisoned(how, 5);
      expect(err.name).toBe("NonFiniteLossError");
      expect(err.message).toContain("at step 5");
      expect(err.message).toContain("the weights are unchanged");
      if (how === "loss") expect(err.message).toMatch(/loss became NaN/);
      else expect(err.message).toMatch(/gradient became non-finite \(z\)/);
      expect(before).toHaveLength(4); // steps 1–4 completed
      // the weights in memory: exactly those after step 4, all finite
      const now = w.dataSync() as Float32Array;
      expect(Array.from(now)).toEqual(Array.from(before[3]));
      expect(now.every(Number.isFinite)).toBe(true);
      // the newest checkpoint is step 4's, and finite
      const last = run.latestCheckpoint()!;
      expect(last.step).toBe(4);
      expect(err.message).toContain(`The last good checkpoint is step 4`);
      const ck = await loadCheckpoint(last.file);
      for (const t of ck.params.values()) expect(t.data.every(Number.isFinite)).toBe(true);
      // and the event is in the metrics
      const events = readFileSync(join(run.dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const bad = events.filter((e) => e.type === "nonfinite");
      expect(bad).toHaveLength(1);
      expect(bad[0].step).toBe(5);
      w.dispose();
    });
  }
});

describe("non-finite logits never count as hits", () => {
  it("topkHits: NaN, +∞ and −∞ rows score nothing; finite rows as before", async () => {
    const { topkHits } = await import("../../src/train/loss.js");
    const K = 3;
    // rows: NaN everywhere (used to rank the label first), NaN beside a finite label score, +∞ on the
    // label, −∞ elsewhere, then two ordinary rows (a hit and a miss)
    const logits = Float32Array.from([
      ...[Number.NaN, Number.NaN, Number.NaN],
      ...[2, Number.NaN, 1],
      ...[Number.POSITIVE_INFINITY, 0, 0],
      ...[1, Number.NEGATIVE_INFINITY, 0],
      ...[0.1, 0.9, 0.2],
      ...[0.1, 0.9, 0.2],
    ]);
    expect(topkHits(logits, K, [0, 0, 0, 0, 1, 0])).toEqual({ top1: 1, top5: 2 });
  });
});
