#!/usr/bin/env node
/**
 * psvit against the PyTorch reference with their steps interleaved: both run as live worker processes
 * (bench/psvit-worker.mjs, bench/torch_ref.py --serve) and take turns, one step each, so that the
 * machine's slow and fast spells fall on both alike. Each pair (a psvit step and a torch step, in
 * alternating order) gives a ratio psvit img/s ÷ torch img/s; the table reports their median and
 * interquartile range. Needs the build (npm run build) and /usr/bin/python3 with torch.
 *
 *   node bench/interleave.mjs [--space search-spaces/fmnist-2d.json] [--arch A,B,…] [--batch 64]
 *                             [--pairs 40] [--threads 1] [--torch-threads N] [--backend wasm] [--json]
 *
 * --threads sets both sides' threads; --torch-threads (default: --threads) sets PyTorch's alone, e.g. to
 * compare each side at its own best setting on a machine where one of them does not scale.
 *
 * Why: on these 2-core VMs a model's step time moves by ±30% over seconds (docs/BENCHMARKS.md, "Noise caveat").
 * bench/compare.mjs measures each side in its own process, seconds apart, and pairs the medians of whole
 * runs; a run that lands in a slow spell moves its round's ratio by as much. Here no two paired steps are
 * more than one step apart. While one worker computes, the other waits on its stdin (idle).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { modelFromFile } from "../dist/config/model-file.js";
import { countModel } from "../dist/flops/count.js";
import { argv as args, DEFAULT_ARCHS, DEFAULT_SPACE, benchDir as here, opt } from "./args.mjs";

const space = opt("space", DEFAULT_SPACE);
const archs = opt("arch", DEFAULT_ARCHS).split(",");
const batch = opt("batch", "64");
const pairs = Number(opt("pairs", "40"));
const threads = opt("threads", "1");
const torchThreads = opt("torch-threads", threads);
const backend = opt("backend", "wasm");
if (!Number.isInteger(pairs) || pairs < 1)
  throw new Error(`--pairs must be a positive integer, got ${pairs}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "psvit-interleave-"));

/** All workers started, so that a failure anywhere stops every one of them (and the configs go). */
const children = [];
process.on("exit", () => {
  for (const c of children) c.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * A worker process answering one line per command line. A reply that is not a number (or "error …"), or
 * the worker ending early, throws with its name, exit code or signal.
 */
function worker(cmd, argv, env) {
  const name = path.basename(argv[0]);
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  let ended = null;
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      ended = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    }),
  );
  child.stdin.on("error", () => {}); // a worker that died: reported by next() below
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (what) => {
    const r = await lines.next();
    if (r.done) {
      await exited;
      throw new Error(`${name} ended (${ended}) while ${what}`);
    }
    if (r.value.startsWith("error")) throw new Error(`${name}: ${r.value}`);
    return r.value;
  };
  return {
    ready: async () => {
      const line = await next("starting");
      if (line !== "ready") throw new Error(`${name}: expected "ready", got ${JSON.stringify(line)}`);
    },
    async step(what) {
      child.stdin.write(`${what}\n`);
      const line = await next(what);
      const ms = Number(line);
      if (!Number.isFinite(ms))
        throw new Error(`${name}: expected milliseconds after "${what}", got ${JSON.stringify(line)}`);
      return ms;
    },
    async quit() {
      child.stdin.write("quit\n");
      const out = JSON.parse(await next("quitting"));
      child.stdin.end();
      return out;
    },
  };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
};

const rows = [];
for (const arch of archs) {
  const cfg = modelFromFile(space, arch);
  const file = path.join(tmp, `${arch}.json`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  const ps = worker(process.execPath, [
    path.join(here, "psvit-worker.mjs"),
    file,
    "--batch",
    batch,
    "--threads",
    threads,
    "--backend",
    backend,
  ]);
  const th = worker(
    "/usr/bin/python3",
    [path.join(here, "torch_ref.py"), file, "--batch", batch, "--threads", torchThreads, "--serve"],
    {},
  );
  // start one after the other: each warms up while the other is idle
  await ps.ready();
  await th.ready();
  const row = { arch, cfg, ms: { psvit: { train: [], fwd: [] }, torch: { train: [], fwd: [] } } };
  for (const what of ["train", "fwd"]) {
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 === 0 ? [ps, th] : [th, ps];
      const t = [];
      for (const w of order) t.push(await w.step(what));
      const [pMs, tMs] = i % 2 === 0 ? t : [t[1], t[0]];
      row.ms.psvit[what].push(pMs);
      row.ms.torch[what].push(tMs);
    }
  }
  row.psvitEnd = await ps.quit();
  row.torchEnd = await th.quit();
  rows.push(row);
  const r = (what) => row.ms.torch[what].map((t, i) => t / row.ms.psvit[what][i]);
  row.ratios = { train: r("train"), fwd: r("fwd") };
  process.stderr.write(
    `${arch}: train ratio ${quantile(row.ratios.train, 0.5).toFixed(2)}, fwd ratio ${quantile(row.ratios.fwd, 0.5).toFixed(2)}\n`,
  );
}

const imgS = (ms) => (Number(batch) * 1000) / quantile(ms, 0.5);
const cell = (rs) =>
  `${quantile(rs, 0.5).toFixed(2)} (${quantile(rs, 0.25).toFixed(2)}–${quantile(rs, 0.75).toFixed(2)})`;
const head = [
  "arch",
  "MFLOPs",
  "psvit train img/s",
  "torch train img/s",
  "train ratio",
  "psvit fwd img/s",
  "torch fwd img/s",
  "fwd ratio",
  "psvit peak MB",
  "torch peak MB",
];
const lines = [
  `batch ${batch}, ${pairs} interleaved pairs per measurement (img/s: medians; ratio: median of the pairs' ` +
    `ratios, interquartile range in brackets), psvit backend ${backend} ${threads} thread(s), torch ` +
    `${rows[0]?.torchEnd.torch} ${torchThreads} thread(s), ${os.cpus().length} cores (${os.cpus()[0]?.model}), ` +
    `${new Date().toISOString().slice(0, 10)}`,
  "",
  `| ${head.join(" | ")} |`,
  `| ${head.map(() => "---").join(" | ")} |`,
];
for (const r of rows) {
  lines.push(
    `| ${[
      r.arch,
      (countModel(r.cfg).flops / 1e6).toFixed(1),
      imgS(r.ms.psvit.train).toFixed(1),
      imgS(r.ms.torch.train).toFixed(1),
      cell(r.ratios.train),
      imgS(r.ms.psvit.fwd).toFixed(1),
      imgS(r.ms.torch.fwd).toFixed(1),
      cell(r.ratios.fwd),
      r.psvitEnd.peak_rss_mb,
      r.torchEnd.peak_rss_mb,
    ].join(" | ")} |`,
  );
}
console.log(lines.join("\n"));
if (args.includes("--json")) {
  console.log(
    JSON.stringify({
      rows: rows.map((r) => ({
        arch: r.arch,
        train_ratio: quantile(r.ratios.train, 0.5),
        fwd_ratio: quantile(r.ratios.fwd, 0.5),
        psvit: { train_ms: r.ms.psvit.train, fwd_ms: r.ms.psvit.fwd, ...r.psvitEnd },
        torch: { train_ms: r.ms.torch.train, fwd_ms: r.ms.torch.fwd, ...r.torchEnd },
      })),
    }),
  );
}
