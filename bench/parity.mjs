// Issue 14 item 4: training parity with PyTorch. Trains one architecture on the embedded data with the
// same recipe in psvit (`psvit train`, one wasm thread) and in PyTorch (bench/torch_train.py, one
// thread: the same preprocessing, augmentation, init distribution, AdamW + decay mask, schedule, label
// smoothing and clipping), for every seed × epoch count, two processes at a time, and compares the
// final validation top-1: mean ± SE over seeds, the difference, Welch's t test, whether |diff| < 1 point
// and whether |diff| < 2·√(SE₁² + SE₂²).
//   node bench/parity.mjs [--config X.model.json] [--seeds 0,1,2] [--epochs 1,5] [--out runs/parity]
//                         [--recipe configs/recipes/fmnist.json] [--python /usr/bin/python3]
//   node bench/parity.mjs --check [--config X] [--seed 0] [--epochs 1]   (cheap: no training)
// The default config is the pipeline's export IBIIII-SIIIBS-IIISIB of search-spaces/fmnist-2d.json
// (written to OUT/configs by `psvit export` if missing). Results: OUT/parity.json and a Markdown table
// on stdout; run outputs in OUT/psvit/eE-sS/ (run dirs) and OUT/torch/eE-sS.json. Re-running skips
// finished runs.
// --check: the loss at init on one fixed batch (the first batchSize training images, no augmentation)
// in psvit, in PyTorch with its own init, and in PyTorch from psvit's initial weights (equal to psvit's
// up to float rounding: same data path and loss); the learning rate at steps 0, warmupSteps and
// totalSteps − 1 (psvit's lrAt against torch_train.py's); the preprocessing and the decayed tensors.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { argv, DEFAULT_SPACE, opt, root } from "./args.mjs";
import { meanSe, PSVIT, readMetrics, runJobs } from "./jobs.mjs";

const OUT = path.resolve(opt("out", "runs/parity"));
const SEEDS = opt("seeds", "0,1,2").split(",");
const EPOCHS = opt("epochs", argv.includes("--check") ? "1" : "1,5").split(",");
const RECIPE = path.resolve(opt("recipe", path.join(root, "configs/recipes/fmnist.json")));
const PYTHON = opt("python", "/usr/bin/python3");
const TORCH_TRAIN = path.join(root, "bench/torch_train.py");
const CHECK_STEPS = Number(opt("check-steps", "3"));
const ARCH = "IBIIII-SIIIBS-IIISIB";

function defaultConfig() {
  const dir = path.join(OUT, "configs");
  const file = path.join(dir, `fmnist-2d-${ARCH}.model.json`);
  if (!existsSync(file))
    execFileSync(process.execPath, [PSVIT, "export", "--space", DEFAULT_SPACE, "--arch", ARCH, "--out", dir]);
  return file;
}
const CONFIG = path.resolve(opt("config", "") || defaultConfig());

const pm = (s) =>
  s.n ? `${s.mean.toFixed(2)}% ± ${Number.isFinite(s.se) ? s.se.toFixed(2) : "-"} (n = ${s.n})` : "-";
const num = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const yn = (b) => (b === null ? "-" : b ? "yes" : "no");

if (argv.includes("--check")) {
  await check(Number(opt("seed", "0")), EPOCHS[0]);
  process.exit(0);
}

// ---- the study ----
// --reuse-psvit E=PATTERN: psvit's E-epoch runs are the run directories PATTERN with {seed} replaced (the
// same command with the same recipe, e.g. train-proof's 5-epoch runs of this architecture) when finished
const REUSE = Object.fromEntries(
  (opt("reuse-psvit", "") || "")
    .split(",")
    .filter(Boolean)
    .map((x) => x.split("=")),
);
const psvitDir = (e, s) => {
  const reused = REUSE[e] ? path.resolve(REUSE[e].replaceAll("{seed}", s)) : null;
  return reused && psvitFinished(reused) ? reused : path.join(OUT, "psvit", `e${e}-s${s}`);
};
const torchFile = (e, s) => path.join(OUT, "torch", `e${e}-s${s}.json`);
const readJson = (f) => {
  try {
    return JSON.parse(readFileSync(f, "utf8"));
  } catch {
    return null;
  }
};
const psvitFinished = (dir) => Boolean(readJson(path.join(dir, "run.json"))?.finished);

const jobs = [];
// the longest first; each seed's two sides side by side (same load on both)
const byLength = [...EPOCHS].sort((a, b) => Number(b) - Number(a));
for (const e of byLength) {
  for (const s of SEEDS) {
    const dir = psvitDir(e, s);
    jobs.push({
      name: `psvit e${e} s${s}`,
      args: ["train", CONFIG, "--config", RECIPE, "--epochs", e, "--seed", s, "--out", dir, "--force"],
      log: path.join(OUT, "logs", `psvit-e${e}-s${s}.log`),
      done: () => psvitFinished(dir),
    });
    const file = torchFile(e, s);
    jobs.push({
      name: `torch e${e} s${s}`,
      exec: PYTHON,
      args: [TORCH_TRAIN, CONFIG, "--recipe", RECIPE, "--epochs", e, "--seed", s, "--threads", "1"].concat([
        "--json",
        "--out",
        file,
      ]),
      log: path.join(OUT, "logs", `torch-e${e}-s${s}.log`),
      done: () => existsSync(file),
    });
  }
}

const t0 = Date.now();
const results = await runJobs(jobs, 2, {
  threads: 1,
  onDone: (r) =>
    console.error(
      `${new Date().toISOString()} ${r.name}: exit ${r.code}${r.seconds ? ` in ${r.seconds.toFixed(0)} s` : " (done before)"}`,
    ),
});

function psvitResult(e, s) {
  const dir = psvitDir(e, s);
  if (!psvitFinished(dir)) return null;
  const evals = readMetrics(dir).filter((m) => m.type === "eval");
  const run = readJson(path.join(dir, "run.json"));
  return {
    final: evals.at(-1).paths[0].top1,
    perEpoch: evals.map((m) => m.paths[0].top1),
    steps: run.finished.steps,
    seconds: run.finished.seconds,
  };
}
function torchResult(e, s) {
  const r = readJson(torchFile(e, s));
  if (!r) return null;
  return { final: r.final_val_top1, perEpoch: r.val_top1_per_epoch, steps: r.steps, seconds: r.seconds };
}

const runs = [];
for (const e of EPOCHS)
  for (const s of SEEDS)
    runs.push({ epochs: e, seed: s, psvit: psvitResult(e, s), torch: torchResult(e, s) });

const summary = EPOCHS.map((e) => {
  const mine = runs.filter((r) => r.epochs === e);
  const p = meanSe(mine.filter((r) => r.psvit).map((r) => r.psvit.final * 100));
  const t = meanSe(mine.filter((r) => r.torch).map((r) => r.torch.final * 100));
  const w = welch(p, t);
  const sec = (side) => meanSe(mine.filter((r) => r[side]).map((r) => r[side].seconds)).mean;
  return {
    epochs: Number(e),
    psvit: p,
    torch: t,
    ...w,
    within1pt: Number.isFinite(w.diff) ? Math.abs(w.diff) < 1 : null,
    within2se: Number.isFinite(w.seDiff) ? Math.abs(w.diff) < 2 * w.seDiff : null,
    psvitSeconds: sec("psvit"),
    torchSeconds: sec("torch"),
  };
});

mkdirSync(OUT, { recursive: true });
writeFileSync(
  path.join(OUT, "parity.json"),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      config: CONFIG,
      recipe: RECIPE,
      seeds: SEEDS.map(Number),
      epochs: EPOCHS.map(Number),
      wallSeconds: (Date.now() - t0) / 1000,
      jobs: results.map((r) => ({
        name: r.name,
        exit: r.code,
        seconds: r.seconds,
        skipped: r.skipped ?? false,
      })),
      runs,
      summary,
    },
    null,
    2,
  )}\n`,
);

console.log(
  `${path.basename(CONFIG)}, recipe ${path.relative(root, RECIPE)}: final val top-1 (2,000 images), mean ± SE over seeds`,
);
console.log("");
console.log(
  "| epochs | psvit | PyTorch | diff (psvit − torch) | Welch t (df, p) | abs diff < 1 pt | abs diff < 2·SE | s/run psvit | s/run torch |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of summary) {
  console.log(
    `| ${r.epochs} | ${pm(r.psvit)} | ${pm(r.torch)} | ${num(r.diff)} ± ${num(r.seDiff)} | ${num(r.t)} (${num(r.df, 1)}, ${num(r.p, 3)}) | ${yn(r.within1pt)} | ${yn(r.within2se)} | ${num(r.psvitSeconds, 0)} | ${num(r.torchSeconds, 0)} |`,
  );
}
console.log("");
console.log("| epochs | seed | psvit per epoch | PyTorch per epoch |");
console.log("| --- | --- | --- | --- |");
const curve = (x) => (x ? x.perEpoch.map((v) => (v * 100).toFixed(2)).join(", ") : "-");
for (const r of runs) console.log(`| ${r.epochs} | ${r.seed} | ${curve(r.psvit)} | ${curve(r.torch)} |`);
process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;

// ---- statistics ----

/** Welch's two-sample t test on two meanSe summaries (difference a − b, in the same units). */
function welch(a, b) {
  const diff = a.mean - b.mean;
  const va = a.se ** 2;
  const vb = b.se ** 2;
  const seDiff = Math.sqrt(va + vb);
  const t = diff / seDiff;
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  const p =
    Number.isFinite(t) && Number.isFinite(df) && df > 0 ? betaInc(df / (df + t * t), df / 2, 0.5) : NaN;
  return { diff, seDiff, t, df, p };
}

function logGamma(x) {
  // Lanczos (g = 7, n = 9)
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularised incomplete beta I_x(a, b) (continued fraction, Numerical Recipes' betacf). */
function betaInc(x, a, b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - betaInc(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return (front * h) / a;
}

// ---- --check: init loss on a fixed batch, learning rates, preprocessing, decay mask ----

async function check(seed, epochs) {
  process.env.PSVIT_WASM_THREADS ??= "1";
  const dist = (p) => import(path.join(root, "dist", p));
  const tf = await import("@tensorflow/tfjs");
  const { startBackend } = await dist("engine/start.js");
  const { loadModelConfig } = await dist("config/load.js");
  const { loadRecipe, parseRecipe } = await dist("config/recipe.js");
  const { resolveData } = await dist("data/resolve.js");
  const { augmentBatch, augmentOptions, NO_AUGMENT } = await dist("data/augment.js");
  const { HvtModel } = await dist("model/hvt.js");
  const { crossEntropy } = await dist("train/loss.js");
  const { lrAt } = await dist("train/schedule.js");
  const { clipGradNorm, defaultDecayMask, globalGradNorm } = await dist("engine/adamw.js");
  const { optimizerFor } = await dist("train/loop.js");
  const { saveModelWeights } = await dist("weights/io.js");

  await startBackend(undefined, { training: true });
  const cfg = loadModelConfig(CONFIG);
  const recipe = parseRecipe({ ...loadRecipe(RECIPE), epochs: Number(epochs) });
  const data = await resolveData(undefined, {
    seed,
    imageSize: cfg.image.size,
    channels: cfg.image.channels,
    includeTest: false,
  });
  const pre = cfg.preprocess ?? data.info.preprocess;
  const B = recipe.batchSize;
  // as src/train/loop.ts
  const stepsPerEpoch = Math.floor(data.train.n / B);
  const totalSteps = Math.max(1, Math.round(recipe.epochs * stepsPerEpoch));
  const schedule = {
    lr: recipe.optimizer.lr,
    minLr: recipe.schedule.minLr,
    warmupStartLr: recipe.schedule.warmupStartLr,
    warmupSteps: Math.round(recipe.schedule.warmupEpochs * stepsPerEpoch),
    totalSteps,
  };
  const model = HvtModel.create(cfg, { seed });
  const idx = Int32Array.from({ length: B }, (_, i) => i);
  const { x, y } = augmentBatch(data.train, idx, pre, NO_AUGMENT, null);
  const [H, W, C] = [data.train.height, data.train.width, data.train.channels];
  // the loss on the fixed batch (a scalar tensor), and its value
  const batchLoss = () =>
    crossEntropy(model.forward(tf.tensor4d(x, [B, H, W, C])), tf.tensor1d(y, "int32"), recipe.labelSmoothing);
  const fixedLoss = () => tf.tidy(() => batchLoss().dataSync()[0]);
  const loss = fixedLoss();
  const decayed = [...model.variables()].filter(([n, v]) => defaultDecayMask(n, v.shape)).map(([n]) => n);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "psvit-parity-"));
  const weights = path.join(tmp, "init.safetensors");
  await saveModelWeights(weights, model.config, model);
  // CHECK_STEPS steps on the fixed batch as src/train/loop.ts does them, at lr = lrAt(warmupSteps + k)
  const optimizer = optimizerFor(recipe);
  const vars = model.variables();
  const tfName = new Map([...vars].map(([n, v]) => [v.name, n]));
  const steps = [];
  for (let k = 0; k < CHECK_STEPS; k++) {
    const lr = lrAt(schedule, Math.min(schedule.warmupSteps + k, totalSteps - 1));
    const { value, grads } = tf.tidy(() => tf.variableGrads(batchLoss, [...vars.values()]));
    const named = new Map(Object.entries(grads).map(([n, g]) => [tfName.get(n), g]));
    const l = value.dataSync()[0];
    value.dispose();
    const gradNorm = await globalGradNorm(named);
    if (recipe.clipGradNorm !== null) await clipGradNorm(named, recipe.clipGradNorm, gradNorm);
    optimizer.step(named, vars, lr);
    for (const g of named.values()) g.dispose();
    steps.push({ lr, loss: l, grad_norm: gradNorm });
  }
  const lossAfter = fixedLoss();
  optimizer.dispose();
  model.dispose();
  const torchCheck = (extra) =>
    JSON.parse(
      execFileSync(
        PYTHON,
        [
          TORCH_TRAIN,
          CONFIG,
          "--recipe",
          RECIPE,
          "--epochs",
          String(epochs),
          "--seed",
          String(seed),
          "--check",
        ].concat(extra),
        { encoding: "utf8" },
      )
        .trim()
        .split("\n")
        .at(-1),
    );
  const own = torchCheck(["--check-steps", "0"]);
  const fromPsvit = torchCheck(["--init-weights", weights, "--check-steps", String(CHECK_STEPS)]);
  rmSync(tmp, { recursive: true, force: true });

  const w = schedule.warmupSteps;
  const lr = { 0: lrAt(schedule, 0), warmup: lrAt(schedule, w), last: lrAt(schedule, totalSteps - 1) };
  const augment = augmentOptions(data.info.augment, recipe.augment);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const rows = [
    [
      "loss at init, fixed batch (ln 10 = 2.3026)",
      loss.toFixed(6),
      own.init_loss.toFixed(6),
      "(own init draws)",
    ],
    [
      "  … PyTorch from psvit's initial weights",
      loss.toFixed(6),
      fromPsvit.init_loss.toFixed(6),
      `abs Δ ${Math.abs(loss - fromPsvit.init_loss).toExponential(2)}`,
    ],
    ...steps.flatMap((st, k) => {
      const ts = fromPsvit.fixed_batch_steps[k];
      return [
        [
          `  step ${k + 1} on it (lr ${st.lr}): loss, from the same weights`,
          st.loss.toFixed(6),
          ts.loss.toFixed(6),
          `abs Δ ${Math.abs(st.loss - ts.loss).toExponential(2)}`,
        ],
        [
          `  step ${k + 1}: gradient norm before clipping`,
          st.grad_norm.toFixed(5),
          ts.grad_norm.toFixed(5),
          `abs Δ ${Math.abs(st.grad_norm - ts.grad_norm).toExponential(2)}`,
        ],
      ];
    }),
    [
      `  loss after the ${CHECK_STEPS} steps`,
      lossAfter.toFixed(6),
      fromPsvit.loss_after_steps.toFixed(6),
      `abs Δ ${Math.abs(lossAfter - fromPsvit.loss_after_steps).toExponential(2)}`,
    ],
    [
      "steps per epoch / warm-up / total",
      `${stepsPerEpoch} / ${w} / ${totalSteps}`,
      `${own.stepsPerEpoch} / ${own.warmupSteps} / ${own.totalSteps}`,
      yn(stepsPerEpoch === own.stepsPerEpoch && w === own.warmupSteps && totalSteps === own.totalSteps),
    ],
    ["lr at step 0", String(lr[0]), String(own.lr["0"]), yn(lr[0] === own.lr["0"])],
    [
      `lr at step ${w} (warm-up end)`,
      String(lr.warmup),
      String(own.lr.warmup),
      yn(lr.warmup === own.lr.warmup),
    ],
    [
      `lr at step ${totalSteps - 1} (last)`,
      String(lr.last),
      String(own.lr.last),
      yn(lr.last === own.lr.last),
    ],
    ["preprocess", JSON.stringify(pre), JSON.stringify(own.preprocess), yn(same(pre, own.preprocess))],
    ["augmentation", JSON.stringify(augment), JSON.stringify(own.augment), yn(same(augment, own.augment))],
    [
      "decayed tensors",
      String(decayed.length),
      String(own.decayed.length),
      yn(same([...decayed].sort(), [...own.decayed].sort())),
    ],
  ];
  console.log(`${path.basename(CONFIG)}, seed ${seed}, epochs ${epochs}, batch ${B}`);
  console.log("| quantity | psvit | PyTorch | equal |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}
