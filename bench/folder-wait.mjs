// Issue 20 item 4, second part: does a training step wait for data when the loader keeps up? Trains a
// psvit-2d-tiny path at 224×224 (10 classes) for --steps steps on a folder of ImageNet-like JPEGs
// (bench/folder-gen.mjs), streamed with the folder defaults (RandomResizedCrop + flip), logging every
// step, and reads each step's data wait (the time the loop waited for its batch) and duration from
// metrics.jsonl. With a step that takes longer than the loader needs for a batch, every step after the
// first should wait ≈ 0 ms.
//   node bench/folder-wait.mjs [--dir runs/folder-wait] [--images 2000] [--arch IBSIBB-SIIBIB-BSBIIS]
//        [--steps 12] [--batch 32] [--backend wasm] [--threads 2]
// Prints a Markdown row and writes DIR/result.json.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { generateJpegFolder } from "./folder-gen.mjs";

const DIR = path.resolve(opt("dir", "runs/folder-wait"));
const N = Number(opt("images", "2000"));
const ARCH = opt("arch", "IBSIBB-SIIBIB-BSBIIS");
const STEPS = Number(opt("steps", "12"));
const BATCH = Number(opt("batch", "32"));
const BACKEND = opt("backend", "wasm");
const THREADS = opt("threads", "2");
const PSVIT = path.join(root, "bin/psvit");
mkdirSync(DIR, { recursive: true });

const folder = path.join(DIR, `jpeg-${N}`);
await generateJpegFolder(folder, N);
const psvit = (args) =>
  execFileSync(process.execPath, [PSVIT, ...args], {
    encoding: "utf8",
    env: { ...process.env, PSVIT_WASM_THREADS: THREADS },
    stdio: ["ignore", "pipe", "inherit"],
  });

// the space's path as a 10-class model
const configs = path.join(DIR, "configs");
psvit([
  "export",
  "--space",
  path.join(root, "search-spaces/psvit-2d-tiny.json"),
  "--arch",
  ARCH,
  "--out",
  configs,
  "--force",
]);
const name = `psvit-2d-tiny-${ARCH}`;
const modelFile = path.join(configs, `${name}.model.json`);
const model = JSON.parse(readFileSync(modelFile, "utf8"));
model.numClasses = 10;
writeFileSync(modelFile, `${JSON.stringify(model, null, 2)}\n`);
const { flops } = JSON.parse(psvit(["flops", modelFile, "--json"]));

const recipe = JSON.parse(readFileSync(path.join(root, "configs/recipes/fmnist.json"), "utf8"));
Object.assign(recipe, {
  name: "folder-wait",
  batchSize: BATCH,
  evalBatchSize: BATCH,
  logEverySteps: 1,
  checkpoint: { everySteps: 1000, keep: 1 },
  augment: { randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }, flipProb: 0.5 },
});
delete recipe.$schema;
const recipeFile = path.join(DIR, "recipe.json");
writeFileSync(recipeFile, `${JSON.stringify(recipe, null, 2)}\n`);

const trainImages = Math.round(N * 0.9);
const out = path.join(DIR, "run");
const t0 = Date.now();
psvit([
  "train",
  modelFile,
  "--config",
  recipeFile,
  "--data",
  `folder:${folder}`,
  "--epochs",
  ((STEPS * BATCH) / trainImages).toFixed(6),
  "--eval-images",
  String(BATCH),
  "--backend",
  BACKEND,
  "--out",
  out,
  "--force",
]);
const wall = (Date.now() - t0) / 1000;
const steps = readFileSync(path.join(out, "metrics.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l))
  .filter((r) => r.type === "step");
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stepMs = steps.map((s) => (BATCH / s.images_per_sec) * 1000);
const later = steps.slice(1);
const result = {
  date: new Date().toISOString(),
  arch: ARCH,
  flops,
  backend: BACKEND,
  threads: THREADS,
  batch: BATCH,
  steps: steps.length,
  first_step_wait_ms: steps[0]?.data_wait_ms,
  median_wait_ms_after_first: med(later.map((s) => s.data_wait_ms)),
  max_wait_ms_after_first: Math.max(...later.map((s) => s.data_wait_ms)),
  median_step_ms: med(stepMs),
  wall_s: wall,
  per_step: steps.map((s, i) => ({ step: s.step, wait_ms: s.data_wait_ms, step_ms: Math.round(stepMs[i]) })),
};
writeFileSync(path.join(DIR, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  "| model | backend | batch | steps | median step | first step's wait | median wait after it | max wait after it |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
console.log(
  `| psvit-2d-tiny ${ARCH} at 224 (${(flops / 1e6).toFixed(0)} MFLOPs) | ${BACKEND} (${THREADS} threads) | ${BATCH} | ${steps.length} | ${result.median_step_ms.toFixed(0)} ms | ${result.first_step_wait_ms} ms | ${result.median_wait_ms_after_first} ms | ${result.max_wait_ms_after_first} ms |`,
);
