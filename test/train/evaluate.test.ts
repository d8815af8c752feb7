/**
 * evaluateAll: several forwards (a supernet's paths) on one pass of the batches give exactly what
 * `evaluate` gives each alone — in memory and streamed from a folder (decoded once, not per path) —
 * and leave no tensor behind.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveData } from "../../src/data/resolve.js";
import { HvtModel } from "../../src/model/hvt.js";
import { evaluate, evaluateAll } from "../../src/train/evaluate.js";
import { tempDir } from "../helpers.js";
import { model, useCpu } from "../model/fixtures.js";

const cfg = (name: string, channels: number, layers: string[]) =>
  model(name, [{ dim: 8, heads: 2, layers }], { image: { size: 16, channels }, numClasses: 3, patchSize: 4 });

describe("evaluateAll", () => {
  beforeAll(useCpu);

  it("equals evaluate on each forward, in memory and streamed, with no tensor left", async () => {
    const dir = tempDir();
    for (const c of ["a", "b", "c"]) {
      mkdirSync(join(dir, c));
      for (let i = 0; i < 6; i++) {
        const px = Buffer.from(
          Uint8Array.from({ length: 20 * 18 * 3 }, (_, k) => (k * (i + 3) + c.charCodeAt(0)) & 255),
        );
        await sharp(px, { raw: { width: 20, height: 18, channels: 3 } })
          .png()
          .toFile(join(dir, c, `${i}.png`));
      }
    }
    const folder = await resolveData(`folder:${dir}`, { seed: 1, valSize: 9, imageSize: 16, channels: 3 });
    const models = [
      HvtModel.create(cfg("e1", 3, ["attn"]), { seed: 1 }),
      HvtModel.create(cfg("e2", 3, ["attn", "reuse"]), { seed: 2 }),
    ];
    const forwards = models.map((m) => (x: tf.Tensor4D) => m.forward(x));
    const pre = folder.info.preprocess;
    for (const split of [folder.val, folder.train]) {
      const before = tf.memory().numTensors;
      const all = await evaluateAll(forwards, split, pre, 4);
      expect(tf.memory().numTensors).toBe(before);
      const each = [await evaluate(forwards[0], split, pre, 4), await evaluate(forwards[1], split, pre, 4)];
      expect(all).toEqual(each);
      expect(all[0]).not.toEqual(all[1]);
      // a limit applies to both
      expect(await evaluateAll(forwards, split, pre, 4, 5)).toEqual([
        await evaluate(forwards[0], split, pre, 4, 5),
        await evaluate(forwards[1], split, pre, 4, 5),
      ]);
    }
    // in memory (the embedded data)
    const embedded = await resolveData(undefined, {
      seed: 0,
      imageSize: 16,
      channels: 1,
      includeTest: false,
    });
    const grey = [
      HvtModel.create(cfg("g1", 1, ["attn"]), { seed: 3 }),
      HvtModel.create(cfg("g2", 1, []), { seed: 4 }),
    ];
    const gf = grey.map((m) => (x: tf.Tensor4D) => m.forward(x));
    const p1 = embedded.info.preprocess;
    expect(await evaluateAll(gf, embedded.val, p1, 64, 100)).toEqual([
      await evaluate(gf[0], embedded.val, p1, 64, 100),
      await evaluate(gf[1], embedded.val, p1, 64, 100),
    ]);
    for (const m of [...models, ...grey]) m.dispose();
  }, 60_000);
});
