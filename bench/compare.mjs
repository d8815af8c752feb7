#!/usr/bin/env node
/**
 * psvit (tfjs) against the PyTorch reference, in the same run, on representative fmnist-2d paths.
 * Needs the build (npm run build) and /usr/bin/python3 with torch (apt-get install python3-torch
 * libopenblas0-pthread).
 *
 *   node bench/compare.mjs [--space search-spaces/fmnist-2d.json] [--arch A,B,…] [--batch 64]
 *                          [--steps 10] [--threads 1] [--backend wasm] [--rounds 1] [--json]
 *
 * Every measurement is a fresh process (so peak RSS is per run); psvit and torch alternate per arch
 * and per round (which goes first alternates too) so that both see the same machine load. Prints a
 * table with the ratios psvit/torch: per round, then their median (with --rounds > 1, the range too).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { modelFromFile } from "../dist/config/model-file.js";
import { countModel } from "../dist/flops/count.js";
import { argv as args, DEFAULT_ARCHS, DEFAULT_SPACE, benchDir as here, opt } from "./args.mjs";

const space = opt("space", DEFAULT_SPACE);
const archs = opt("arch", DEFAULT_ARCHS).split(",");
const batch = opt("batch", "64");
const steps = opt("steps", "10");
const threads = opt("threads", "1");
const backend = opt("backend", "wasm");
const rounds = Number(opt("rounds", "1"));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "psvit-compare-"));
const lastJson = (text) => JSON.parse(text.trim().split("\n").at(-1));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function runPsvit(file) {
  const out = execFileSync(
    process.execPath,
    [
      path.join(here, "..", "bin", "psvit"),
      "bench",
      file,
      "--batch",
      batch,
      "--steps",
      steps,
      "--backend",
      backend,
      "--threads",
      threads,
      "--json",
    ],
    {
      encoding: "utf8",
      env: { ...process.env, PSVIT_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return lastJson(out);
}

function runTorch(file) {
  const out = execFileSync(
    "/usr/bin/python3",
    [
      path.join(here, "torch_ref.py"),
      file,
      "--batch",
      batch,
      "--steps",
      steps,
      "--threads",
      threads,
      "--json",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  return lastJson(out);
}

const rows = [];
for (const arch of archs) {
  const cfg = modelFromFile(space, arch);
  const file = path.join(tmp, `${arch}.json`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  const ps = [];
  const ts = [];
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first, so that neither always runs in the other's wake
    if (r % 2 === 0) {
      ps.push(runPsvit(file));
      ts.push(runTorch(file));
    } else {
      ts.push(runTorch(file));
      ps.push(runPsvit(file));
    }
  }
  // ratios paired by round (the two runs of a round are seconds apart; the machine's speed drifts over
  // minutes), then their median: steadier than the ratio of the two medians
  const paired = (key) => ps.map((x, i) => x[key] / ts[i][key]);
  const trainRatios = paired("train_img_s");
  const fwdRatios = paired("fwd_img_s");
  const p = {
    train: median(ps.map((x) => x.train_img_s)),
    fwd: median(ps.map((x) => x.fwd_img_s)),
    rss: median(ps.map((x) => x.peak_rss_mb)),
    backend: ps[0].backend,
  };
  const t = {
    train: median(ts.map((x) => x.train_img_s)),
    fwd: median(ts.map((x) => x.fwd_img_s)),
    rss: median(ts.map((x) => x.peak_rss_mb)),
    version: ts[0].torch,
  };
  const cost = countModel(cfg);
  rows.push({ arch, mflops: cost.flops / 1e6, params: cost.params / 1e6, p, t, trainRatios, fwdRatios });
  process.stderr.write(`${arch}: psvit ${JSON.stringify(p)} torch ${JSON.stringify(t)}\n`);
}

const head = [
  "arch",
  "MFLOPs",
  "params M",
  "psvit train img/s",
  "torch train img/s",
  "train ratio",
  "psvit fwd img/s",
  "torch fwd img/s",
  "fwd ratio",
  "psvit peak MB",
  "torch peak MB",
];
// "0.78" for one round; "0.78 (0.56–0.82)" = median of the per-round ratios (range) for several
const ratioCell = (rs) => {
  const m = median(rs).toFixed(2);
  return rs.length > 1 ? `${m} (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})` : m;
};
const lines = [
  `batch ${batch}, ${steps} timed steps (medians), ${rounds} round(s) (img/s: medians; ratios: median of the ` +
    `rounds' paired ratios, range in brackets), psvit backend ${rows[0]?.p.backend} ${threads} thread(s), ` +
    `torch ${rows[0]?.t.version} ${threads} thread(s), ${os.cpus().length} cores (${os.cpus()[0]?.model}), ` +
    `${new Date().toISOString().slice(0, 10)}`,
  "",
  `| ${head.join(" | ")} |`,
  `| ${head.map(() => "---").join(" | ")} |`,
];
for (const r of rows) {
  lines.push(
    `| ${[
      r.arch,
      r.mflops.toFixed(1),
      r.params.toFixed(2),
      r.p.train.toFixed(1),
      r.t.train.toFixed(1),
      ratioCell(r.trainRatios),
      r.p.fwd.toFixed(1),
      r.t.fwd.toFixed(1),
      ratioCell(r.fwdRatios),
      r.p.rss.toFixed(0),
      r.t.rss.toFixed(0),
    ].join(" | ")} |`,
  );
}
console.log(lines.join("\n"));
if (args.includes("--json")) {
  console.log(
    JSON.stringify({
      rows: rows.map((r) => ({
        arch: r.arch,
        mflops: r.mflops,
        params_m: r.params,
        psvit: { backend: r.p.backend, train_img_s: r.p.train, fwd_img_s: r.p.fwd, peak_rss_mb: r.p.rss },
        torch: { version: r.t.version, train_img_s: r.t.train, fwd_img_s: r.t.fwd, peak_rss_mb: r.t.rss },
        train_ratio: median(r.trainRatios),
        fwd_ratio: median(r.fwdRatios),
        train_ratios: r.trainRatios,
        fwd_ratios: r.fwdRatios,
      })),
    }),
  );
}
fs.rmSync(tmp, { recursive: true, force: true });
