/**
 * The charts of a search report (the Pareto plot of everything evaluated, best/mean accuracy per
 * generation) and of `psvit rank-corr` (its scatter plot), as vega-lite specs; ./html.ts renders them.
 */
import type * as vl from "vega-lite";
import type { Evaluated } from "../search/evolution.js";

export function paretoSpec(
  all: Evaluated[],
  front: Evaluated[],
  budget: number | null,
  title: string,
): vl.TopLevelSpec {
  const pts = all.map((e) => ({
    mflops: e.flops / 1e6,
    top1: e.accuracy * 100,
    // ± 1 standard error of the fitness (binomial, on the search's validation images)
    lo: (e.accuracy - (e.se ?? 0)) * 100,
    hi: (e.accuracy + (e.se ?? 0)) * 100,
    generation: e.generation,
    arch: e.arch,
  }));
  const withSe = pts.filter((p) => p.hi > p.lo);
  const fr = front.map((e) => ({ mflops: e.flops / 1e6, top1: e.accuracy * 100, arch: e.arch }));
  const x = { field: "mflops", type: "quantitative", title: "MFLOPs (multiply-accumulates)" } as const;
  const y = {
    field: "top1",
    type: "quantitative",
    title: "validation top-1 (%), inherited weights",
    scale: { zero: false },
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 560,
    height: 340,
    layer: [
      ...(withSe.length
        ? [
            {
              data: { values: withSe },
              mark: { type: "rule" as const, opacity: 0.35, color: "#777" },
              encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" } },
            },
          ]
        : []),
      {
        data: { values: pts },
        mark: { type: "point", filled: true, opacity: 0.7, size: 36 },
        encoding: {
          x,
          y,
          color: { field: "generation", type: "quantitative", scale: { scheme: "viridis" } },
        },
      },
      {
        data: { values: fr },
        mark: { type: "line", point: { filled: true, size: 60, color: "#d62728" }, color: "#d62728" },
        encoding: { x, y },
      },
      ...(budget === null
        ? []
        : [
            {
              data: { values: [{ mflops: budget / 1e6 }] },
              mark: { type: "rule" as const, strokeDash: [4, 4], color: "#555" },
              encoding: { x: { field: "mflops", type: "quantitative" as const } },
            },
          ]),
    ],
  };
}

export interface ScatterPoint {
  /** Shown next to the point (e.g. the sample number). */
  label: string;
  arch: string;
  flops: number;
  /** Validation top-1 with the supernet's inherited weights, in [0, 1]. */
  inherited: number;
  /** Validation top-1 of the subnet trained from scratch, in [0, 1]. */
  scratch: number;
}

/** `psvit rank-corr`: from-scratch against inherited accuracy, coloured by FLOPs, τ and ρ in the title. */
export function scatterSpec(
  points: ScatterPoint[],
  tau: number,
  rho: number,
  title: string,
): vl.TopLevelSpec {
  const fmt = (r: number) => (Number.isNaN(r) ? "undefined" : r.toFixed(3));
  const pts = points.map((p) => ({
    label: p.label,
    arch: p.arch,
    mflops: p.flops / 1e6,
    inherited: p.inherited * 100,
    scratch: p.scratch * 100,
  }));
  const x = {
    field: "inherited",
    type: "quantitative",
    title: "validation top-1 (%), inherited supernet weights",
    scale: { zero: false },
  } as const;
  const y = {
    field: "scratch",
    type: "quantitative",
    title: "validation top-1 (%), trained from scratch",
    scale: { zero: false },
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: title,
      subtitle: `Kendall τ = ${fmt(tau)}, Spearman ρ = ${fmt(rho)} (n = ${points.length})`,
    },
    width: 560,
    height: 400,
    data: { values: pts },
    layer: [
      {
        mark: { type: "point", filled: true, opacity: 0.85, size: 70 },
        encoding: {
          x,
          y,
          color: { field: "mflops", type: "quantitative", title: "MFLOPs", scale: { scheme: "viridis" } },
        },
      },
      {
        mark: { type: "text", align: "left", dx: 7, dy: -7, fontSize: 10, color: "#444" },
        encoding: { x, y, text: { field: "label", type: "nominal" } },
      },
    ],
  };
}

export interface GenerationStat {
  generation: number;
  best: number;
  mean: number;
  bestSoFar: number;
}

export function generationSpec(stats: GenerationStat[], title: string): vl.TopLevelSpec {
  const rows = stats.flatMap((g) => [
    { generation: g.generation + 1, series: "best so far", top1: g.bestSoFar * 100 },
    { generation: g.generation + 1, series: "best of generation", top1: g.best * 100 },
    { generation: g.generation + 1, series: "mean of generation", top1: g.mean * 100 },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 560,
    height: 260,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "generation", type: "ordinal", title: "generation", axis: { labelAngle: 0 } },
      y: { field: "top1", type: "quantitative", title: "validation top-1 (%)", scale: { zero: false } },
      color: { field: "series", type: "nominal", title: null },
    },
  };
}

export function generationStats(history: Evaluated[]): GenerationStat[] {
  const byGen = new Map<number, Evaluated[]>();
  for (const e of history) byGen.set(e.generation, [...(byGen.get(e.generation) ?? []), e]);
  let bestSoFar = 0;
  return [...byGen.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([generation, es]) => {
      const best = Math.max(...es.map((e) => e.accuracy));
      bestSoFar = Math.max(bestSoFar, best);
      return { generation, best, mean: es.reduce((a, e) => a + e.accuracy, 0) / es.length, bestSoFar };
    });
}
