/**
 * `psvit eval <model.json> --weights W [--data …] [--split val|test] [--json]`: top-1, top-5 and loss of
 * a trained model on a split of its data. Images are normalised with the config's `preprocess` (exported
 * and trained configs carry it); a config without one is evaluated on raw [0, 1] pixels, as it says.
 */
import { loadModelConfig } from "../../config/load.js";
import { resolveData } from "../../data/resolve.js";
import { startBackend } from "../../engine/start.js";
import { DataError, UsageError } from "../../errors.js";
import { log } from "../../util/log.js";
import { intOption } from "../common.js";
import type { Io } from "../io.js";

export interface EvalOptions {
  weights: string;
  data?: string;
  dataDir?: string;
  skipBadImages?: boolean;
  split?: string;
  seed?: string | number;
  batch?: string | number;
  limit?: string | number;
  backend?: string;
  json?: boolean;
}

export async function evalCommand(modelFile: string, opts: EvalOptions, io: Io): Promise<void> {
  const split = opts.split ?? "val";
  if (split !== "val" && split !== "test")
    throw new UsageError(`--split: expected val or test, got ${JSON.stringify(split)}`);
  const config = loadModelConfig(modelFile);
  const seed = intOption(opts.seed, "--seed", 0) ?? 0;
  const data = await resolveData(opts.data, {
    dataDir: opts.dataDir,
    seed,
    imageSize: config.image.size,
    channels: config.image.channels,
    includeTest: split === "test",
    skipBadImages: opts.skipBadImages,
  });
  const ds = split === "test" ? data.test : data.val;
  if (!ds) throw new DataError(`the data (${data.info.spec}) has no test split`);
  if (data.info.numClasses !== config.numClasses) {
    throw new UsageError(
      `the data has ${data.info.numClasses} classes but the model has ${config.numClasses}`,
    );
  }
  const backend = await startBackend(opts.backend);
  const { loadModelWeights } = await import("../../weights/io.js");
  const { evaluate } = await import("../../train/evaluate.js");
  const { model } = await loadModelWeights(opts.weights, config);
  const pre = config.preprocess ?? {
    mean: Array(config.image.channels).fill(0),
    std: Array(config.image.channels).fill(1),
  };
  if (!config.preprocess)
    log().warn(`${modelFile} has no preprocess: evaluating on pixels scaled to [0, 1] only`);
  try {
    const r = await evaluate(
      (x) => model.forward(x),
      ds,
      pre,
      intOption(opts.batch, "--batch") ?? 256,
      intOption(opts.limit, "--limit"),
      { skipBadImages: opts.skipBadImages },
    );
    if (opts.json) {
      io.out(
        JSON.stringify({
          model: config.name,
          split,
          n: r.n,
          top1: r.top1,
          top5: r.top5,
          loss: r.loss,
          backend: backend.name,
        }),
      );
    } else {
      io.out(
        `${config.name} on ${data.info.spec} ${split} (${r.n} images): top-1 ${(r.top1 * 100).toFixed(2)}%, top-5 ${(r.top5 * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}`,
      );
    }
  } finally {
    model.dispose();
  }
}
