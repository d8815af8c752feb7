/**
 * The training report: `report.html` in a run directory, drawn from the run's `metrics.jsonl` the way
 * the search report is drawn (vega-lite specs rendered to SVG here, one self-contained HTML page, no
 * scripts): training loss, learning rate and gradient norm per logged step, validation top-1 per epoch
 * (one line per evaluated path: smallest / median / largest of a supernet, "model" for a fixed model)
 * and a table of the last validation. `train` and `train-supernet` rewrite it after every epoch and at
 * the end, so an interrupted or failed run still has one.
 *
 * No TensorFlow.js here: the page is built from the metrics records alone.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as vl from "vega-lite";
import { htmlReport, type ReportSection, renderSvg } from "../report/html.js";
import { writeFileAtomic } from "../util/fs.js";

export const REPORT_FILE = "report.html";

/** A `{type: "step"}` line of metrics.jsonl. */
export interface StepMetric {
  type: "step";
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm?: number;
  images_per_sec?: number;
  /** Milliseconds the step waited for its batch. */
  data_wait_ms?: number;
  arch?: string | null;
}

/** One path of a `{type: "eval"}` line. */
export interface EvalPathMetric {
  label: string;
  arch: string | null;
  flops: number;
  top1: number;
  top5: number;
  loss: number;
}

/** A `{type: "eval"}` line of metrics.jsonl: validation after an epoch. */
export interface EvalMetric {
  type: "eval";
  step: number;
  epoch: number;
  paths: EvalPathMetric[];
}

/** A `{type: "nonfinite"}` line: the step that stopped the run before its update. */
export interface NonFiniteMetric {
  type: "nonfinite";
  step: number;
  loss: string;
  grad_norm: string;
  arch?: string | null;
}

export type MetricRecord = StepMetric | EvalMetric | NonFiniteMetric | { type: string; [k: string]: unknown };

export interface TrainingReportInfo {
  /** The page's title, e.g. "psvit train-supernet: fmnist-2d". */
  title: string;
  /** Where the run stands: "finished …", "in progress …", "stopped …". */
  status: string;
  /** The recipe's clipping threshold, drawn on the gradient-norm chart. */
  clipGradNorm?: number | null;
}

/** Most points a per-step chart draws; longer runs are shown as means of consecutive logged steps. */
export const MAX_CHART_POINTS = 2000;

/**
 * The records of a metrics.jsonl text. Lines that do not parse (a line cut short by a crash) are
 * skipped.
 */
export function parseMetrics(text: string): MetricRecord[] {
  const out: MetricRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line);
      if (r !== null && typeof r === "object" && typeof r.type === "string") out.push(r);
    } catch {
      // a partial last line
    }
  }
  return out;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * One record per step, sorted by step; a step logged twice (a run killed after logging it and resumed
 * from an earlier checkpoint) keeps its later record.
 */
function byStep<T extends { step: number }>(records: T[]): T[] {
  const m = new Map<number, T>();
  for (const r of records) m.set(r.step, r);
  return [...m.values()].sort((a, b) => a.step - b.step);
}

export function stepRecords(records: MetricRecord[]): StepMetric[] {
  return byStep(
    records.filter(
      (r): r is StepMetric => r.type === "step" && isNum(r.step) && isNum(r.loss) && isNum(r.lr),
    ),
  );
}

export function evalRecords(records: MetricRecord[]): EvalMetric[] {
  return byStep(
    records.filter(
      (r): r is EvalMetric => r.type === "eval" && isNum(r.step) && isNum(r.epoch) && Array.isArray(r.paths),
    ),
  );
}

interface StepRow {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number | null;
  data_wait_ms: number | null;
}

/** At most `max` rows: consecutive records averaged in equal groups (the last step of a group names it). */
export function downsample(steps: StepMetric[], max = MAX_CHART_POINTS): { rows: StepRow[]; group: number } {
  const group = Math.max(1, Math.ceil(steps.length / max));
  const rows: StepRow[] = [];
  for (let i = 0; i < steps.length; i += group) {
    const g = steps.slice(i, i + group);
    const mean = (f: (s: StepMetric) => number) => g.reduce((a, s) => a + f(s), 0) / g.length;
    const norms = g.filter((s) => isNum(s.grad_norm));
    const waits = g.filter((s) => isNum(s.data_wait_ms));
    rows.push({
      step: g[g.length - 1].step,
      loss: mean((s) => s.loss),
      lr: mean((s) => s.lr),
      grad_norm:
        norms.length === 0 ? null : norms.reduce((a, s) => a + (s.grad_norm as number), 0) / norms.length,
      data_wait_ms:
        waits.length === 0 ? null : waits.reduce((a, s) => a + (s.data_wait_ms as number), 0) / waits.length,
    });
  }
  return { rows, group };
}

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const stepAxis = { field: "step", type: "quantitative", title: "step", axis: { tickMinStep: 1 } } as const;

function stoppedRules(stops: NonFiniteMetric[]) {
  return stops.length === 0
    ? []
    : [
        {
          data: { values: stops.map((s) => ({ step: s.step })) },
          mark: { type: "rule" as const, color: "#d62728", strokeDash: [4, 4] },
          encoding: { x: { field: "step", type: "quantitative" as const } },
        },
      ];
}

export function lossSpec(rows: StepRow[], stops: NonFiniteMetric[] = []): vl.TopLevelSpec {
  return {
    $schema: SCHEMA,
    width: 560,
    height: 260,
    layer: [
      {
        data: { values: rows.map((r) => ({ step: r.step, loss: r.loss })) },
        mark: { type: "line", point: rows.length <= 60 && { color: "#1f77b4" }, color: "#1f77b4" },
        encoding: {
          x: stepAxis,
          y: { field: "loss", type: "quantitative", title: "training loss", scale: { zero: false } },
        },
      },
      ...stoppedRules(stops),
    ],
  };
}

export function lrSpec(rows: StepRow[]): vl.TopLevelSpec {
  return {
    $schema: SCHEMA,
    width: 560,
    height: 200,
    data: { values: rows.map((r) => ({ step: r.step, lr: r.lr })) },
    mark: { type: "line", point: rows.length <= 60 && { color: "#2ca02c" }, color: "#2ca02c" },
    encoding: {
      x: stepAxis,
      y: { field: "lr", type: "quantitative", title: "learning rate", axis: { format: "~g" } },
    },
  };
}

export function gradNormSpec(rows: StepRow[], clip: number | null | undefined): vl.TopLevelSpec {
  const values = rows
    .filter((r) => r.grad_norm !== null)
    .map((r) => ({ step: r.step, grad_norm: r.grad_norm }));
  return {
    $schema: SCHEMA,
    width: 560,
    height: 200,
    layer: [
      {
        data: { values },
        mark: { type: "line", point: values.length <= 60 && { color: "#9467bd" }, color: "#9467bd" },
        encoding: {
          x: stepAxis,
          y: { field: "grad_norm", type: "quantitative", title: "gradient norm (before clipping)" },
        },
      },
      ...(isNum(clip)
        ? [
            {
              data: { values: [{ clip }] },
              mark: { type: "rule" as const, color: "#555", strokeDash: [4, 4] },
              encoding: { y: { field: "clip", type: "quantitative" as const } },
            },
          ]
        : []),
    ],
  };
}

/** Milliseconds each logged step waited for its batch (0: the loader kept up). */
export function dataWaitSpec(rows: StepRow[]): vl.TopLevelSpec {
  const values = rows
    .filter((r) => r.data_wait_ms !== null)
    .map((r) => ({ step: r.step, wait: r.data_wait_ms }));
  return {
    $schema: SCHEMA,
    width: 560,
    height: 160,
    data: { values },
    mark: { type: "line", point: values.length <= 60 && { color: "#8c564b" }, color: "#8c564b" },
    encoding: {
      x: stepAxis,
      y: { field: "wait", type: "quantitative", title: "data wait (ms)" },
    },
  };
}

/** Validation top-1 per epoch, one labelled line per evaluated path (in the order the run lists them). */
export function top1Spec(evals: EvalMetric[]): vl.TopLevelSpec {
  const labels: string[] = [];
  for (const e of evals) for (const p of e.paths) if (!labels.includes(p.label)) labels.push(p.label);
  const rows = evals.flatMap((e) =>
    e.paths.map((p) => ({
      epoch: e.epoch + 1,
      step: e.step,
      path: p.arch ? `${p.label} (${p.arch})` : p.label,
      label: p.label,
      top1: p.top1 * 100,
    })),
  );
  const legend = labels.map((l) => rows.find((r) => r.label === l)!.path);
  const x = {
    field: "epoch",
    type: "quantitative",
    title: "epoch",
    axis: { tickMinStep: 1, format: "d" },
  } as const;
  const y = {
    field: "top1",
    type: "quantitative",
    title: "validation top-1 (%)",
    scale: { zero: false },
  } as const;
  return {
    $schema: SCHEMA,
    width: 560,
    height: 260,
    data: { values: rows },
    mark: { type: "line", point: { filled: true, size: 50 } },
    encoding: {
      x,
      y,
      color: { field: "path", type: "nominal", title: "path", scale: { domain: legend }, sort: legend },
    },
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The report page for a run's metrics records. Pure: nothing is read or written. */
export async function trainingReportHtml(records: MetricRecord[], info: TrainingReportInfo): Promise<string> {
  const steps = stepRecords(records);
  const evals = evalRecords(records);
  const stops = records.filter((r): r is NonFiniteMetric => r.type === "nonfinite" && isNum(r.step));
  const { rows, group } = downsample(steps);
  const averaged = group > 1 ? ` Each point is the mean of ${group} consecutive logged steps.` : "";
  const last = evals.at(-1);

  const summary = [
    `${info.status}.`,
    steps.length === 0
      ? "No training step logged yet."
      : `${steps.length} logged steps, up to step ${steps.at(-1)!.step} (epoch ${steps.at(-1)!.epoch + 1}).`,
    evals.length === 0
      ? "No validation yet."
      : `Validated after ${evals.length} epoch(s)${last ? `, last after step ${last.step}` : ""}.`,
    ...stops.map(
      (s) =>
        `Stopped at step ${s.step} before its update: loss ${s.loss}, gradient norm ${s.grad_norm}${s.arch ? ` (path ${s.arch})` : ""}.`,
    ),
  ].join(" ");
  const sections: ReportSection[] = [{ heading: "Summary", text: summary }];

  if (rows.length === 0) {
    sections.push({ heading: "Training loss", text: "No training step logged yet." });
  } else {
    const supernet = steps.some((s) => typeof s.arch === "string");
    sections.push({
      heading: "Training loss",
      text: `Loss of every logged step (label-smoothed cross-entropy on the training batch${supernet ? ", along the path that step sampled" : ""}).${averaged}${stops.length ? " The dashed red line marks the step that stopped the run." : ""}`,
      svg: await renderSvg(lossSpec(rows, stops)),
    });
    sections.push({
      heading: "Learning rate",
      text: `Learning rate of every logged step.${averaged}`,
      svg: await renderSvg(lrSpec(rows)),
    });
    if (rows.some((r) => r.grad_norm !== null)) {
      sections.push({
        heading: "Gradient norm",
        text: `Global gradient norm of every logged step, before clipping${isNum(info.clipGradNorm) ? ` (the dashed line: clipped to ${info.clipGradNorm})` : ""}.${averaged}`,
        svg: await renderSvg(gradNormSpec(rows, info.clipGradNorm)),
      });
    }
    if (rows.some((r) => r.data_wait_ms !== null)) {
      const waits = steps.filter((s) => isNum(s.data_wait_ms)).map((s) => s.data_wait_ms as number);
      const sorted = [...waits].sort((a, b) => a - b);
      const med = sorted[Math.floor(sorted.length / 2)];
      sections.push({
        heading: "Data wait",
        text: `Milliseconds each logged step waited for its batch (median ${med.toFixed(1)} ms; 0 when the loader keeps ahead of the model).${averaged}`,
        svg: await renderSvg(dataWaitSpec(rows)),
      });
    }
  }

  if (evals.length === 0) {
    sections.push({ heading: "Validation top-1", text: "No validation yet: it runs after every epoch." });
  } else {
    const labels = [...new Set(evals.flatMap((e) => e.paths.map((p) => p.label)))];
    sections.push({
      heading: "Validation top-1",
      text: `Top-1 on the validation split after every epoch, per evaluated path: ${labels.join(", ")}.`,
      svg: await renderSvg(top1Spec(evals)),
    });
    sections.push({
      heading: `Validation after epoch ${last!.epoch + 1} (step ${last!.step})`,
      table: {
        head: ["path", "architecture", "MFLOPs", "val top-1", "val top-5", "val loss"],
        rows: last!.paths.map((p) => [
          p.label,
          p.arch ?? "—",
          (p.flops / 1e6).toFixed(2),
          pct(p.top1),
          pct(p.top5),
          p.loss.toFixed(4),
        ]),
      },
    });
  }
  return htmlReport(info.title, sections);
}

/**
 * Rebuild `report.html` in run directory `dir` from its metrics.jsonl (written to a temporary file and
 * renamed). Returns the report's path.
 */
export async function writeTrainingReport(dir: string, info: TrainingReportInfo): Promise<string> {
  const metrics = join(dir, "metrics.jsonl");
  const records = existsSync(metrics) ? parseMetrics(readFileSync(metrics, "utf8")) : [];
  const html = await trainingReportHtml(records, info);
  const file = join(dir, REPORT_FILE);
  await writeFileAtomic(file, new TextEncoder().encode(html));
  return file;
}
