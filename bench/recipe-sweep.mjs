// Issue 14 item 5: a recipe that learns on small data. Trains one fmnist-2d architecture (default: the
// pipeline's export IBIIII-SIIIBS-IIISIB, 17.0 MFLOPs) from scratch on the embedded data under recipe
// variants, each one change from the earlier default recipe (configs/recipes/fmnist-augment.json:
// crop + flip augmentation) or from another setting, ≥ 2 seeds each; two jobs at a time, one wasm thread each.
//   node bench/recipe-sweep.mjs [--out runs/recipe-sweep] [--seeds 0,1] [--settings a,b,...] [--arch A]
// Prints a Markdown table (setting, epochs, wall time, val top-1 mean ± SE) and writes OUT/sweep.json.
// Re-running skips finished runs. Wall times are those of one job sharing the machine with another.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { meanSe, PSVIT, readMetrics, runJobs, trainingSeconds } from "./jobs.mjs";

const OUT = path.resolve(opt("out", "runs/recipe-sweep"));
const SEEDS = opt("seeds", "0,1").split(",");
const ARCH = opt("arch", "IBIIII-SIIIBS-IIISIB");
// the variants are changes from the recipe that was the default until this sweep (crop + flip)
const base = JSON.parse(readFileSync(path.join(root, "configs/recipes/fmnist-augment.json"), "utf8"));
delete base.$schema;

/** Deep merge of plain objects: `patch`'s values replace `into`'s. */
const merge = (into, patch) => {
  for (const [k, v] of Object.entries(patch)) {
    if (v && typeof v === "object" && !Array.isArray(v) && into[k] && typeof into[k] === "object")
      merge(into[k], v);
    else into[k] = v;
  }
  return into;
};
/** Each setting: a name, what it changes, and the default recipe with that change (5 epochs unless said). */
const variant = (name, what, patch) => ({
  name,
  what,
  recipe: merge(merge(structuredClone(base), { epochs: 5 }), { ...patch, name: `sweep-${name}` }),
});
const NOAUG = { augment: { cropPadding: 0, flipProb: 0 } };
const all = [
  variant("base", "default recipe, 5 epochs", {}),
  variant("lr4e-3", "lr 4e-3", { optimizer: { lr: 4e-3 } }),
  variant("lr8e-3", "lr 8e-3", { optimizer: { lr: 8e-3 } }),
  variant("lr1e-3", "lr 1e-3", { optimizer: { lr: 1e-3 } }),
  variant("bs128", "batch 128, lr 4e-3", { batchSize: 128, optimizer: { lr: 4e-3 } }),
  variant("bs32", "batch 32", { batchSize: 32 }),
  variant("noaug", "no augmentation", { augment: { cropPadding: 0, flipProb: 0 } }),
  variant("flip", "flip only (no crop)", { augment: { cropPadding: 0 } }),
  variant("noaug-lr4e-3", "no augmentation, lr 4e-3", {
    augment: { cropPadding: 0, flipProb: 0 },
    optimizer: { lr: 4e-3 },
  }),
  variant("noaug-ep8", "no augmentation, 8 epochs", { epochs: 8, augment: { cropPadding: 0, flipProb: 0 } }),
  variant("ls0", "no label smoothing", { labelSmoothing: 0 }),
  variant("wd0.01", "weight decay 0.01", { optimizer: { weightDecay: 0.01 } }),
  variant("wd0.2", "weight decay 0.2", { optimizer: { weightDecay: 0.2 } }),
  variant("warm1", "warm-up 1 epoch", { schedule: { warmupEpochs: 1 } }),
  variant("ep9", "9 epochs", { epochs: 9 }),
  variant("ep9-lr4e-3", "9 epochs, lr 4e-3", { epochs: 9, optimizer: { lr: 4e-3 } }),
  variant("ep3", "3 epochs", { epochs: 3 }),
  // one change each from the new default (configs/recipes/fmnist.json = "noaug": no augmentation, 5 epochs)
  variant("noaug-wd0.01", "no augmentation, weight decay 0.01", {
    ...NOAUG,
    optimizer: { weightDecay: 0.01 },
  }),
  variant("noaug-wd0.2", "no augmentation, weight decay 0.2", { ...NOAUG, optimizer: { weightDecay: 0.2 } }),
  variant("noaug-ls0", "no augmentation, no label smoothing", { ...NOAUG, labelSmoothing: 0 }),
  variant("noaug-warm1", "no augmentation, warm-up 1 epoch", { ...NOAUG, schedule: { warmupEpochs: 1 } }),
  variant("noaug-bs32", "no augmentation, batch 32", { ...NOAUG, batchSize: 32 }),
  variant("noaug-bs128", "no augmentation, batch 128, lr 4e-3", {
    ...NOAUG,
    batchSize: 128,
    optimizer: { lr: 4e-3 },
  }),
];
const names = opt("settings", "base,lr4e-3,lr8e-3,bs128,noaug,ls0,warm1").split(",");
const settings = names.map((n) => {
  const s = all.find((x) => x.name === n);
  if (!s) throw new Error(`unknown setting ${n}; known: ${all.map((x) => x.name).join(", ")}`);
  return s;
});

mkdirSync(path.join(OUT, "recipes"), { recursive: true });
const SPACE = path.join(root, "search-spaces/fmnist-2d.json");
const config = path.join(OUT, "configs", `fmnist-2d-${ARCH}.model.json`);
if (!existsSync(config))
  execFileSync(process.execPath, [
    PSVIT,
    "export",
    "--space",
    SPACE,
    "--arch",
    ARCH,
    "--out",
    path.dirname(config),
  ]);

const finished = (dir) =>
  existsSync(dir) && readdirSync(dir).some((f) => f.endsWith(".safetensors") && !f.includes("ckpt"));
const jobs = [];
for (const s of settings) {
  const file = path.join(OUT, "recipes", `${s.name}.json`);
  writeFileSync(file, `${JSON.stringify(s.recipe, null, 2)}\n`);
  for (const seed of SEEDS) {
    const dir = path.join(OUT, `${s.name}-s${seed}`);
    jobs.push({
      name: `${s.name} seed ${seed}`,
      setting: s,
      seed,
      dir,
      args: ["train", config, "--config", file, "--seed", seed, "--out", dir, "--force"],
      log: path.join(OUT, "logs", `${s.name}-s${seed}.log`),
      done: () => finished(dir),
    });
  }
}
const results = await runJobs(jobs, 2, {
  onDone: (r) =>
    console.error(
      `${new Date().toISOString()} ${r.name}: exit ${r.code}${r.seconds ? ` in ${r.seconds.toFixed(0)} s` : ""}`,
    ),
});

/** A finished run's final validation top-1 and its training wall time (first to last logged step). */
function summarize(dir) {
  const m = readMetrics(dir);
  const evals = m.filter((x) => x.type === "eval");
  const run = JSON.parse(readFileSync(path.join(dir, "run.json"), "utf8"));
  const seconds = trainingSeconds(dir);
  return {
    top1: evals.at(-1)?.paths[0].top1 ?? null,
    curve: evals.map((e) => e.paths[0].top1),
    seconds,
    run,
  };
}

const rows = [];
for (const s of settings) {
  const runs = jobs
    .map((j, i) => ({ j, r: results[i] }))
    .filter(({ j }) => j.setting === s)
    .map(({ j, r }) => ({ seed: j.seed, exit: r.code, ...summarize(j.dir) }));
  const acc = meanSe(runs.filter((r) => r.top1 !== null).map((r) => r.top1 * 100));
  const secs = runs.map((r) => r.seconds).filter((x) => x !== null);
  rows.push({ setting: s.name, what: s.what, epochs: s.recipe.epochs, acc, seconds: secs, runs });
}
writeFileSync(
  path.join(OUT, "sweep.json"),
  `${JSON.stringify({ date: new Date().toISOString(), arch: ARCH, seeds: SEEDS, rows }, null, 2)}\n`,
);
console.log("| setting | change | epochs | wall time per run | val top-1 (mean ± SE) | per seed |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const wall = r.seconds.length ? r.seconds.map((x) => `${(x / 60).toFixed(1)}`).join(" / ") : "-";
  const per = r.runs.map((x) => (x.top1 === null ? "-" : (x.top1 * 100).toFixed(2))).join(", ");
  console.log(
    `| ${r.setting} | ${r.what} | ${r.epochs} | ${wall} min | ${r.acc.mean.toFixed(2)} ± ${r.acc.se.toFixed(2)} (n = ${r.acc.n}) | ${per} |`,
  );
}
