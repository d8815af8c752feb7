/** The rank-correlation study's report.html and the number formats its summary shares. */

import { writeFileAtomic } from "../util/fs.js";
import { human } from "../util/units.js";
import type { RankCorrResult } from "./rank-corr-types.js";

export const UNDEFINED_NOTE =
  "(undefined: every subnet has the same inherited or the same from-scratch accuracy; " +
  "a longer-trained supernet, more --epochs or more --val-images separate them)";
export const pct = (a: number) => `${(a * 100).toFixed(2)}%`;
export const fmtCorr = (r: number | null) => (r === null ? "undefined" : r.toFixed(3));

export async function writeReport(file: string, spaceName: string, r: RankCorrResult): Promise<void> {
  const { renderSvg, htmlReport } = await import("../report/html.js");
  const { scatterSpec } = await import("../report/search.js");
  const budget = r.constraint.maxFlops;
  const images = r.valImages > 0 ? `${r.valImages} validation images` : "every validation image";
  const svg = await renderSvg(
    scatterSpec(
      r.pairs.map((s) => ({ ...s, label: String(s.index) })),
      r.kendallTau ?? Number.NaN,
      r.spearmanRho ?? Number.NaN,
      `${spaceName}: from-scratch vs inherited accuracy`,
    ),
  );
  const html = htmlReport(`psvit rank-corr: ${spaceName}`, [
    {
      heading: "Summary",
      text:
        `Kendall τ-b = ${fmtCorr(r.kendallTau)}${r.kendallTauCi ? ` (95% bootstrap interval ${r.kendallTauCi.lo.toFixed(2)} to ${r.kendallTauCi.hi.toFixed(2)})` : ""}, Spearman ρ = ${fmtCorr(r.spearmanRho)} over ${r.n} subnets ` +
        (r.sampling === "flops-band"
          ? `drawn uniformly within ±5% of ${human(budget ?? 0)}FLOPs. `
          : `drawn one per FLOPs stratum${budget !== undefined ? ` under ${human(budget)}FLOPs` : ""}. `) +
        (r.ceiling
          ? `Ceiling: τ between two seeds of the same from-scratch training = ${fmtCorr(r.ceiling.kendallTau)}${r.ceiling.ci ? ` (${r.ceiling.ci.lo.toFixed(2)} to ${r.ceiling.ci.hi.toFixed(2)})` : ""}; the supernet's τ against single seeds is ${r.perSeedTau.map(fmtCorr).join(" / ")}${r.ceiling.ratio !== null ? `, ${r.ceiling.ratio.toFixed(2)} × the ceiling` : ""}. `
          : "") +
        `Inherited: validation top-1 with the supernet's weights (checkpoint step ${r.checkpoint.step}); ` +
        `from scratch: validation top-1 after ${r.epochs} epoch(s) of the run's recipe${r.scratchFrom ? ` (trained by the study in ${r.scratchFrom})` : ""}; both on the same ${images}.` +
        (r.kendallTau === null ? ` ${UNDEFINED_NOTE}` : ""),
    },
    { heading: "From-scratch vs inherited accuracy (labels: subnet number)", svg },
    {
      heading: "Subnets",
      table: {
        head: [
          "architecture",
          "#",
          "MFLOPs",
          "M params",
          "inherited top-1",
          "from-scratch top-1 (per seed)",
          "seconds",
        ],
        rows: r.pairs.map((s) => [
          s.arch,
          s.index,
          (s.flops / 1e6).toFixed(2),
          (s.params / 1e6).toFixed(3),
          pct(s.inherited),
          s.scratchBySeed && s.scratchBySeed.length > 1
            ? s.scratchBySeed.map(pct).join(" / ")
            : pct(s.scratch),
          s.seconds.toFixed(1),
        ]),
      },
    },
  ]);
  await writeFileAtomic(file, new TextEncoder().encode(html));
}
