/**
 * `psvit bench <model.json | space.json --arch S> [--batch 64] [--steps N] [--warmup N]
 * [--backend auto|tensorflow|webgpu|wasm|cpu] [--threads N] [--json]`: median training-step (forward, backward,
 * AdamW) and forward throughput of a freshly initialised model on random data, and the process's peak
 * RSS. With --json the last line of stdout is {"backend", "train_img_s", "fwd_img_s", "peak_rss_mb"}.
 */

import { modelFromFile } from "../../config/model-file.js";
import { initBackend } from "../../engine/backend.js";
import { benchmarkModel } from "../../engine/benchmark.js";
import { UsageError } from "../../errors.js";
import { countModel } from "../../flops/count.js";
import { HvtModel } from "../../model/hvt.js";
import { human } from "../../util/units.js";
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
