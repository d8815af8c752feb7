// Issue 14 item 5, second goal: a fmnist-2d architecture of about 20 MFLOPs trained from scratch with the
// default recipe (configs/recipes/fmnist.json) on the full Fashion-MNIST (--data fashion-mnist: 54,000
// training images, 6,000 validation images carved out by the seed), then scored on the 10,000 test
// images. Goal: >= 91% test top-1.
//   node bench/full-fmnist.mjs [--out runs/full-fmnist] [--arch IIIBIB-IBSIIB-SIBBIB] [--epochs 10]
//                              [--seeds 0] [--threads 2] [--parallel 1] [--recipe configs/recipes/fmnist.json]
// Writes OUT/result-eEPOCHS.json and prints a Markdown table: per seed the validation curve and the test top-1.
// Re-running skips finished trainings (the test evaluation is always run again; it is cheap).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { meanSe, PSVIT, readMetrics, runJobs, trainingSeconds } from "./jobs.mjs";

const OUT = path.resolve(opt("out", "runs/full-fmnist"));
const ARCH = opt("arch", "IIIBIB-IBSIIB-SIBBIB");
const EPOCHS = opt("epochs", "10");
const SEEDS = opt("seeds", "0").split(",");
const THREADS = Number(opt("threads", "2"));
const PARALLEL = Number(opt("parallel", "1"));
const RECIPE = path.resolve(root, opt("recipe", "configs/recipes/fmnist.json"));
const SPACE = path.join(root, "search-spaces/fmnist-2d.json");
mkdirSync(OUT, { recursive: true });

const name = `fmnist-2d-${ARCH}`;
const config = path.join(OUT, "configs", `${name}.model.json`);
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

const finished = (dir) => existsSync(path.join(dir, `${name}.safetensors`));
const jobs = SEEDS.map((seed) => {
  const dir = path.join(OUT, `e${EPOCHS}-s${seed}`);
  return {
    name: `${ARCH} ${EPOCHS} epochs seed ${seed}`,
    seed,
    dir,
    // a run stopped midway (its checkpoints exist) continues; run.json fixes its data, recipe and seed
    args:
      existsSync(path.join(dir, "run.json")) && existsSync(path.join(dir, "checkpoints"))
        ? ["train", config, "--out", dir, "--resume"]
        : [
            "train",
            config,
            "--data",
            "fashion-mnist",
            "--config",
            RECIPE,
            "--epochs",
            EPOCHS,
            "--seed",
            seed,
            "--out",
            dir,
            "--force",
          ],
    log: path.join(OUT, "logs", `e${EPOCHS}-s${seed}.log`),
    done: () => finished(dir),
  };
});
const results = await runJobs(jobs, PARALLEL, {
  threads: THREADS,
  onDone: (r) => console.error(`${new Date().toISOString()} ${r.name}: exit ${r.code}`),
});

const rows = [];
for (const [i, j] of jobs.entries()) {
  if (!finished(j.dir)) {
    rows.push({ seed: j.seed, exit: results[i].code, test: null });
    continue;
  }
  const trained = path.join(j.dir, `${name}.model.json`);
  const test = JSON.parse(
    execFileSync(
      process.execPath,
      [
        PSVIT,
        "eval",
        existsSync(trained) ? trained : config,
        "--weights",
        path.join(j.dir, `${name}.safetensors`),
        "--data",
        "fashion-mnist",
        "--split",
        "test",
        "--seed",
        j.seed,
        "--json",
      ],
      { env: { ...process.env, PSVIT_WASM_THREADS: String(THREADS) } },
    ).toString(),
  );
  const m = readMetrics(j.dir);
  const curve = m.filter((x) => x.type === "eval").map((e) => e.paths[0].top1);
  const seconds = trainingSeconds(j.dir);
  rows.push({ seed: j.seed, exit: results[i].code, curve, test, seconds });
}
writeFileSync(
  path.join(OUT, `result-e${EPOCHS}.json`),
  `${JSON.stringify({ date: new Date().toISOString(), arch: ARCH, epochs: Number(EPOCHS), recipe: path.relative(root, RECIPE), rows }, null, 2)}\n`,
);
console.log("| seed | epochs | training wall | validation top-1 per epoch | test top-1 | test n |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  if (!r.test) {
    console.log(`| ${r.seed} | ${EPOCHS} | - | unfinished (exit ${r.exit}) | - | - |`);
    continue;
  }
  console.log(
    `| ${r.seed} | ${EPOCHS} | ${r.seconds ? (r.seconds / 60).toFixed(1) : "-"} min | ${r.curve.map((x) => (x * 100).toFixed(2)).join(" → ")} | ${(r.test.top1 * 100).toFixed(2)}% | ${r.test.n} |`,
  );
}
const t = meanSe(rows.filter((r) => r.test).map((r) => r.test.top1 * 100));
if (t.n) console.log(`\ntest top-1 mean ${t.mean.toFixed(2)} ± ${t.se.toFixed(2)} (SE, n = ${t.n})`);
