// The Markdown table of rank-corr studies, one row per study: supernet, study, n, τ (95% CI), τ per
// from-scratch seed, the seed-to-seed ceiling (95% CI) and the ratio to it. Studies not finished are left out.
//   node bench/rank-table.mjs LABEL=RUN/STUDY ...
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const f = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
const ci = (c) => (c ? ` (${f(c.lo)} to ${f(c.hi)})` : "");
console.log("| supernet | study | n | τ (95% CI) | τ per seed | ceiling τ (95% CI) | ratio |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf("=");
  const [label, dir] = at > 0 ? [arg.slice(0, at), arg.slice(at + 1)] : [arg, arg];
  const file = path.join(dir, "result.json");
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8"));
  console.log(
    `| ${label} | ${path.basename(dir)} (${r.epochs} ep) | ${r.n} | ${f(r.kendallTau)}${ci(r.kendallTauCi)} | ${r.perSeedTau.map(f).join(" / ")} | ${f(r.ceiling?.kendallTau)}${ci(r.ceiling?.ci)} | ${f(r.ceiling?.ratio)} |`,
  );
}
