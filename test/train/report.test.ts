/**
 * The training report (src/train/report.ts): report.html in a run directory, the loss, learning-rate,
 * gradient-norm and validation curves as inline SVG, rewritten after every epoch and at the end.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { trainModelCommand, trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { parseSpaceConfig } from "../../src/config/validate.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import {
  MAX_CHART_POINTS,
  type MetricRecord,
  parseMetrics,
  trainingReportHtml,
} from "../../src/train/report.js";
import { RunDir } from "../../src/train/rundir.js";
import { ROOT, tempDir } from "../helpers.js";
import { QUIET, TINY_SPACE, tinySetup, tinyTrainOptions } from "./fixtures.js";

/**
 * A failure injected into a supernet training: the step numbered `atStep` throws, after reading what
 * report.html held at that moment (before any error handling could write one).
 */
const failure = vi.hoisted(() => ({
  atStep: null as number | null,
  reportFile: "",
  reportAtFailure: null as string | null,
}));

vi.mock("../../src/train/targets.js", async (importOriginal) => {
  const m = await importOriginal<typeof import("../../src/train/targets.js")>();
  const fs = await import("node:fs");
  return {
    ...m,
    supernetTarget: (...args: Parameters<typeof m.supernetTarget>) => {
      const t = m.supernetTarget(...args);
      if (failure.atStep === null) return t;
      let steps = 0;
      return {
        ...t,
        trainableVariables: (arch: Parameters<typeof t.trainableVariables>[0]) => {
          if (++steps === failure.atStep) {
            failure.reportAtFailure = fs.existsSync(failure.reportFile)
              ? fs.readFileSync(failure.reportFile, "utf8")
              : null;
            throw new Error(`simulated failure at step ${steps}`);
          }
          return t.trainableVariables(arch);
        },
      };
    },
  };
});

let setup: ReturnType<typeof tinySetup>;

beforeAll(async () => {
  setup = tinySetup();
  await tf.setBackend("cpu");
});

const base = (out: string) => tinyTrainOptions(setup, out);

const PATHS = [
  ["smallest", "II-IB", 40_000],
  ["median", "BS-IB", 90_000],
  ["largest", "BB-BB", 150_000],
] as const;

/** A supernet run of `epochs` epochs of 16 steps, logged every 2 steps. */
function syntheticRun(epochs = 3, gradNorm = true): MetricRecord[] {
  const records: MetricRecord[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let s = e * 16 + 2; s <= (e + 1) * 16; s += 2) {
      records.push({
        type: "step",
        step: s,
        epoch: e,
        loss: 1.1 - s / 100,
        lr: 0.003 * Math.cos(s / 60),
        ...(gradNorm ? { grad_norm: 1 + s / 50, data_wait_ms: s % 4 === 0 ? 0 : 3 } : {}),
        images_per_sec: 100,
        arch: "BS-IB",
      });
    }
    records.push({
      type: "eval",
      step: (e + 1) * 16,
      epoch: e,
      split: "val",
      paths: PATHS.map(([label, arch, flops], i) => ({
        label,
        arch,
        flops,
        top1: 0.3 + 0.1 * e + 0.05 * i,
        top5: 0.9,
        loss: 1 - 0.1 * e,
      })),
    });
  }
  return records;
}

/** The SVG under the `<h2>` named `heading`, or undefined. */
function figureAfter(html: string, heading: string): string | undefined {
  const at = html.indexOf(`<h2>${heading}</h2>`);
  if (at < 0) return undefined;
  const next = html.indexOf("<h2>", at + 1);
  const section = html.slice(at, next < 0 ? undefined : next);
  return /<svg[\s\S]*?<\/svg>/.exec(section)?.[0];
}

/** Points drawn in one SVG figure (vega's symbol marks). */
function symbolCount(svg: string): number {
  const groups = [...svg.matchAll(/<g class="mark-symbol role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)];
  return groups.reduce((a, g) => a + (g[1].match(/<path/g) ?? []).length, 0);
}

const readMetrics = (dir: string) => parseMetrics(readFileSync(join(dir, "metrics.jsonl"), "utf8"));

describe("training report page", () => {
  it("draws loss, learning rate, gradient norm and per-path top-1 as inline SVG, without scripts", async () => {
    const records = syntheticRun();
    const html = await trainingReportHtml(records, {
      title: "psvit train-supernet: tiny",
      status: "Finished: 48 steps",
      clipGradNorm: 5,
    });
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("<title>psvit train-supernet: tiny</title>");
    expect(html).toContain("Finished: 48 steps.");
    const loss = figureAfter(html, "Training loss");
    const lr = figureAfter(html, "Learning rate");
    const grad = figureAfter(html, "Gradient norm");
    const top1 = figureAfter(html, "Validation top-1");
    for (const svg of [loss, lr, grad, top1]) expect(svg).toMatch(/^<svg/);
    // one point per logged step (24) and per epoch and path (3 × 3)
    expect(symbolCount(loss!)).toBe(24);
    expect(symbolCount(lr!)).toBe(24);
    expect(symbolCount(grad!)).toBe(24);
    expect(symbolCount(top1!)).toBe(9);
    // the data wait of every logged step, and its median
    const wait = figureAfter(html, "Data wait");
    expect(symbolCount(wait!)).toBe(24);
    expect(wait).toContain("data wait (ms)");
    expect(html).toMatch(/waited for its batch \(median 3\.0 ms/);
    expect(loss).toContain("training loss");
    expect(lr).toContain("learning rate");
    expect(top1).toContain("validation top-1 (%)");
    // the supernet's paths are named on the top-1 chart, in the run's order
    const labels = PATHS.map(([label, arch]) => top1!.indexOf(`${label} (${arch})`));
    for (const at of labels) expect(at).toBeGreaterThan(0);
    expect([...labels].sort((a, b) => a - b)).toEqual(labels);
    // the final per-path table: the last epoch's numbers
    expect(html).toContain("<h2>Validation after epoch 3 (step 48)</h2>");
    expect(html).toContain("<tr><td>largest</td><td>BB-BB</td><td>0.15</td><td>60.00%</td><td>90.00%</td>");
    expect(html).toContain("<tr><td>smallest</td><td>II-IB</td><td>0.04</td><td>50.00%</td>");
  });

  it("leaves out the gradient-norm chart when no step logged one; says what is missing", async () => {
    const html = await trainingReportHtml(syntheticRun(1, false), { title: "t", status: "In progress" });
    expect(figureAfter(html, "Training loss")).toBeDefined();
    expect(html).not.toContain("<h2>Gradient norm</h2>");
    expect(html).not.toContain("<h2>Data wait</h2>");
    const empty = await trainingReportHtml([], { title: "t", status: "Stopped with an error: boom" });
    expect(empty).not.toContain("<svg");
    expect(empty).toContain("No training step logged yet.");
    expect(empty).toContain("No validation yet");
    expect(empty).toContain("Stopped with an error: boom.");
  });

  it("reads a metrics.jsonl cut short, keeps the later record of a step logged twice, thins long runs", async () => {
    const lines = syntheticRun(1).map((r) => JSON.stringify(r));
    // a killed run re-logs steps 10–16 after resuming from step 8; its last line was cut mid-write
    const relog = syntheticRun(1)
      .filter((r) => r.type === "step" && (r.step as number) > 8)
      .map((r) => JSON.stringify({ ...r, loss: 5 }));
    const text = [...lines, ...relog, '{"type":"step","step":18,"lo'].join("\n");
    const records = parseMetrics(text);
    expect(records).toHaveLength(lines.length + relog.length);
    const html = await trainingReportHtml(records, { title: "t", status: "s" });
    expect(symbolCount(figureAfter(html, "Training loss")!)).toBe(8);
    expect(html).toContain("8 logged steps, up to step 16");
    expect(figureAfter(html, "Training loss")).toContain(">5<"); // the re-logged loss (y-axis up to 5)

    const long: MetricRecord[] = Array.from({ length: 3 * MAX_CHART_POINTS + 1 }, (_, i) => ({
      type: "step",
      step: i + 1,
      epoch: 0,
      loss: 1,
      lr: 1e-3,
    }));
    const thin = await trainingReportHtml(long, { title: "t", status: "s" });
    expect(thin).toContain("Each point is the mean of 4 consecutive logged steps.");
    expect(thin).toContain(`${3 * MAX_CHART_POINTS + 1} logged steps`);
  });

  it("the report module does not load TensorFlow.js (its imports, followed through src/)", () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        const spec = m[1];
        expect(spec.startsWith("@tensorflow/"), `${file} imports ${spec}`).toBe(false);
        if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      }
    };
    visit(join(ROOT, "src/train/report.ts"));
    expect(seen.has(join(ROOT, "src/report/html.ts"))).toBe(true);
  });
});

describe("train and train-supernet write report.html beside the run", () => {
  it("train-supernet: report.html in the run directory, with the three paths; the command prints its path", async () => {
    const out = join(tempDir(), "run");
    const io = captureIo();
    await trainSupernetCommand(base(out), io);
    const file = join(out, "report.html");
    expect(existsSync(file)).toBe(true);
    expect(io.stdout.join("")).toContain(`\nreport: ${file}\n`);
    const html = readFileSync(file, "utf8");
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("<title>psvit train-supernet: tiny</title>");
    expect(html).toMatch(/Finished: 16 steps in /);
    const top1 = figureAfter(html, "Validation top-1")!;
    const snap = RunDir.existing(out).readJson<any>("run.json");
    for (const p of snap.evalPaths) expect(top1).toContain(`${p.label} (${p.arch})`);
    expect(symbolCount(top1)).toBe(2 * 3); // 2 epochs × 3 paths
    const steps = readMetrics(out).filter((r) => r.type === "step");
    expect(symbolCount(figureAfter(html, "Training loss")!)).toBe(steps.length);
    expect(figureAfter(html, "Gradient norm")).toBeDefined();
    // the table holds the numbers the run ended with
    for (const e of snap.finished.last_eval) {
      expect(html).toContain(`<tr><td>${e.label}</td><td>${e.arch}</td>`);
      expect(html).toContain(`<td>${(e.top1 * 100).toFixed(2)}%</td>`);
    }
  });

  it("train: a fixed model's report has its one validation line and prints its path", async () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const model = materialize(space, parseArch("SB-BI"));
    const file = join(tempDir(), "m.json");
    writeFileSync(file, JSON.stringify(model));
    const out = join(tempDir(), "m");
    const io = captureIo();
    await trainModelCommand(file, { ...QUIET, config: setup.recipe, data: setup.data, out, epochs: 1 }, io);
    const report = join(out, "report.html");
    expect(io.stdout.join("")).toContain(`\nreport: ${report}\n`);
    const html = readFileSync(report, "utf8");
    expect(html).toContain(`<title>psvit train: ${model.name}</title>`);
    const top1 = figureAfter(html, "Validation top-1")!;
    expect(top1).toContain(">model<");
    expect(symbolCount(top1)).toBe(1);
    expect(html).toContain("<h2>Validation after epoch 1 (step 8)</h2>");
    expect(html).toContain("<tr><td>model</td><td>—</td>");
  });

  it("a run that fails in its second epoch already had the first epoch's report, then says why it stopped", async () => {
    const out = join(tempDir(), "fails");
    failure.atStep = 10; // 8 steps per epoch: the second step of epoch 2
    failure.reportFile = join(out, "report.html");
    failure.reportAtFailure = null;
    const io = captureIo();
    try {
      const err = await trainSupernetCommand(base(out), io).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe("simulated failure at step 10");
    } finally {
      failure.atStep = null;
    }
    // written after epoch 1, before the failure: a run killed outright would have this one
    const during = failure.reportAtFailure;
    expect(during).not.toBeNull();
    expect(during).toContain("In progress: epoch 1 of 2 validated (step 8 of 16)");
    expect(symbolCount(figureAfter(during!, "Validation top-1")!)).toBe(3);
    expect(during).toContain("<h2>Validation after epoch 1 (step 8)</h2>");
    // and rewritten as the error went by
    const after = readFileSync(failure.reportFile, "utf8");
    expect(after).toContain("Stopped with an error: simulated failure at step 10.");
    expect(after).toContain("<h2>Validation after epoch 1 (step 8)</h2>");
    for (const label of ["smallest", "median", "largest"]) expect(after).toContain(`<td>${label}</td>`);
    expect(io.stderr.join("")).toContain(`report (so far): ${failure.reportFile}`);
    expect(io.stdout.join("")).toBe("");
  });
});

/** A tiny pipeline run on the cpu backend, logs silenced. */
async function tinyPipeline(out: string, extra: Record<string, unknown>, io = captureIo()) {
  const { pipelineCommand } = await import("../../src/cli/commands/pipeline.js");
  const level = process.env.PSVIT_LOG_LEVEL;
  process.env.PSVIT_LOG_LEVEL = "silent";
  try {
    return await pipelineCommand(
      {
        out,
        space: setup.space,
        config: setup.recipe,
        data: setup.data,
        epochs: 1,
        flops: "120K",
        population: 12,
        generations: 1,
        workers: 0,
        seed: 1,
        backend: "cpu",
        ...extra,
      },
      io,
    );
  } finally {
    if (level === undefined) delete process.env.PSVIT_LOG_LEVEL;
    else process.env.PSVIT_LOG_LEVEL = level;
  }
}

describe("psvit pipeline", () => {
  it("ends by naming the reports it wrote: supernet training, search, export summary", async () => {
    const out = join(tempDir(), "pipe");
    const io = captureIo();
    const r = await tinyPipeline(out, { valImages: 8 }, io);
    const training = join(out, "report.html");
    const search = join(out, "search-evolution", "report.html");
    expect(r.reports.map(([what]) => what)).toEqual([
      "supernet training report",
      "search report",
      "export summary",
    ]);
    expect(r.reports.map(([, f]) => f)).toEqual([training, search, r.export.summary]);
    for (const [, f] of r.reports) expect(existsSync(f)).toBe(true);
    const printed = io.stdout.join("").trimEnd().split("\n");
    const tail = printed.slice(-3).map((l) => l.replace(/ +/g, " "));
    expect(tail).toEqual([
      ` supernet training report: ${training}`,
      ` search report: ${search}`,
      ` export summary: ${r.export.summary}`,
    ]);
    expect(printed.at(-4)).toMatch(/^pipeline finished in .*: .*\.model\.json$/);
  });
});

describe("psvit pipeline's defaults", () => {
  it("trains only the supernet paths within the budget and scores candidates on every validation image", async () => {
    const { archCost } = await import("../../src/space/sample.js");
    const out = join(tempDir(), "pipe-defaults");
    await tinyPipeline(out, {});
    const run = JSON.parse(readFileSync(join(out, "run.json"), "utf8"));
    expect(run.flopsRange).toEqual({ maxFlops: 120_000 });
    const space = parseSpaceConfig(JSON.parse(readFileSync(setup.space, "utf8")));
    const sampled = readFileSync(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === "step");
    expect(sampled.length).toBeGreaterThan(0);
    for (const m of sampled) expect(archCost(space, parseArch(m.arch)).flops).toBeLessThanOrEqual(120_000);
    const search = JSON.parse(readFileSync(join(out, "search-evolution", "search.json"), "utf8"));
    expect(search.valImages).toBe(-1); // every image of the validation split
  });
});
