// Issue 20 item 2: the peak memory of a training run on an image folder does not grow with the
// folder's size. Trains the same small model (32×32×3 input) for the same number of steps on folders
// of 2,000 and 20,000 ImageNet-like JPEGs (bench/folder-gen.mjs), streamed, and reads each run's
// peak resident set from GNU time.
//   node bench/folder-memory.mjs [--dir runs/folder-mem] [--sizes 2000,20000] [--steps 120] [--threads 1]
// Prints a Markdown table and writes DIR/result.json.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { generateJpegFolder } from "./folder-gen.mjs";

const DIR = path.resolve(opt("dir", "runs/folder-mem"));
const SIZES = opt("sizes", "2000,20000").split(",").map(Number);
const STEPS = Number(opt("steps", "120"));
const THREADS = opt("threads", "1");
mkdirSync(DIR, { recursive: true });

const model = path.join(DIR, "model.json");
writeFileSync(
  model,
  JSON.stringify({
    kind: "psvit.model",
    version: 1,
    name: "folder-mem",
    image: { size: 32, channels: 3 },
    patchSize: 4,
    numClasses: 10,
    mlpRatio: 4,
    classToken: false,
    stages: [
      { dim: 48, heads: 2, layers: ["attn", "attn"] },
      {
        pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1 },
        dim: 96,
        heads: 4,
        layers: ["attn", "attn"],
      },
    ],
  }),
);

const rows = [];
for (const n of SIZES) {
  const folder = path.join(DIR, `jpeg-${n}`);
  const t0 = Date.now();
  // every folder is its own, generated with the same seed: the smaller is a prefix of the larger
  await generateJpegFolder(folder, n);
  console.error(`${folder}: ${n} images ready (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  const trainImages = Math.round(n * 0.9);
  const epochs = (STEPS * 64) / trainImages;
  const out = path.join(DIR, `run-${n}`);
  const started = Date.now();
  const r = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "peak-kib %M",
      process.execPath,
      path.join(root, "bin/psvit"),
      "train",
      model,
      "--data",
      `folder:${folder}`,
      "--epochs",
      epochs.toFixed(6),
      "--out",
      out,
      "--force",
    ],
    { encoding: "utf8", env: { ...process.env, PSVIT_WASM_THREADS: THREADS } },
  );
  const seconds = (Date.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`train on ${folder} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const peakKib = Number(/peak-kib (\d+)/.exec(r.stderr)[1]);
  const snap = JSON.parse(readFileSync(path.join(out, "run.json"), "utf8"));
  const row = {
    images: n,
    train_images: snap.data.info.splits.train.n,
    val_images: snap.data.info.splits.val.n,
    steps: snap.finished?.steps,
    peak_rss_mb: Math.round(peakKib / 1024),
    images_per_sec: Math.round(snap.finished?.images_per_sec * 10) / 10,
    data_wait_ms: Math.round(snap.finished?.data_wait_ms * 10) / 10,
    seconds: Math.round(seconds),
  };
  rows.push(row);
  console.error(JSON.stringify(row));
}
writeFileSync(
  path.join(DIR, "result.json"),
  `${JSON.stringify({ date: new Date().toISOString(), threads: THREADS, rows }, null, 2)}\n`,
);
console.log(
  "| images in the folder | train / val | steps | peak RSS | images/s | median data wait per step | wall |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows)
  console.log(
    `| ${r.images} | ${r.train_images} / ${r.val_images} | ${r.steps} | ${r.peak_rss_mb} MB | ${r.images_per_sec} | ${r.data_wait_ms} ms | ${r.seconds} s |`,
  );
