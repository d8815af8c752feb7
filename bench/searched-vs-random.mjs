// Issue 16 item 4: is the search's winner better than what a user gets by drawing an architecture of the
// same cost at random? Retrains from scratch, with the default recipe (configs/recipes/fmnist.json):
//   - the winner of `psvit pipeline` (supernet + search under --budget, default 25M, on --data's data; run
//     first when the pipeline directory holds no search result),
//   - --random N (default 5) architectures drawn uniformly from those under the budget whose FLOPs are
//     within 5% of the winner's (`psvit space --sample`, seeded by --draw-seed),
//   - the DeiT-like uniform baseline configs/fmnist-deit-uniform.json,
// each with every seed of --seeds (default 0,1,2), and scores each run on the validation split (the one
// the search chose on, with inherited weights) and on the held-out test split (chosen on by nothing).
//   node bench/searched-vs-random.mjs [--out runs/searched-vs-random] [--pipeline DIR] [--data embedded]
//        [--random 5] [--seeds 0,1,2] [--epochs E] [--budget 25M] [--draw-seed 0] [--parallel 1]
//        [--threads 1] [--archs FILE]    (FILE: another study's archs.json, to train the same set)
//        [--queue redis://HOST:PORT[/DB] --artifacts DIR] [--report-only] [--merge A.json[,B.json]]
//        [--inherited FILE]   (FILE: bench/inherited.mjs --out, the supernet's scores of these entries)
// --report-only trains nothing: it scores the runs that have finished (a study stopped part-way through
// a seed) and prints the table with each row's n. --merge adds the scored runs of other studies'
// result.json files (an entry matched by its architecture or config, a seed of --seeds that has no run
// directory here): seeds trained in separate studies or on machines whose run directories are gone are
// read together, and a run that a merged file holds is not trained again.
// With --queue every training is queued at once (`psvit train --queue`, one waiting driver process per
// training) and runs on `psvit worker --queue URL --artifacts DIR` processes on any machine; the run
// directories come back into OUT/runs as they would here, and the test split is scored here. Re-running
// waits for the same jobs (a finished one answers at once), so a killed study loses nothing.
// Local jobs run seed by seed (every architecture's seed 0 first), so a study cut short still compares
// all of them; queued ones are all sent at once and the workers take them as they arrive, in no such order. Re-running skips finished trainings. Writes OUT/archs.json (what is trained), OUT/result.json
// and prints a Markdown table; the goal (issue 16): the winner's mean test top-1 beats every random
// architecture's and the baseline's by more than the seed spread (the larger seed SD of the two). Beside
// it, the winner against what one random draw of its cost gives on average (the mean of the random
// architectures' means, with the SE that their spread gives).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { argv, opt, root } from "./args.mjs";
import { meanSe, PSVIT, readMetrics, runJobs, trainingSeconds } from "./jobs.mjs";
import { tauCi } from "./tau.mjs";

const OUT = path.resolve(opt("out", "runs/searched-vs-random"));
const PIPELINE = path.resolve(opt("pipeline", path.join(OUT, "pipeline")));
const DATA = opt("data", "embedded");
const RANDOM = Number(opt("random", "5"));
const SEEDS = opt("seeds", "0,1,2").split(",");
const EPOCHS = opt("epochs", undefined);
const BUDGET = opt("budget", "25M");
const DRAW_SEED = opt("draw-seed", "0");
const PARALLEL = Number(opt("parallel", "1"));
const THREADS = Number(opt("threads", "1"));
const ARCHS_FROM = opt("archs", undefined);
const QUEUE = opt("queue", undefined);
const REPORT_ONLY = argv.includes("--report-only");
const MERGE = opt("merge", undefined);
const INHERITED = opt("inherited", undefined);
const ARTIFACTS = opt("artifacts", undefined);
if (QUEUE && !ARTIFACTS)
  throw new Error("--queue needs --artifacts DIR (the folder driver and workers share)");
const SPACE = path.join(root, "search-spaces/fmnist-2d.json");
const BASELINE = path.join(root, "configs/fmnist-deit-uniform.json");
mkdirSync(OUT, { recursive: true });

const psvit = (args, opts = {}) =>
  execFileSync(process.execPath, [PSVIT, ...args], {
    env: { ...process.env, PSVIT_WASM_THREADS: String(THREADS) },
    ...opts,
  }).toString();
const writeJson = (file, value) => {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
};
const log = (msg) => console.error(`${new Date().toISOString()} ${msg}`);

// 1. What is trained: the winner, the random draws, the baseline (fixed once in archs.json).
const archsFile = path.join(OUT, "archs.json");
let plan;
if (existsSync(archsFile)) plan = JSON.parse(readFileSync(archsFile, "utf8"));
else if (ARCHS_FROM) plan = JSON.parse(readFileSync(path.resolve(ARCHS_FROM), "utf8"));
else if (REPORT_ONLY) throw new Error(`--report-only: ${archsFile} does not exist (nothing was trained)`);
else {
  const searchResult = path.join(PIPELINE, "search-evolution", "result.json");
  if (!existsSync(searchResult)) {
    // on --data's data: a winner searched on other data than it is retrained on is another study
    log(
      `no search result in ${PIPELINE}: running psvit pipeline --out ${PIPELINE} --data ${DATA} (2 threads)`,
    );
    const t0 = performance.now();
    execFileSync(
      process.execPath,
      [PSVIT, "pipeline", "--out", PIPELINE, "--flops", BUDGET, "--data", DATA],
      {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, PSVIT_WASM_THREADS: "2" },
      },
    );
    log(`pipeline finished in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
  }
  const result = JSON.parse(readFileSync(searchResult, "utf8"));
  // the final stage's winner (what `psvit export` exports), else the search's best
  const best = result.final?.ranking?.[0] ?? result.top[0];
  const winner = { ...best, top1: best.accuracy };
  const lo = Math.ceil(winner.flops * 0.95);
  const budget = parseBudget(BUDGET);
  const hi = Math.min(Math.floor(winner.flops * 1.05), budget);
  const drawn = JSON.parse(
    psvit([
      "space",
      SPACE,
      "--sample",
      String(RANDOM),
      "--flops-range",
      `${lo}:${hi}`,
      "--seed",
      DRAW_SEED,
      "--json",
    ]),
  );
  plan = {
    created: new Date().toISOString(),
    pipeline: path.relative(root, PIPELINE),
    budget: BUDGET,
    data: DATA,
    drawSeed: Number(DRAW_SEED),
    band: { minFlops: lo, maxFlops: hi, pool: drawn.pool },
    entries: [
      {
        role: "searched",
        arch: winner.arch,
        flops: winner.flops,
        params: winner.params,
        inherited: winner.top1,
      },
      ...drawn.samples.map((s, i) => ({
        role: `random ${i + 1}`,
        arch: s.arch,
        flops: s.flops,
        params: s.params,
      })),
      { role: "DeiT-like", config: path.relative(root, BASELINE) },
    ],
  };
  if (drawn.samples.length < RANDOM)
    throw new Error(`only ${drawn.samples.length} architectures in the band`);
}
writeJson(archsFile, plan);

function parseBudget(text) {
  const m = /^([\d.e+]+)\s*([kMG]?)/i.exec(text);
  return Number(m[1]) * { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2]];
}

// 2. One model config per entry.
const configs = path.join(OUT, "configs");
mkdirSync(configs, { recursive: true });
for (const e of plan.entries) {
  if (e.config) {
    e.file = path.resolve(root, e.config);
    e.name = path.basename(e.file, ".json").replace(/\.model$/, "");
  } else {
    e.name = `fmnist-2d-${e.arch}`;
    e.file = path.join(configs, `${e.name}.model.json`);
    if (!existsSync(e.file)) psvit(["export", "--space", SPACE, "--arch", e.arch, "--out", configs]);
  }
  if (e.flops === undefined) {
    const c = JSON.parse(psvit(["flops", e.file, "--json"]));
    e.flops = c.flops;
    e.params = c.params;
  }
}

// Runs scored by other studies (--merge), by entry and seed.
const entryKey = (e) => e.arch ?? e.config;
const mergedRuns = new Map();
for (const file of MERGE ? MERGE.split(",") : []) {
  const other = JSON.parse(readFileSync(path.resolve(file), "utf8"));
  if (other.data !== DATA)
    throw new Error(`--merge ${file}: its runs are on --data ${other.data}, this study's on ${DATA}`);
  for (const r of other.rows)
    for (const run of r.runs) {
      const k = `${entryKey(r)} s${run.seed}`;
      if (!mergedRuns.has(k)) mergedRuns.set(k, { ...run, from: path.relative(root, path.resolve(file)) });
    }
}
const mergedRun = (e, seed) => mergedRuns.get(`${entryKey(e)} s${seed}`);

// 3. Train every entry with every seed, seed by seed.
const tag = (e) => (e.arch ?? e.name).replace(/[^A-Za-z0-9-]/g, "_");
const runDir = (e, seed) => path.join(OUT, "runs", `${tag(e)}-s${seed}`);
const finished = (e, seed) => existsSync(path.join(runDir(e, seed), `${e.name}.safetensors`));
const jobs = SEEDS.flatMap((seed) =>
  plan.entries
    .filter((e) => finished(e, seed) || !mergedRun(e, seed))
    .map((e) => {
      const dir = runDir(e, seed);
      // a local run stopped midway continues; a queued one is queued again (the same job)
      const resumable =
        !QUEUE && existsSync(path.join(dir, "run.json")) && existsSync(path.join(dir, "checkpoints"));
      return {
        name: `${e.role} ${e.arch ?? e.name} seed ${seed}`,
        args: resumable
          ? ["train", e.file, "--out", dir, "--resume"]
          : [
              "train",
              e.file,
              "--data",
              DATA,
              "--seed",
              seed,
              ...(EPOCHS ? ["--epochs", EPOCHS] : []),
              "--out",
              dir,
              "--force",
              ...(QUEUE ? ["--queue", QUEUE, "--artifacts", ARTIFACTS] : []),
            ],
        log: path.join(OUT, "logs", `${tag(e)}-s${seed}.log`),
        done: () => finished(e, seed),
      };
    }),
);
const t0 = performance.now();
if (REPORT_ONLY) {
  const here = SEEDS.flatMap((seed) => plan.entries.filter((e) => finished(e, seed))).length;
  const fromMerge = SEEDS.flatMap((seed) =>
    plan.entries.filter((e) => !finished(e, seed) && mergedRun(e, seed)),
  ).length;
  const all = SEEDS.length * plan.entries.length;
  log(
    `--report-only: ${here + fromMerge} of ${all} runs scored (${here} finished here${MERGE ? `, ${fromMerge} read from --merge` : ""}); the others are left out`,
  );
} else {
  // through the queue the drivers only wait: all of them at once, the workers decide the parallelism
  await runJobs(jobs, QUEUE ? jobs.length : PARALLEL, {
    threads: THREADS,
    onDone: (r) =>
      log(`${r.name}: ${r.skipped ? "done before" : `exit ${r.code}, ${(r.seconds / 60).toFixed(1)} min`}`),
  });
  log(`trainings finished in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
}

// 4. Score: validation top-1 from the run's last evaluation, test top-1 by psvit eval.
const rows = plan.entries.map((e) => {
  const runs = [];
  for (const seed of SEEDS) {
    const dir = runDir(e, seed);
    if (!finished(e, seed)) {
      if (mergedRun(e, seed)) runs.push(mergedRun(e, seed));
      continue;
    }
    const evals = readMetrics(dir).filter((m) => m.type === "eval");
    const val = evals.at(-1).paths[0].top1;
    const trained = path.join(dir, `${e.name}.model.json`);
    const test = JSON.parse(
      psvit([
        "eval",
        existsSync(trained) ? trained : e.file,
        "--weights",
        path.join(dir, `${e.name}.safetensors`),
        "--data",
        DATA,
        "--split",
        "test",
        "--seed",
        seed,
        "--json",
      ]),
    );
    runs.push({ seed: Number(seed), val, test: test.top1, testN: test.n, seconds: trainingSeconds(dir) });
  }
  const pct = (xs) => meanSe(xs.map((x) => x * 100));
  return {
    ...e,
    file: path.relative(root, e.file),
    runs,
    val: pct(runs.map((r) => r.val)),
    test: pct(runs.map((r) => r.test)),
  };
});

// 5. The verdict: the winner against each other entry, on the test split.
const win = rows[0];
const verdicts = rows.slice(1).map((r) => {
  const diff = win.test.mean - r.test.mean;
  const spread = Math.max(win.test.sd, r.test.sd);
  const seDiff = Math.hypot(win.test.se, r.test.se);
  // not trained, or one seed (no seed spread to beat): undecided (null), not missed
  const undecided = r.test.n === 0 || win.test.n === 0 ? "not trained" : "one seed";
  const beats = Number.isFinite(spread) ? diff > spread : null;
  return { role: r.role, diff, spread, seDiff, beats, ...(beats === null ? { undecided } : {}) };
});
// missed as soon as one decided comparison is lost; undecided while the others wait for seeds
const goal = verdicts.some((v) => v.beats === false)
  ? false
  : verdicts.some((v) => v.beats === null)
    ? null
    : verdicts.length > 0;
// What a user who draws one architecture of this cost at random gets, on average: the mean of the random
// architectures' means. Its SE is their SD over √R, which holds the spread between architectures and each
// mean's own seed noise; the winner's lead over it is what searching buys.
const randoms = rows.filter((r) => r.role.startsWith("random") && r.test.n > 0);
// With one seed the winner's own SE is unknown: its run is then held against the spread of the random
// architectures' single runs (their SD, which holds seed noise and the spread between architectures), as
// one more draw would be: SE of the difference = SD·√(1 + 1/R).
const draw = meanSe(randoms.map((r) => r.test.mean));
const oneSeed = win.test.n === 1;
const vsDraw =
  randoms.length > 1
    ? {
        n: randoms.length,
        mean: draw.mean,
        se: draw.se,
        sd: draw.sd,
        diff: win.test.mean - draw.mean,
        seDiff: Math.hypot(oneSeed ? draw.sd : win.test.se, draw.se),
        winnerSe: oneSeed ? "the random runs' SD (one seed)" : "the winner's seeds",
      }
    : null;
// 6. Orders among the entries that are paths of the space (the DeiT-like config is not): Kendall τ with a
// 95% bootstrap interval over entries. The from-scratch order's own stability (τ between two seeds' test
// accuracies: the ceiling any proxy's τ is held against), the supernet's order (inherited, from
// --inherited or the plan) against the trained one, and size (params) against the trained one.
const inheritedOf = new Map(
  INHERITED
    ? JSON.parse(readFileSync(path.resolve(INHERITED), "utf8")).rows.map((r) => [r.arch, r.inherited])
    : [],
);
const paths = rows.filter((r) => r.arch && r.test.n > 0);
const order = (what, pairs) => {
  if (pairs.length < 3) return { what, n: pairs.length, tau: null };
  const t = tauCi(
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
  );
  return { what, n: pairs.length, ...t, tau: Number.isNaN(t.tau) ? null : t.tau };
};
const testOf = (r, seed) => r.runs.find((x) => String(x.seed) === String(seed))?.test;
const orders = [];
for (let i = 0; i < SEEDS.length; i++)
  for (let j = i + 1; j < SEEDS.length; j++) {
    const both = paths.filter((r) => testOf(r, SEEDS[i]) !== undefined && testOf(r, SEEDS[j]) !== undefined);
    orders.push(
      order(
        `test seed ${SEEDS[i]} vs seed ${SEEDS[j]} (the ceiling)`,
        both.map((r) => [testOf(r, SEEDS[i]), testOf(r, SEEDS[j])]),
      ),
    );
  }
const inh = (r) => inheritedOf.get(r.arch) ?? r.inherited;
const withInherited = paths.filter((r) => inh(r) !== undefined);
orders.push(
  order(
    "inherited vs test mean",
    withInherited.map((r) => [inh(r), r.test.mean]),
  ),
  order(
    "inherited vs validation mean",
    withInherited.map((r) => [inh(r), r.val.mean]),
  ),
  order(
    "params vs test mean",
    paths.map((r) => [r.params, r.test.mean]),
  ),
  order(
    "params vs inherited",
    withInherited.map((r) => [r.params, inh(r)]),
  ),
);

writeJson(path.join(OUT, "result.json"), {
  date: new Date().toISOString(),
  data: DATA,
  epochs: EPOCHS ?? "recipe",
  seeds: SEEDS.map(Number),
  band: plan.band,
  rows,
  verdicts,
  goal,
  vsDraw,
  orders,
});

const f = (x) => (Number.isFinite(x) ? x.toFixed(2) : "-");
console.log(
  `data ${DATA}, seeds ${SEEDS.join(",")}, random band ${plan.band ? `${plan.band.minFlops}–${plan.band.maxFlops} FLOPs` : "-"}`,
);
console.log(
  "| role | architecture | MFLOPs | params | val top-1 (mean ± SE) | test top-1 (mean ± SE) | test per seed | seed SD | wall per run |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  // the range (shortest–longest) of the runs' training wall times
  const walls = r.runs
    .map((x) => x.seconds)
    .filter(Boolean)
    .sort((a, b) => a - b)
    .map((s) => (s / 60).toFixed(1));
  console.log(
    `| ${r.role} | ${r.arch ?? r.name} | ${(r.flops / 1e6).toFixed(2)} | ${(r.params / 1e6).toFixed(2)} M | ${f(r.val.mean)} ± ${f(r.val.se)} (n = ${r.val.n}) | ${f(r.test.mean)} ± ${f(r.test.se)} | ${r.runs.map((x) => (x.test * 100).toFixed(2)).join(", ")} | ${f(r.test.sd)} | ${walls.length ? `${walls[0]}–${walls.at(-1)} min` : "-"} |`,
  );
}
console.log("\nwinner − other (test top-1, points): difference, larger seed SD, SE of the difference");
for (const v of verdicts) {
  console.log(
    `- ${v.role}: ${f(v.diff)} (spread ${f(v.spread)}, SE ${f(v.seDiff)}) → ${v.beats === null ? `undecided (${v.undecided})` : v.beats ? "beats" : "does not beat"}`,
  );
}
console.log(
  `\ngoal (beats every one by more than the seed spread): ${goal === null ? "undecided (an entry has one seed or none)" : goal ? "met" : "missed"}`,
);
if (vsDraw)
  console.log(
    `winner − a random draw of its cost (the mean of ${vsDraw.n} random architectures' means, ${f(vsDraw.mean)} ± ${f(vsDraw.se)}, SD ${f(vsDraw.sd)}): ${f(vsDraw.diff)} (SE ${f(vsDraw.seDiff)} from ${vsDraw.winnerSe}, ${f(vsDraw.diff / vsDraw.seDiff)} SE)`,
  );
console.log("\norders among the paths of the space (Kendall τ, 95% bootstrap interval over entries)");
for (const o of orders)
  console.log(
    `- ${o.what}: ${o.tau === null ? `- (n = ${o.n})` : `${f(o.tau)} (${f(o.lo)} to ${f(o.hi)}), n = ${o.n}`}`,
  );
