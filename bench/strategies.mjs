// Issue 16 item 5: evolution (SPOS), aging (regularized evolution) and random search at the same number
// of evaluations, on one trained supernet: best validation top-1 (inherited weights) against evaluations,
// mean ± SE over seeds, drawn as an SVG in OUT/report.html.
//   node bench/strategies.mjs [--run runs/train-proof/supernet] [--out runs/strategies] [--seeds 0,1,2]
//        [--flops 25M] [--population 16] [--generations 6] [--val-images 1000] [--workers 2]
// Each (strategy, seed) searches its own light copy of the run (run.json + a link to the checkpoint);
// the final stage is off (--rescore-top 0): the study compares what the searches find, not the re-score.
// Re-running skips finished searches. Writes OUT/strategies.json and prints a Markdown table.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { meanSe, runJobs } from "./jobs.mjs";

const RUN = path.resolve(opt("run", "runs/train-proof/supernet"));
const OUT = path.resolve(opt("out", "runs/strategies"));
const SEEDS = opt("seeds", "0,1,2").split(",");
const FLOPS = opt("flops", "25M");
const POP = opt("population", "16");
const GENS = opt("generations", "6");
const VAL = opt("val-images", "1000");
const WORKERS = opt("workers", "2");
const STRATEGIES = opt("strategies", "evolution,aging,random").split(",");

const { readJournal } = await import(path.join(root, "dist/searchrun/journal.js"));
const { renderSvg, htmlReport } = await import(path.join(root, "dist/report/html.js"));

/** A run directory holding only run.json and a link to the supernet's latest checkpoint. */
function lightCopy(dir) {
  if (existsSync(path.join(dir, "run.json"))) return;
  mkdirSync(path.join(dir, "checkpoints"), { recursive: true });
  writeFileSync(path.join(dir, "run.json"), readFileSync(path.join(RUN, "run.json")));
  const latest = readdirSync(path.join(RUN, "checkpoints"))
    .filter((f) => /^step-\d{8}\.ckpt\.safetensors$/.test(f))
    .sort()
    .at(-1);
  symlinkSync(path.join(RUN, "checkpoints", latest), path.join(dir, "checkpoints", latest));
}

const jobs = [];
for (const seed of SEEDS) {
  const dir = path.join(OUT, `s${seed}`);
  lightCopy(dir);
  for (const strategy of STRATEGIES) {
    jobs.push({
      name: `${strategy} seed ${seed}`,
      strategy,
      seed,
      dir,
      args: [
        "search",
        "--run",
        dir,
        "--strategy",
        strategy,
        "--flops",
        FLOPS,
        "--population",
        POP,
        "--generations",
        GENS,
        "--val-images",
        VAL,
        "--workers",
        WORKERS,
        "--rescore-top",
        "0",
        "--seed",
        seed,
        "--force",
      ],
      log: path.join(OUT, "logs", `${strategy}-s${seed}.log`),
      done: () => existsSync(path.join(dir, `search-${strategy}`, "result.json")),
    });
  }
}
// one search at a time: each uses the workers itself
await runJobs(jobs, 1, {
  onDone: (r) =>
    console.error(
      `${new Date().toISOString()} ${r.name}: exit ${r.code}${r.skipped ? " (done before)" : ""}`,
    ),
});

/** Best accuracy so far after each evaluation, in the order the journal recorded them. */
function curve(dir, strategy) {
  const file = path.join(dir, `search-${strategy}`, "candidates.jsonl");
  if (!existsSync(file)) return [];
  const entries = [...readJournal(file).entries.values()];
  let best = 0;
  return entries.map((e) => (best = Math.max(best, e.accuracy)));
}

const total = Number(POP) * Number(GENS);
const rows = [];
const points = [];
for (const strategy of STRATEGIES) {
  const curves = SEEDS.map((seed) => curve(path.join(OUT, `s${seed}`), strategy));
  const finals = curves.filter((c) => c.length).map((c) => c.at(-1) * 100);
  for (let i = 0; i < total; i++) {
    const at = curves.filter((c) => c.length > i).map((c) => c[i] * 100);
    if (at.length) points.push({ strategy, evaluations: i + 1, best: meanSe(at).mean });
  }
  const half = curves.filter((c) => c.length >= total / 2).map((c) => c[total / 2 - 1] * 100);
  rows.push({
    strategy,
    final: meanSe(finals),
    half: meanSe(half),
    perSeed: finals,
    evaluations: curves.map((c) => c.length),
  });
}
writeFileSync(
  path.join(OUT, "strategies.json"),
  `${JSON.stringify({ date: new Date().toISOString(), run: RUN, flops: FLOPS, population: POP, generations: GENS, valImages: VAL, seeds: SEEDS, rows, points }, null, 2)}\n`,
);
const spec = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 560,
  height: 320,
  data: { values: points },
  mark: { type: "line" },
  encoding: {
    x: { field: "evaluations", type: "quantitative", title: "candidates evaluated" },
    y: {
      field: "best",
      type: "quantitative",
      title: `best val top-1 so far (%), mean of ${SEEDS.length} seeds`,
      scale: { zero: false },
    },
    color: { field: "strategy", type: "nominal" },
  },
};
const html = htmlReport(`psvit search strategies under ${FLOPS}FLOPs`, [
  {
    heading: "Best accuracy against evaluations",
    text: `${STRATEGIES.join(", ")}; population ${POP} × ${GENS} generations = ${total} evaluations each, ${VAL} validation images, seeds ${SEEDS.join(", ")}; supernet ${RUN}.`,
    svg: await renderSvg(spec),
  },
  {
    heading: "Best found (mean ± SE over seeds)",
    table: {
      head: ["strategy", `after ${total / 2}`, `after ${total}`, "per seed"],
      rows: rows.map((r) => [
        r.strategy,
        `${r.half.mean.toFixed(2)} ± ${r.half.se.toFixed(2)}`,
        `${r.final.mean.toFixed(2)} ± ${r.final.se.toFixed(2)}`,
        r.perSeed.map((x) => x.toFixed(2)).join(", "),
      ]),
    },
  },
]);
writeFileSync(path.join(OUT, "report.html"), html);
console.log(`| strategy | best after ${total / 2} evaluations | best after ${total} | per seed |`);
console.log("| --- | --- | --- | --- |");
for (const r of rows)
  console.log(
    `| ${r.strategy} | ${r.half.mean.toFixed(2)} ± ${r.half.se.toFixed(2)}% | ${r.final.mean.toFixed(2)} ± ${r.final.se.toFixed(2)}% (n = ${r.final.n}) | ${r.perSeed.map((x) => x.toFixed(2)).join(", ")} |`,
  );
console.log(`\nreport: ${path.join(OUT, "report.html")}`);
