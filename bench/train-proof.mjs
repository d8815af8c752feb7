// Issue 14 item 2: training stays finite. Trains 6 fmnist-2d architectures (the pipeline's export, the
// smallest / median / largest paths, two uniform draws under 25 MFLOPs) × 3 seeds × 5 epochs on the
// embedded data, and a supernet for 10 epochs, with the default recipe; then checks every logged loss
// and gradient norm is finite and no run stopped. Two jobs at a time, one wasm thread each.
//   node bench/train-proof.mjs [--out runs/train-proof] [--epochs 5] [--seeds 0,1,2] [--supernet-epochs 10] [--archs largest,median,…] [--report]
// Results: OUT/summary.json and a Markdown table on stdout. Re-running skips finished runs.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { argv, opt, root } from "./args.mjs";
import { meanSe, readMetrics, runJobs } from "./jobs.mjs";

const { parseSpaceConfig } = await import(path.join(root, "dist/config/validate.js"));
const { representativeArchs } = await import(path.join(root, "dist/space/sample.js"));
const { formatArch } = await import(path.join(root, "dist/space/arch.js"));
const { readFileSync } = await import("node:fs");

const OUT = path.resolve(opt("out", "runs/train-proof"));
const EPOCHS = opt("epochs", "5");
const SEEDS = opt("seeds", "0,1,2").split(",");
const SUPERNET_EPOCHS = opt("supernet-epochs", "10");
const SPACE = path.join(root, "search-spaces/fmnist-2d.json");
mkdirSync(OUT, { recursive: true });

const space = parseSpaceConfig(JSON.parse(readFileSync(SPACE, "utf8")));
const reps = representativeArchs(space, {}, 0).map((r) => ({ label: r.label, arch: formatArch(r.arch) }));
// two uniform draws under 25 MFLOPs (psvit space --sample: exact, no rejection), seed 0
const { execFileSync } = await import("node:child_process");
const drawn = JSON.parse(
  execFileSync(
    process.execPath,
    [
      path.join(root, "bin/psvit"),
      "space",
      SPACE,
      "--budget",
      "25M",
      "--sample",
      "2",
      "--seed",
      "0",
      "--json",
    ],
    {
      encoding: "utf8",
    },
  ),
).samples.map((s, i) => ({ label: `draw${i + 1}`, arch: s.arch }));
const archs = [{ label: "export", arch: "IBIIII-SIIIBS-IIISIB" }, ...reps, ...drawn];

// configs via psvit export --space --arch (a config alone)
for (const a of archs) {
  const dir = path.join(OUT, "configs");
  const file = path.join(dir, `fmnist-2d-${a.arch}.model.json`);
  if (!existsSync(file))
    execFileSync(process.execPath, [
      path.join(root, "bin/psvit"),
      "export",
      "--space",
      SPACE,
      "--arch",
      a.arch,
      "--out",
      dir,
    ]);
  a.config = file;
}

const readRun = (dir) => {
  try {
    return JSON.parse(readFileSync(path.join(dir, "run.json"), "utf8"));
  } catch {
    return null;
  }
};
const augmentText = (a) =>
  !a
    ? "?"
    : a.cropPadding === 0 && a.flipProb === 0
      ? "no aug."
      : a.cropPadding === 0
        ? "flip"
        : "data default (crop + flip)";
const done = (dir) => () =>
  existsSync(dir) && readdirSync(dir).some((f) => f.endsWith(".safetensors") && !f.includes("ckpt"));
const jobs = [];
const sdir = path.join(OUT, "supernet");
jobs.push({
  name: "supernet",
  kind: "supernet",
  dir: sdir,
  args: ["train-supernet", "--epochs", SUPERNET_EPOCHS, "--out", sdir, "--force"],
  log: path.join(OUT, "logs/supernet.log"),
  done: () => readMetrics(sdir).filter((m) => m.type === "eval").length >= Number(SUPERNET_EPOCHS),
});
// longest first: largest path, median, then the rest
const ALL_LABELS = ["largest", "median", "export", "draw1", "draw2", "smallest"];
const order = opt("archs", ALL_LABELS.join(",")).split(",");
for (const l of order)
  if (!ALL_LABELS.includes(l)) throw new Error(`--archs: unknown ${l}; known: ${ALL_LABELS}`);
for (const label of order) {
  const a = archs.find((x) => x.label === label);
  for (const seed of SEEDS) {
    const dir = path.join(OUT, `${label}-s${seed}`);
    jobs.push({
      name: `${label} ${a.arch} seed ${seed}`,
      kind: "model",
      label,
      arch: a.arch,
      seed,
      dir,
      args: ["train", a.config, "--epochs", EPOCHS, "--seed", seed, "--out", dir, "--force"],
      log: path.join(OUT, `logs/${label}-s${seed}.log`),
      done: done(dir),
    });
  }
}

// --report: summarise the runs as they stand, training nothing (a run still going or stopped is
// "unfinished": its losses so far are checked, its exit is unknown)
const REPORT_ONLY = argv.includes("--report");
const t0 = Date.now();
const results = REPORT_ONLY
  ? jobs.map((j) => ({ name: j.name, code: j.done() ? 0 : null, seconds: null }))
  : await runJobs(jobs, 2, {
      onDone: (r) =>
        console.error(
          `${new Date().toISOString()} ${r.name}: exit ${r.code}${r.seconds ? ` in ${r.seconds.toFixed(0)} s` : " (done before)"}`,
        ),
    });

const rows = jobs.flatMap((j, i) => {
  const m = readMetrics(j.dir);
  if (m.length === 0) return [];
  const steps = m.filter((x) => x.type === "step");
  const evals = m.filter((x) => x.type === "eval");
  const bad =
    m.filter((x) => x.type === "nonfinite").length + steps.filter((x) => !Number.isFinite(x.loss)).length;
  const last = evals.at(-1);
  return {
    name: j.name,
    kind: j.kind,
    label: j.label ?? "supernet",
    arch: j.arch ?? null,
    seed: j.seed ?? "0",
    exit: results[i].code,
    seconds: results[i].seconds,
    loggedSteps: steps.length,
    lastStep: steps.at(-1)?.step ?? 0,
    nonFinite: bad,
    maxLoss: Math.max(...steps.map((x) => x.loss)),
    maxGradNorm: Math.max(...steps.map((x) => x.grad_norm ?? 0)),
    val: last ? Object.fromEntries(last.paths.map((p) => [p.label, p.top1])) : null,
    augment: readRun(j.dir)?.recipe?.augment ?? null,
  };
});
writeFileSync(
  path.join(OUT, "summary.json"),
  `${JSON.stringify({ date: new Date().toISOString(), epochs: EPOCHS, seeds: SEEDS, archs, wallSeconds: (Date.now() - t0) / 1000, rows }, null, 2)}\n`,
);

console.log(
  "| run | arch | recipe | exit | steps | non-finite | max loss | max ‖g‖ | final val top-1 | wall |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const val = r.val
    ? Object.entries(r.val)
        .map(([k, v]) => `${k} ${(v * 100).toFixed(2)}%`)
        .join(", ")
    : "-";
  console.log(
    `| ${r.label} s${r.seed} | ${r.arch ?? "(supernet)"} | ${augmentText(r.augment)} | ${r.exit ?? "unfinished"} | ${r.lastStep} | ${r.nonFinite} | ${r.maxLoss.toFixed(3)} | ${r.maxGradNorm.toFixed(2)} | ${val} | ${r.seconds ? `${(r.seconds / 60).toFixed(1)} min` : "-"} |`,
  );
}
for (const label of order) {
  const xs = rows.filter((r) => r.label === label && r.exit === 0 && r.val).map((r) => r.val.model * 100);
  const s = meanSe(xs);
  console.log(`${label}: mean ${s.mean.toFixed(2)}% ± ${s.se.toFixed(2)} (SE, n = ${s.n})`);
}
process.exitCode = rows.some((r) => (r.exit !== 0 && r.exit !== null) || r.nonFinite > 0) ? 1 : 0;
