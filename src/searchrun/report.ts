/** A search's report.html: the Pareto plot, accuracy per generation, the top candidates and the front. */
import type { Evaluated } from "../search/evolution.js";
import { writeFileAtomic } from "../util/fs.js";
import { human } from "../util/units.js";
import type { SearchResult } from "./snapshot.js";

export async function writeSearchReport(
  file: string,
  spaceName: string,
  r: SearchResult,
  history: Evaluated[],
): Promise<void> {
  const { renderSvg, htmlReport } = await import("../report/html.js");
  const { paretoSpec, generationSpec } = await import("../report/search.js");
  const budget = r.constraint.maxFlops ?? null;
  const row = (e: Evaluated, i: number) => [
    i + 1,
    e.arch,
    (e.flops / 1e6).toFixed(2),
    (e.params / 1e6).toFixed(3),
    `${(e.accuracy * 100).toFixed(2)}%${e.se !== undefined ? ` ± ${(e.se * 100).toFixed(2)}` : ""}`,
    e.generation + 1,
  ];
  const f = r.final;
  const finalSections = f
    ? [
        {
          heading: `Final stage: the top ${f.k} re-scored on all ${f.images} validation images`,
          text:
            `The winner is chosen by this ranking. ` +
            (f.test
              ? `Winner vs runner-up (${f.test.runnerUp}), McNemar's paired test on the same images: ${f.test.aOnly} images only the winner gets right, ${f.test.bOnly} only the runner-up, p = ${f.test.p.toPrecision(2)} — ` +
                (f.tied ? `a statistical tie (p ≥ ${f.alpha}).` : `the winner is better (p < ${f.alpha}).`)
              : "One candidate: nothing to compare."),
          table: {
            head: [
              "rank",
              "architecture",
              "MFLOPs",
              "M params",
              "val top-1 ± SE (all images)",
              "in the search",
            ],
            rows: f.ranking.map((e, i) => [
              i + 1,
              e.arch,
              (e.flops / 1e6).toFixed(2),
              (e.params / 1e6).toFixed(3),
              `${(e.accuracy * 100).toFixed(2)}% ± ${(e.se * 100).toFixed(2)}`,
              `${(e.searchAccuracy * 100).toFixed(2)}%`,
            ]),
          },
        },
      ]
    : [];
  const head = ["rank", "architecture", "MFLOPs", "M params", "val top-1 ± SE", "generation"];
  const html = htmlReport(`psvit ${r.strategy} search: ${spaceName} under ${human(budget ?? 0)}FLOPs`, [
    {
      heading: "Summary",
      text: `${r.evaluations} candidates evaluated (${r.workers} worker(s), ${r.candidatesPerMinute.toFixed(1)} per minute). Fitness: validation top-1 with the supernet's inherited weights on ${r.fitnessImages} validation images (error bars: ± 1 standard error).`,
    },
    ...finalSections,
    {
      heading: "Accuracy vs FLOPs (Pareto front in red)",
      svg: await renderSvg(paretoSpec(history, r.pareto, budget, "")),
    },
    { heading: "Accuracy per generation", svg: await renderSvg(generationSpec(r.generations, "")) },
    { heading: "Top candidates", table: { head, rows: r.top.map(row) } },
    { heading: "Pareto front", table: { head, rows: r.pareto.map(row) } },
  ]);
  await writeFileAtomic(file, new TextEncoder().encode(html));
}
