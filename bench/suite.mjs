#!/usr/bin/env node
/**
 * `npm run bench`: the evidence benchmarks in one run (never part of `npm test`).
 *
 *   1. psvit vs PyTorch: training-step and forward images/s and peak memory of the smallest, median and
 *      largest FLOPs paths of fmnist-2d, equal thread budgets, the two sides' steps interleaved
 *      (bench/interleave.mjs; bench/compare.mjs is the older one-process-per-run form);
 *   2. search throughput: candidates per minute with 1 and 2 worker threads;
 *   3. wall time of the default pipeline (train-supernet, search, export on the embedded data).
 *
 *   node bench/suite.mjs [--json] [--skip compare,search,pipeline] [--pairs 20] [--threads 1]
 *
 * A table on stdout; with --json, one JSON object as the last line.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { argv as args, benchDir as here, opt, root } from "./args.mjs";

const psvit = path.join(root, "bin", "psvit");
const json = args.includes("--json");
const skip = new Set((opt("skip", "") || "").split(",").filter(Boolean));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "psvit-suite-"));
const log = (s) => process.stderr.write(`bench: ${s}\n`);
const run = (file, a, env = {}) =>
  execFileSync(process.execPath, [file, ...a], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
const lastJson = (text) => JSON.parse(text.trim().split("\n").at(-1));
const result = {
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  date: new Date().toISOString(),
};

// 1. psvit vs PyTorch
if (!skip.has("compare")) {
  log("psvit vs PyTorch, steps interleaved (bench/interleave.mjs)");
  const out = run(path.join(here, "interleave.mjs"), [
    "--pairs",
    opt("pairs", "20"),
    "--threads",
    opt("threads", "1"),
    "--json",
  ]);
  result.compare = lastJson(out);
  result.compareTable = out.trim().split("\n").slice(0, -1).join("\n");
}

// 2. search throughput, 1 and 2 workers, on a supernet trained for a few steps (weights do not matter for speed)
if (!skip.has("search")) {
  log("search throughput: a supernet checkpoint, then 24 candidates with 1 and 2 workers");
  const dir = path.join(tmp, "run");
  try {
    run(psvit, ["train-supernet", "--out", dir, "--stop-after", "2", "--eval-images", "64"]);
  } catch (e) {
    if (e.status !== 130) throw e; // --stop-after ends the run as if interrupted
  }
  result.search = [];
  for (const workers of [1, 2]) {
    const r = lastJson(
      run(psvit, [
        "search",
        "--run",
        dir,
        "--flops",
        "25M",
        "--population",
        "24",
        "--generations",
        "1",
        "--val-images",
        "500",
        "--workers",
        String(workers),
        "--force",
        "--json",
      ]),
    );
    result.search.push({
      workers,
      candidates: r.evaluations,
      seconds: r.seconds,
      per_minute: r.candidatesPerMinute,
    });
  }
}

// 3. the default pipeline's wall time
if (!skip.has("pipeline")) {
  log("the default pipeline (about 2½ minutes on 2 cores)");
  const t0 = performance.now();
  run(psvit, ["pipeline", "--out", path.join(tmp, "pipeline")]);
  const seconds = (performance.now() - t0) / 1000;
  const summaryFile = fs
    .readdirSync(path.join(tmp, "pipeline", "export"))
    .find((f) => f.endsWith(".summary.json"));
  const summary = JSON.parse(fs.readFileSync(path.join(tmp, "pipeline", "export", summaryFile), "utf8"));
  const runJson = JSON.parse(fs.readFileSync(path.join(tmp, "pipeline", "run.json"), "utf8"));
  result.pipeline = {
    seconds,
    exported: summary.architecture,
    val_top1_inherited: summary.val_top1_inherited,
    supernet_paths: runJson.finished.last_eval.map((e) => ({ label: e.label, top1: e.top1 })),
  };
}

// the table
const lines = [];
if (result.compare) {
  lines.push("psvit vs PyTorch (steps interleaved, equal thread budgets)", result.compareTable, "");
}
if (result.search) {
  lines.push("search throughput (500 validation images per candidate)");
  for (const s of result.search)
    lines.push(
      `  ${s.workers} worker(s): ${s.per_minute.toFixed(1)} candidates/min (${s.candidates} in ${s.seconds.toFixed(1)} s)`,
    );
  lines.push("");
}
if (result.pipeline) {
  const p = result.pipeline;
  lines.push(
    `default pipeline: ${(p.seconds / 60).toFixed(1)} min; exported ${p.exported}, val top-1 ${(p.val_top1_inherited * 100).toFixed(1)}% (inherited)`,
  );
}
console.log(lines.join("\n"));
if (json) console.log(JSON.stringify({ ...result, compareTable: undefined }));
fs.rmSync(tmp, { recursive: true, force: true });
