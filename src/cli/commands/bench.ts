/**
 * `psvit bench <model.json | space.json --arch S> [--batch 64] [--steps N] [--warmup N]
 * [--backend auto|tensorflow|webgpu|wasm|cpu] [--threads N] [--json]`: median training-step (forward, backward,
 * AdamW) and forward throughput of a freshly initialised model on random data, and the process's peak
 * RSS. With --json the last line of stdout is {"backend", "train_img_s", "fwd_img_s", "peak_rss_mb"}.
 * With --latency [--weights W] [--runs N]: batch-1 latency on psvit, onnxruntime-node and onnxruntime-web
 * (src/onnx/latency.ts).
 */

import { modelFromFile } from "../../config/model-file.js";
import type { ModelConfig } from "../../config/schema.js";
import { initBackend } from "../../engine/backend.js";
import { benchmarkModel } from "../../engine/benchmark.js";
import { UsageError } from "../../errors.js";
import { countModel } from "../../flops/count.js";
import { HvtModel } from "../../model/hvt.js";
import { human } from "../../util/units.js";
import { loadModelWeights } from "../../weights/io.js";
import { type Io, table } from "../io.js";

export interface BenchCommandOptions {
  arch?: string;
  batch?: number | string;
  steps?: number | string;
  warmup?: number | string;
  backend?: string;
  /** wasm threads (default PSVIT_WASM_THREADS or 1). */
  threads?: number | string;
  json?: boolean;
  /** Instead: batch-1 latency of the deployed model on psvit, onnxruntime-node and onnxruntime-web. */
  latency?: boolean;
  /** With --latency: the model's weights (default: a fresh initialisation; latency does not depend on them). */
  weights?: string;
  /** With --latency: timed calls per runtime (default 100). */
  runs?: number | string;
}

function intOption(value: number | string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export async function benchCommand(file: string, opts: BenchCommandOptions, io: Io): Promise<void> {
  const cfg = modelFromFile(file, opts.arch);
  const batch = intOption(opts.batch, "--batch", 64);
  const steps = intOption(opts.steps, "--steps", 10);
  const warmup = intOption(opts.warmup, "--warmup", 2, 0);
  const threads = opts.threads === undefined ? undefined : intOption(opts.threads, "--threads", 1);
  const backend = await initBackend(opts.backend ?? process.env.PSVIT_BACKEND ?? "auto", { threads });
  if (opts.latency) return latencyBench(cfg, opts, backend, threads ?? backend.threads ?? 1, warmup, io);
  if (opts.weights !== undefined || opts.runs !== undefined)
    throw new UsageError("--weights and --runs go with --latency");

  const model = HvtModel.create(cfg, { seed: 0 });
  let r: Awaited<ReturnType<typeof benchmarkModel>>;
  try {
    r = await benchmarkModel(model, {
      batch,
      steps,
      warmup,
      image: [cfg.image.size, cfg.image.size, cfg.image.channels],
      numClasses: cfg.numClasses,
    });
  } finally {
    model.dispose();
  }
  if (opts.json) {
    io.out(
      JSON.stringify({
        backend: backend.name,
        train_img_s: round(r.trainImgS, 1),
        fwd_img_s: round(r.forwardImgS, 1),
        peak_rss_mb: round(r.peakRssMb, 0),
      }),
    );
    return;
  }
  const cost = countModel(cfg);
  const threadText = backend.threads !== undefined ? `, ${backend.threads} thread(s)` : "";
  io.out(
    `${cfg.name}: ${human(cost.flops)} FLOPs, ${human(cost.params, 4)} params; batch ${batch}, ` +
      `backend ${backend.name}${threadText}; medians of ${steps} after ${warmup} warm-up\n`,
  );
  io.out(
    table(
      [
        ["", "ms/step", "img/s"],
        ["train (fwd+bwd+AdamW)", r.trainMedianMs.toFixed(1), r.trainImgS.toFixed(1)],
        ["forward", r.forwardMedianMs.toFixed(1), r.forwardImgS.toFixed(1)],
      ],
      ["l", "r", "r"],
    ),
  );
  io.out(`\npeak RSS ${r.peakRssMb.toFixed(0)} MB\n`);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function latencyBench(
  cfg: ModelConfig,
  opts: BenchCommandOptions,
  backend: { name: string; threads?: number },
  threads: number,
  warmup: number,
  io: Io,
): Promise<void> {
  const runs = intOption(opts.runs, "--runs", 100);
  const { measureLatency } = await import("../../onnx/latency.js");
  const model = opts.weights
    ? (await loadModelWeights(opts.weights, cfg)).model
    : HvtModel.create(cfg, { seed: 0 });
  let rows: Awaited<ReturnType<typeof measureLatency>>;
  try {
    rows = await measureLatency(model, { runs, warmup: Math.max(warmup, 5), threads, psvit: backend });
  } finally {
    model.dispose();
  }
  if (opts.json) {
    io.out(
      JSON.stringify({
        latency: rows.map((r) => ({
          runtime: r.runtime,
          threads: r.threads,
          runs: r.runs,
          median_ms: round(r.medianMs, 3),
          p10_ms: round(r.p10Ms, 3),
          p90_ms: round(r.p90Ms, 3),
        })),
      }),
    );
    return;
  }
  const cost = countModel(cfg);
  io.out(
    `${cfg.name}: ${human(cost.flops)} FLOPs, ${human(cost.params, 4)} params; batch 1, uint8 pixels in, logits out; ` +
      `medians of ${runs} calls per runtime, taking turns\n`,
  );
  const base = rows[0]?.medianMs;
  io.out(
    table(
      [
        ["runtime", "threads", "median ms", "p10–p90 ms", "img/s", "vs psvit"],
        ...rows.map((r) =>
          r.runs === 0
            ? [r.runtime, "", "", "", "", ""]
            : [
                r.runtime,
                String(r.threads),
                r.medianMs.toFixed(2),
                `${r.p10Ms.toFixed(2)}–${r.p90Ms.toFixed(2)}`,
                (1000 / r.medianMs).toFixed(0),
                `${(base / r.medianMs).toFixed(2)}×`,
              ],
        ),
      ],
      ["l", "r", "r", "r", "r", "r"],
    ),
  );
}
