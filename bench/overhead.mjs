#!/usr/bin/env node
// The training loop's images/s against `psvit bench` on the same architecture, in the same run.
// `npm run build && node bench/overhead.mjs [--arch BBSSII-BBSSII-BBSSII] [--steps 30] [--rounds 2]`
// Loop: psvit train on the embedded data (augmentation, prefetch, logging, checkpoint-free steps);
// bench: forward + backward + AdamW on random data. Both batch 64, wasm, 1 thread.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..");
const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[++i];
const arch = args.arch ?? "BBSSII-BBSSII-BBSSII";
const steps = Number(args.steps ?? 30);
const rounds = Number(args.rounds ?? 2);

const { loadSpaceConfig } = await import(`${root}/dist/config/load.js`);
const { materialize, parseArch } = await import(`${root}/dist/space/arch.js`);
const dir = mkdtempSync(path.join(tmpdir(), "psvit-overhead-"));
const model = materialize(loadSpaceConfig(`${root}/search-spaces/fmnist-2d.json`), parseArch(arch));
const modelFile = path.join(dir, "model.json");
writeFileSync(modelFile, JSON.stringify(model));
const recipe = JSON.parse(readFileSync(`${root}/configs/recipes/fmnist.json`, "utf8"));
recipe.logEverySteps = 1;
recipe.checkpoint = { everySteps: null, keep: 1 };
const recipeFile = path.join(dir, "recipe.json");
writeFileSync(recipeFile, JSON.stringify(recipe));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const psvit = (a) =>
  execFileSync(process.execPath, [path.join(root, "bin", "psvit"), ...a], {
    encoding: "utf8",
    env: { ...process.env, PSVIT_BACKEND: "wasm" },
  });

const loop = [];
const bench = [];
for (let r = 0; r < rounds; r++) {
  const b = JSON.parse(
    psvit(["bench", modelFile, "--batch", "64", "--steps", String(Math.min(steps, 15)), "--json"])
      .trim()
      .split("\n")
      .at(-1),
  );
  bench.push(b.train_img_s);
  const out = path.join(dir, `run${r}`);
  try {
    // the hidden --stop-after makes the run stop (as if interrupted) after `steps` steps
    psvit(["train", modelFile, "--config", recipeFile, "--out", out, "--stop-after", String(steps)]);
  } catch (e) {
    if (e.status !== 130) throw e;
  }
  const rows = readFileSync(path.join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const ips = rows.filter((m) => m.type === "step" && m.step > 3).map((m) => m.images_per_sec);
  loop.push(median(ips));
  console.error(
    `round ${r + 1}: bench ${b.train_img_s.toFixed(1)} img/s, loop ${median(ips).toFixed(1)} img/s`,
  );
}
const result = {
  arch,
  steps,
  bench_img_s: median(bench),
  loop_img_s: median(loop),
  ratio: median(loop) / median(bench),
};
console.log(
  `${arch}: loop ${result.loop_img_s.toFixed(1)} img/s vs bench ${result.bench_img_s.toFixed(1)} img/s: ratio ${result.ratio.toFixed(3)}`,
);
console.log(JSON.stringify(result));
