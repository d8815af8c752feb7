/**
 * `psvit train --data folder:DIR` on a folder the test generates (issue 20): mixed sizes, grey and
 * colour, PNG/JPEG/WebP, a rotated EXIF JPEG. The run streams the folder (RandomResizedCrop + flip),
 * caches the folder's index in the run directory, resumes mid-epoch to the same weights as an
 * uninterrupted run, stops with one line naming an unreadable file, and with --skip-bad-images trains
 * on without it and says how many it left out.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { tempDir } from "../helpers.js";

const MODEL = {
  kind: "psvit.model",
  version: 1,
  name: "folder-tiny",
  image: { size: 16, channels: 3 },
  patchSize: 4,
  numClasses: 2,
  mlpRatio: 2,
  classToken: false,
  stages: [{ dim: 8, heads: 2, layers: ["attn"] }],
};
const RECIPE = {
  kind: "psvit.recipe",
  version: 1,
  name: "folder-tiny",
  epochs: 2,
  batchSize: 4,
  evalBatchSize: 8,
  optimizer: { type: "adamw", lr: 0.003, weightDecay: 0.05 },
  schedule: { type: "cosine", warmupEpochs: 0.5 },
  checkpoint: { everySteps: 2, keep: 2 },
  logEverySteps: 1,
};

let dir: string;
let model: string;
let recipe: string;
let folder: string;

async function picture(
  file: string,
  w: number,
  h: number,
  channels: 1 | 3,
  seed: number,
  format: "png" | "jpeg" | "webp",
) {
  const px = Buffer.from(
    Uint8Array.from({ length: w * h * channels }, (_, i) => (i * (seed + 3) + seed * 31) & 255),
  );
  let img = sharp(px, { raw: { width: w, height: h, channels } });
  if (format === "jpeg")
    img = img.jpeg({ quality: 90 }).withMetadata({ orientation: seed % 3 === 0 ? 6 : 1 });
  else if (format === "webp") img = img.webp({ quality: 90 });
  else img = img.png();
  await img.toFile(file);
}

beforeAll(async () => {
  dir = tempDir("psvit-folder-train-");
  folder = join(dir, "photos");
  const formats = ["png", "jpeg", "webp"] as const;
  for (const [c, name] of ["cats", "dogs"].entries()) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const f = formats[i % 3];
      await picture(
        join(folder, name, `${i}.${f === "jpeg" ? "jpg" : f}`),
        18 + 3 * i,
        14 + 2 * ((i * 5) % 7),
        i % 4 === 0 ? 1 : 3,
        10 * c + i,
        f,
      );
    }
  }
  model = join(dir, "model.json");
  recipe = join(dir, "recipe.json");
  writeFileSync(model, JSON.stringify(MODEL));
  writeFileSync(recipe, JSON.stringify(RECIPE));
}, 60_000);

const train = (out: string, ...more: string[]) => [
  "node",
  "psvit",
  "train",
  model,
  "--data",
  `folder:${folder}`,
  "--config",
  recipe,
  "--out",
  out,
  "--backend",
  "cpu",
  "--seed",
  "2",
  ...more,
];

describe("psvit train on an image folder", () => {
  it("trains, caches the index in the run directory, and resumes mid-epoch to the same weights", async () => {
    const a = join(dir, "a");
    const io = captureIo();
    expect(await runCli(train(a), io), io.stderr.join("")).toBe(0);
    expect(existsSync(join(a, "data-index-folder.json"))).toBe(true);
    const snap = JSON.parse(readFileSync(join(a, "run.json"), "utf8"));
    expect(snap.data.info.kind).toBe("folder");
    expect(snap.data.info.augment.randomResizedCrop).toEqual({ scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    const steps = readFileSync(join(a, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === "step");
    expect(steps.length).toBeGreaterThan(4);
    expect(steps.every((m) => Number.isFinite(m.loss) && m.data_wait_ms >= 0)).toBe(true);

    const b = join(dir, "b");
    expect(await runCli(train(b, "--stop-after", "3"), captureIo())).toBe(130);
    const resumed = captureIo();
    const resume = ["node", "psvit", "train", model, "--out", b, "--resume", "--backend", "cpu"];
    expect(await runCli(resume, resumed), resumed.stderr.join("")).toBe(0);
    const wa = (await readSafetensors(join(a, "folder-tiny.safetensors"))).tensors;
    const wb = (await readSafetensors(join(b, "folder-tiny.safetensors"))).tensors;
    for (const [name, t] of wa) expect(Array.from(wb.get(name)!.data), name).toEqual(Array.from(t.data));
  }, 120_000);

  it("an unreadable file stops the run with one line naming it; --skip-bad-images leaves it out and counts it", async () => {
    const broken = join(folder, "dogs", "broken.jpg");
    writeFileSync(broken, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 7)]));
    try {
      const io = captureIo();
      expect(await runCli(train(join(dir, "c")), io)).toBe(2);
      const err = io.stderr.join("").trim();
      expect(err.split("\n")).toHaveLength(1);
      expect(err).toContain(`${broken}: unreadable image`);
      const ok = captureIo();
      expect(await runCli(train(join(dir, "d"), "--skip-bad-images"), ok), ok.stderr.join("")).toBe(0);
      // eval and data honour the flag too
      const a = join(dir, "a");
      const evalArgs = [
        "node",
        "psvit",
        "eval",
        join(a, "folder-tiny.model.json"),
        "--weights",
        join(a, "folder-tiny.safetensors"),
        "--data",
        `folder:${folder}`,
        "--seed",
        "2",
        "--backend",
        "cpu",
      ];
      const e1 = captureIo();
      expect(await runCli(evalArgs, e1)).toBe(2);
      expect(e1.stderr.join("")).toContain("broken.jpg: unreadable image");
      const e2 = captureIo();
      expect(await runCli([...evalArgs, "--skip-bad-images", "--json"], e2), e2.stderr.join("")).toBe(0);
      expect(JSON.parse(e2.stdout.join("")).n).toBeGreaterThan(0);
      expect(ok.stderr.join("")).toMatch(
        /1 unreadable image\(s\) left out of training batches \(--skip-bad-images; the first: .*broken\.jpg\)/,
      );
    } finally {
      const { rmSync } = await import("node:fs");
      rmSync(broken);
    }
  }, 120_000);

  it("train-supernet streams the folder too, and evaluates its paths on the streamed validation split", async () => {
    const space = join(dir, "space.json");
    writeFileSync(
      space,
      JSON.stringify({
        kind: "psvit.space",
        version: 1,
        name: "folder-space",
        image: { size: 16, channels: 3 },
        patchSize: 4,
        numClasses: 2,
        mlpRatio: 2,
        classToken: false,
        stages: [
          { dim: 8, heads: 2, cells: 2 },
          { pool: { type: "conv2d", kernel: 2, stride: 2 }, dim: 16, heads: 2, cells: 2 },
        ],
      }),
    );
    const out = join(dir, "supernet");
    const io = captureIo();
    const args = [
      "node",
      "psvit",
      "train-supernet",
      "--space",
      space,
      "--data",
      `folder:${folder}`,
      "--config",
      recipe,
    ];
    expect(
      await runCli([...args, "--epochs", "1", "--out", out, "--backend", "cpu"], io),
      io.stderr.join(""),
    ).toBe(0);
    const evals = readFileSync(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === "eval");
    expect(evals.at(-1).paths.length).toBeGreaterThan(1);
    for (const p of evals.at(-1).paths)
      expect(p.n).toBe(JSON.parse(readFileSync(join(out, "run.json"), "utf8")).data.info.splits.val.n);
  }, 120_000);

  it("a recipe whose augmentation does not fit the data is refused before anything is written", async () => {
    const rrc = join(dir, "rrc.json");
    writeFileSync(
      rrc,
      JSON.stringify({ ...RECIPE, augment: { randomResizedCrop: { scale: [0.2, 1], ratio: [0.75, 1.33] } } }),
    );
    const out = join(dir, "refused");
    const io = captureIo();
    const embedded = ["node", "psvit", "train", model, "--config", rrc, "--out", out, "--backend", "cpu"];
    // the embedded data is 32×32×1: a model for it
    const m1 = join(dir, "grey.json");
    writeFileSync(m1, JSON.stringify({ ...MODEL, image: { size: 32, channels: 1 }, numClasses: 10 }));
    embedded[3] = m1;
    expect(await runCli(embedded, io)).toBe(2);
    expect(io.stderr.join("")).toContain("augment.randomResizedCrop applies to image folders");
    expect(existsSync(out)).toBe(false);
    const pad = join(dir, "pad.json");
    writeFileSync(pad, JSON.stringify({ ...RECIPE, augment: { cropPadding: 2 } }));
    const io2 = captureIo();
    expect(await runCli(train(join(dir, "refused2"), "--config", pad), io2)).toBe(2);
    expect(io2.stderr.join("")).toContain("augment.cropPadding applies to in-memory data");
    expect(existsSync(join(dir, "refused2"))).toBe(false);
  }, 60_000);
});
