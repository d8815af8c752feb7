// Does anything simpler than the supernet rank a rank-corr study's subnets? Kendall τ (with a 95%
// bootstrap interval over subnets) of each proxy against the from-scratch accuracy (mean over seeds):
// the supernet's inherited accuracy, params, FLOPs, and counts of the architecture string (basic cells,
// shared-attention pairs, identities, layers per stage).
//   node bench/rank-proxies.mjs STUDY [STUDY ...]   (a study folder: rank-corr.json + samples.jsonl)
// Needs `npm run build` (dist/search/rankcorr.js).
import { readFileSync } from "node:fs";
import path from "node:path";
import { tauCi } from "./tau.mjs";

const studies = process.argv.slice(2);
if (studies.length === 0) {
  console.error("usage: node bench/rank-proxies.mjs STUDY [STUDY ...]");
  process.exit(2);
}
const f = (x) => (x === null || Number.isNaN(x) ? "–" : x.toFixed(2));
// a basic cell is one attention layer, a shared-attention pair two layers, an identity none
const layers = (stage) => [...stage].reduce((n, c) => n + (c === "B" ? 1 : c === "S" ? 2 : 0), 0);
const count = (arch, c) => [...arch].filter((x) => x === c).length;
for (const dir of studies) {
  const samples = readFileSync(path.join(dir, "samples.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((s) => typeof s.arch === "string" && typeof s.scratch === "number");
  const scratch = samples.map((s) => s.scratch);
  const proxies = {
    "supernet (inherited top-1)": samples.map((s) => s.inherited),
    params: samples.map((s) => s.params),
    FLOPs: samples.map((s) => s.flops),
    "basic cells (B)": samples.map((s) => count(s.arch, "B")),
    "shared pairs (S)": samples.map((s) => count(s.arch, "S")),
    "identities (I), negated": samples.map((s) => -count(s.arch, "I")),
    ...Object.fromEntries(
      [0, 1, 2].map((k) => [`layers in stage ${k}`, samples.map((s) => layers(s.arch.split("-")[k]))]),
    ),
  };
  console.log(
    `\n${dir}: ${samples.length} subnets, from scratch ${f(Math.min(...scratch) * 100)}–${f(Math.max(...scratch) * 100)}%`,
  );
  console.log("| proxy | τ vs from scratch (95% CI) |");
  console.log("| --- | --- |");
  for (const [name, x] of Object.entries(proxies)) {
    const t = tauCi(x, scratch);
    console.log(`| ${name} | ${f(t.tau)}${t.lo !== null ? ` (${f(t.lo)} to ${f(t.hi)})` : ""} |`);
  }
}
