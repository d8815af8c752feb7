// Do two supernets agree with each other? Kendall τ (95% bootstrap interval over subnets) between the
// inherited accuracies of every pair of rank-corr studies of the same subnets (e.g. one recipe with two
// supernet seeds: the supernet's own seed-to-seed ceiling), and the τ of their mean against the
// from-scratch accuracy (what averaging supernets buys); with three or more, the τ of all of them together
// (mean accuracy, and mean rank). The from-scratch accuracies are the first study's, or with --truth a
// searched-vs-random result.json's test means (then the studies may be bench/inherited.mjs outputs).
//   node bench/rank-agree.mjs LABEL=STUDY/result.json LABEL=STUDY/result.json [...] [--truth SVR/result.json]
// Needs `npm run build` (dist/search/rankcorr.js).
import { readFileSync } from "node:fs";
import { tauCi as tauWithCi } from "./tau.mjs";

const argv = process.argv.slice(2);
const at = argv.indexOf("--truth");
const truthFile = at >= 0 ? argv[at + 1] : undefined;
const args = at >= 0 ? argv.filter((_, i) => i !== at && i !== at + 1) : argv;
if (args.length < 2) {
  console.error("usage: node bench/rank-agree.mjs LABEL=result.json LABEL=result.json [...]");
  process.exit(2);
}
const studies = args.map((a) => {
  const at = a.indexOf("=");
  const [label, file] = at > 0 ? [a.slice(0, at), a.slice(at + 1)] : [a, a];
  const r = JSON.parse(readFileSync(file, "utf8"));
  // a rank-corr study (pairs) or a bench/inherited.mjs output (rows)
  return { label, byArch: new Map((r.pairs ?? r.rows).map((p) => [p.arch, p])) };
});
const archs = [...studies[0].byArch.keys()].filter((a) => studies.every((s) => s.byArch.has(a)));
if (archs.length < 3) throw new Error(`only ${archs.length} subnets in common`);
const f = (x) => (x === null || Number.isNaN(x) ? "–" : x.toFixed(2));
const tauCi = (x, y) => {
  const t = tauWithCi(x, y);
  return `${f(t.tau)} (${f(t.lo)} to ${f(t.hi)})`;
};
const inherited = (s) => archs.map((a) => s.byArch.get(a).inherited);
const truth = truthFile
  ? new Map(JSON.parse(readFileSync(truthFile, "utf8")).rows.map((r) => [r.arch, r.test.mean]))
  : undefined;
const scratch = archs.map((a) => (truth ? truth.get(a) : studies[0].byArch.get(a).scratch));
const untrained = archs.filter((_, k) => !Number.isFinite(scratch[k]));
if (untrained.length > 0) throw new Error(`no from-scratch accuracy for ${untrained.join(", ")}`);
console.log(`${archs.length} subnets in common`);
console.log(
  "| supernet A | supernet B | τ of inherited, A vs B (95% CI) | τ of their mean vs from scratch |",
);
console.log("| --- | --- | --- | --- |");
for (let i = 0; i < studies.length; i++)
  for (let j = i + 1; j < studies.length; j++) {
    const a = inherited(studies[i]);
    const b = inherited(studies[j]);
    const mean = a.map((x, k) => (x + b[k]) / 2);
    console.log(`| ${studies[i].label} | ${studies[j].label} | ${tauCi(a, b)} | ${tauCi(mean, scratch)} |`);
  }
if (studies.length > 2) {
  // every supernet together: the mean accuracy, and the mean rank (supernets whose accuracies sit at
  // different levels or spreads then weigh alike)
  const all = studies.map(inherited);
  const mean = archs.map((_, k) => all.reduce((s, a) => s + a[k], 0) / all.length);
  const rank = (a) => a.map((x) => a.filter((y) => y < x).length + (a.filter((y) => y === x).length - 1) / 2);
  const ranks = all.map(rank);
  const meanRank = archs.map((_, k) => ranks.reduce((s, r) => s + r[k], 0) / ranks.length);
  console.log(`all ${studies.length}: τ of their mean accuracy vs from scratch ${tauCi(mean, scratch)}`);
  console.log(`all ${studies.length}: τ of their mean rank vs from scratch ${tauCi(meanRank, scratch)}`);
}
