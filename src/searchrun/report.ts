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
    `${(e.accuracy * 100).toFixed(2)}%`,
    e.generation + 1,
  ];
  const head = ["rank", "architecture", "MFLOPs", "M params", "val top-1", "generation"];
  const html = htmlReport(`psvit ${r.strategy} search: ${spaceName} under ${human(budget ?? 0)}FLOPs`, [
    {
      heading: "Summary",
      text: `${r.evaluations} candidates evaluated (${r.workers} worker(s), ${r.candidatesPerMinute.toFixed(1)} per minute). Fitness: validation top-1 with the supernet's inherited weights.`,
    },
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
