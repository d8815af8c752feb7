/**
 * What the commands print when their work is done: one function per result, shared by the command that
 * runs that step alone and by `psvit pipeline`, which runs them in a row.
 */

import type { FinalStage } from "../search/rescore.js";
import type { ExportResult } from "../searchrun/export.js";
import type { SearchResult } from "../searchrun/snapshot.js";
import { fmtCorr, pct, type RankCorrResult, UNDEFINED_NOTE } from "../study/rank-corr.js";
import type { TrainRunResult } from "../train/run.js";
import { formatDuration } from "../util/progress.js";
import { human } from "../util/units.js";
import { table } from "./io.js";

/** `word` as one shell word (quoted only when it has to be). */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function trainSummary(r: TrainRunResult): string {
  const s = r.snapshot;
  const lines = [
    `trained ${r.steps} steps in ${formatDuration(r.seconds)} (${Math.round(r.imagesPerSec)} images/s median)`,
  ];
  for (const e of r.lastEval ?? []) {
    lines.push(
      `  val ${e.label}${e.arch ? ` ${e.arch}` : ""}${e.flops ? ` (${human(e.flops)}FLOPs)` : ""}: top-1 ${(e.top1 * 100).toFixed(2)}%, top-5 ${(e.top5 * 100).toFixed(2)}%, loss ${e.loss.toFixed(4)}`,
    );
  }
  lines.push(`run directory: ${r.run.dir}`);
  lines.push(`report: ${r.report}`);
  if (s.command === "train-supernet") lines.push(`next: psvit search --run ${r.run.dir} --flops 25M`);
  else
    lines.push(`weights: ${r.run.path(`${s.model!.name}.safetensors`)} (config ${s.model!.name}.model.json)`);
  return `${lines.join("\n")}\n`;
}

const pctSe = (a: number, se: number | undefined) =>
  `${(a * 100).toFixed(2)}%${se !== undefined ? ` ± ${(se * 100).toFixed(2)}` : ""}`;

export function searchSummary(r: SearchResult, runDir: string, report: string): string {
  const lines = [
    `${r.strategy} search under ${human(r.constraint.maxFlops!)}FLOPs: ${r.evaluations} candidates in ${formatDuration(r.seconds)} (${r.candidatesPerMinute.toFixed(1)}/min, ${r.queue ? `through the queue ${r.queue}` : `${r.workers} worker(s)`}), each scored on ${r.fitnessImages} validation images`,
    "",
  ];
  const rows = [["rank", "architecture", "FLOPs", "params", "val top-1 ± SE"]];
  r.top.slice(0, 5).forEach((e, i) => {
    rows.push([String(i + 1), e.arch, human(e.flops), human(e.params), pctSe(e.accuracy, e.se)]);
  });
  lines.push(table(rows, ["r", "l", "r", "r", "r"]));
  lines.push("");
  lines.push(
    `Pareto front: ${r.pareto.map((e) => `${human(e.flops)} → ${(e.accuracy * 100).toFixed(1)}%`).join(", ")}`,
  );
  if (r.final) lines.push(...finalStageLines(r.final));
  lines.push(`report: ${report}`);
  lines.push(
    `next: psvit export --run ${runDir}${r.strategy !== "evolution" ? ` --strategy ${r.strategy}` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

/** The final stage in words: the winner by the whole split, and whether it is tied with the runner-up. */
export function finalStageLines(f: FinalStage): string[] {
  const [w, second] = f.ranking;
  const lines = [
    `final stage: the top ${f.k} re-scored on all ${f.images} validation images; winner ${w.arch} ${pctSe(w.accuracy, w.se)} (${human(w.flops)}FLOPs)`,
  ];
  if (f.test && second) {
    lines.push(
      `  runner-up ${second.arch} ${pctSe(second.accuracy, second.se)}; McNemar (images only one gets right: ${f.test.aOnly} vs ${f.test.bOnly}) p = ${f.test.p.toPrecision(2)}: ` +
        (f.tied
          ? `a statistical tie (p >= ${f.alpha}): the data cannot tell the two apart`
          : `the winner is better (p < ${f.alpha})`),
    );
  }
  return lines;
}

export function exportSummary(r: ExportResult): string {
  const lines = [
    `exported ${r.arch}: ${human(r.flops)}FLOPs, ${human(r.params, 4)} params` +
      (r.valAccuracy !== null ? `, val top-1 ${(r.valAccuracy * 100).toFixed(2)}% (inherited weights)` : ""),
    `  config:  ${r.config}`,
    ...(r.weights ? [`  weights: ${r.weights}`] : []),
    ...(r.summary ? [`  summary: ${r.summary}`] : []),
    ...(r.deployed?.format === "onnx" ? [`  onnx:    ${r.deployed.path}`] : []),
    ...(r.deployed?.format === "web"
      ? [`  web:     ${r.deployed.path} (view it: psvit serve ${r.deployed.path})`]
      : []),
    `retrain it from scratch: psvit train ${r.config}`,
  ];
  return `${lines.join("\n")}\n`;
}

const ci = (i: { lo: number; hi: number } | null) =>
  i ? ` [95% CI ${i.lo.toFixed(2)}, ${i.hi.toFixed(2)}]` : "";

export function rankCorrSummary(r: RankCorrResult, report: string): string {
  const seeds = r.scratchSeeds ?? 1;
  const rows = [
    [
      "#",
      "architecture",
      "FLOPs",
      "params",
      "inherited",
      seeds > 1 ? "from scratch (per seed)" : "from scratch",
      "time",
    ],
  ];
  for (const s of r.pairs) {
    rows.push([
      String(s.index),
      s.arch,
      human(s.flops),
      human(s.params),
      pct(s.inherited),
      s.scratchBySeed && s.scratchBySeed.length > 1 ? s.scratchBySeed.map(pct).join(" / ") : pct(s.scratch),
      formatDuration(s.seconds),
    ]);
  }
  const total = r.pairs.reduce((a, s) => a + s.seconds, 0);
  const how = r.sampling === "flops-band" ? "drawn within ±5% of the budget" : "one per FLOPs stratum";
  const c = r.ceiling;
  return `${[
    `rank correlation of ${r.n} subnets (${how}) trained ${r.epochs} epoch(s) from scratch${seeds > 1 ? ` with ${seeds} seeds each` : ""} ${r.scratchFrom ? `(by the study in ${r.scratchFrom})` : `(${formatDuration(total)})`} with their inherited accuracy:`,
    "",
    table(rows, ["r", "l", "r", "r", "r", "r", "r"]),
    "",
    `Kendall τ-b = ${fmtCorr(r.kendallTau)}${ci(r.kendallTauCi)}   Spearman ρ = ${fmtCorr(r.spearmanRho)}   (n = ${r.n}${seeds > 1 ? "; from scratch: the mean over seeds" : ""})`,
    ...(c
      ? [
          `ceiling (τ between two seeds of the same from-scratch training) = ${fmtCorr(c.kendallTau)}${ci(c.ci)}; ` +
            `supernet τ against single seeds ${r.perSeedTau.map(fmtCorr).join(" / ")}` +
            (c.ratio !== null ? `, ${c.ratio.toFixed(2)} × the ceiling (goal ≥ 0.7)` : ""),
        ]
      : []),
    ...(r.kendallTau === null ? [UNDEFINED_NOTE] : []),
    `report: ${report}`,
  ].join("\n")}\n`;
}
