import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { predictCommand } from "../../src/cli/commands/predict.js";
import { captureIo } from "../../src/cli/io.js";
import type { ModelConfig } from "../../src/config/schema.js";
import { encodeIdx } from "../../src/data/idx.js";
import { DataError, UsageError } from "../../src/errors.js";
import { HvtModel } from "../../src/model/hvt.js";
import { Rng } from "../../src/util/rng.js";
import { saveModelWeights } from "../../src/weights/io.js";
import { model, useCpu } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "psvit-predict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CFG: ModelConfig = model(
  "predict-1d",
  [
    { dim: 8, heads: 2, layers: ["attn"] },
    { pool: { type: "linear-max1d", kernel: 3, stride: 2 }, dim: 12, heads: 2, layers: ["attn", "reuse"] },
  ],
  {
    image: { size: 16, channels: 1 },
    classToken: true,
    numClasses: 4,
    preprocess: { mean: [0.3], std: [0.5] },
  },
);

let modelFile: string;
let weightsFile: string;
let ref: HvtModel;

beforeAll(async () => {
  await useCpu();
  ref = HvtModel.create(CFG, { seed: 4 });
  const rng = new Rng(5);
  for (const v of ref.variables().values()) {
    v.assign(
      tf.tensor(
        Float32Array.from({ length: v.size }, () => rng.normal() * 0.3),
        v.shape,
      ),
    );
  }
  modelFile = join(dir, "model.json");
  writeFileSync(modelFile, JSON.stringify(CFG));
  weightsFile = join(dir, "w.safetensors");
  await saveModelWeights(weightsFile, CFG, ref);
});

function pixels(n: number, size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n * size * size }, () => rng.int(256));
}

/** Logits psvit's model gives for uint8 images at the model's size. */
function expected(images: Uint8Array, n: number): number[][] {
  const x = Float32Array.from(images, (v) => (v / 255 - 0.3) / 0.5);
  return ref.forward(tf.tensor4d(x, [n, 16, 16, 1])).arraySync() as number[][];
}

describe("psvit predict", () => {
  it("IDX file at the model's size: --json gives index, top1 and the model's logits, batched", async () => {
    const n = 5;
    const imgs = pixels(n, 16, 1);
    const file = join(dir, "imgs.idx");
    writeFileSync(file, encodeIdx([n, 16, 16], imgs));
    const io = captureIo();
    await predictCommand(
      modelFile,
      { backend: "cpu", weights: weightsFile, images: file, json: true, batchSize: "2" },
      io,
    );
    const lines = io.stdout
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const want = expected(imgs, n);
    expect(lines.map((l) => l.index)).toEqual([0, 1, 2, 3, 4]);
    for (const [i, l] of lines.entries()) {
      expect(l.logits.length).toBe(4);
      for (const [j, v] of (l.logits as number[]).entries()) expect(v).toBeCloseTo(want[i][j], 5);
      expect(l.top1).toBe(want[i].indexOf(Math.max(...want[i])));
    }
    const plain = captureIo();
    await predictCommand(modelFile, { backend: "cpu", weights: weightsFile, images: file, limit: 3 }, plain);
    expect(plain.stdout.join("").trim().split("\n")).toEqual(
      lines.slice(0, 3).map((l) => `${l.index}\t${l.top1}`),
    );
  });

  it("smaller images are fitted (zero-padded) to the model's size", async () => {
    const imgs = pixels(2, 12, 2);
    const file = join(dir, "small.idx");
    writeFileSync(file, encodeIdx([2, 12, 12], imgs));
    const io = captureIo();
    await predictCommand(modelFile, { backend: "cpu", weights: weightsFile, images: file, json: true }, io);
    const padded = new Uint8Array(2 * 256);
    for (let i = 0; i < 2; i++)
      for (let y = 0; y < 12; y++)
        for (let x = 0; x < 12; x++) padded[i * 256 + (y + 2) * 16 + x + 2] = imgs[i * 144 + y * 12 + x];
    const want = expected(padded, 2);
    const got = io.stdout
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).logits as number[]);
    for (const [i, row] of got.entries())
      for (const [j, v] of row.entries()) expect(v).toBeCloseTo(want[i][j], 5);
  });

  it("an image folder (recursive, sorted), PNG", async () => {
    const folder = join(dir, "folder");
    mkdirSync(join(folder, "b"), { recursive: true });
    mkdirSync(join(folder, "a"), { recursive: true });
    const imgs = pixels(2, 16, 3);
    await sharp(Buffer.from(imgs.subarray(0, 256)), { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(join(folder, "a", "x.png"));
    await sharp(Buffer.from(imgs.subarray(256)), { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(join(folder, "b", "y.png"));
    writeFileSync(join(folder, "notes.txt"), "ignored");
    const io = captureIo();
    await predictCommand(modelFile, { backend: "cpu", weights: weightsFile, images: folder }, io);
    const want = expected(imgs, 2).map((r) => r.indexOf(Math.max(...r)));
    expect(io.stdout.join("").trim().split("\n")).toEqual([
      `0\t${want[0]}\t${join(folder, "a", "x.png")}`,
      `1\t${want[1]}\t${join(folder, "b", "y.png")}`,
    ]);
  });

  it("a folder of mixed image sizes is accepted, as `psvit data` accepts it (issue 20)", async () => {
    const folder = join(dir, "mixed");
    mkdirSync(join(folder, "a"), { recursive: true });
    mkdirSync(join(folder, "b"), { recursive: true });
    const imgs = pixels(2, 16, 4);
    await sharp(Buffer.from(imgs.subarray(0, 256)), { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(join(folder, "a", "x.png"));
    await sharp(Buffer.from(imgs.subarray(0, 144)), { raw: { width: 12, height: 12, channels: 1 } })
      .png()
      .toFile(join(folder, "b", "y.png"));
    // a folder dataset streams any sizes (issue 20), and predict fits each image on its own
    const { resolveData } = await import("../../src/data/resolve.js");
    const r = await resolveData(`folder:${folder}`, { seed: 0, valSize: 1, imageSize: 16, channels: 1 });
    expect(r.info.splits.train.n + r.info.splits.val.n).toBe(2);
    const io = captureIo();
    await predictCommand(modelFile, { backend: "cpu", weights: weightsFile, images: folder }, io);
    expect(io.stdout.join("").trim().split("\n")).toHaveLength(2);
  });

  it("weights of another config, bad flags, missing images → clear errors", async () => {
    const other = { ...CFG, numClasses: 5 };
    const otherFile = join(dir, "other.json");
    writeFileSync(otherFile, JSON.stringify(other));
    const file = join(dir, "imgs.idx");
    await expect(
      predictCommand(otherFile, { backend: "cpu", weights: weightsFile, images: file }, captureIo()),
    ).rejects.toThrow(/different model config: numClasses: 5 vs 4/);
    await expect(
      predictCommand(
        modelFile,
        { backend: "cpu", weights: weightsFile, images: file, limit: "0" },
        captureIo(),
      ),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(
      predictCommand(
        modelFile,
        { backend: "cpu", weights: weightsFile, images: join(dir, "none.idx") },
        captureIo(),
      ),
    ).rejects.toBeInstanceOf(DataError);
    const empty = join(dir, "empty");
    mkdirSync(empty);
    await expect(
      predictCommand(modelFile, { backend: "cpu", weights: weightsFile, images: empty }, captureIo()),
    ).rejects.toThrow(/no \.png, \.jpg or \.jpeg images/);
  });
});
