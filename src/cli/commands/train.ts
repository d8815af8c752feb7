/**
 * `psvit train-supernet` and `psvit train`: flags → src/train/run.ts (the training run) → a summary.
 */
import { basename } from "node:path";
import { loadModelConfig, loadSpaceConfig } from "../../config/load.js";
import { UsageError } from "../../errors.js";
import { checkSatisfiable, parseFlopsRange } from "../../space/sample.js";
import type { Constraint } from "../../space/stats.js";
import { type TrainRunOptions, type TrainRunResult, trainModel, trainSupernet } from "../../train/run.js";
import { DEFAULT_SPACE, packagePath } from "../../util/package.js";
import { parseQuantity } from "../../util/units.js";
import { checkResumeFlags, intOption, parseSampling, positiveOption, queueFlags } from "../common.js";
import type { Io } from "../io.js";
import { shellWord, trainSummary } from "../summaries.js";

export interface CommonTrainOptions {
  config?: string;
  data?: string;
  dataDir?: string;
  skipBadImages?: boolean;
  epochs?: string | number;
  batch?: string | number;
  out?: string;
  resume?: boolean;
  force?: boolean;
  seed?: string | number;
  backend?: string;
  /** Evaluate at most this many validation images per path each epoch. */
  evalImages?: string | number;
  /** Batches prepared ahead (0: synchronous). */
  prefetch?: number;
  /** Stop as if interrupted after this many steps (tests, benchmarks; hidden flag --stop-after). */
  stopAfterSteps?: number;
  stopAfter?: string | number;
  /** Tests: log level of the console logger. */
  logLevel?: string;
}

export interface TrainModelOptions extends CommonTrainOptions {
  /** Train on a psvit worker through this BullMQ queue (or PSVIT_QUEUE). */
  queue?: string;
  artifacts?: string;
}

export interface TrainSupernetOptions extends CommonTrainOptions {
  space?: string;
  flopsRange?: string;
  /** uniform (SPOS, default) or fair (choice-balanced). */
  sampling?: string;
}

/** What `train` and `train-supernet` return: the training run's result (with its report's path). */
export type TrainCommandResult = TrainRunResult;

/** The flags that run.json fixes: `--resume` refuses them. */
const RESUME_FIXED = [
  "config",
  "data",
  "dataDir",
  "skipBadImages",
  "epochs",
  "batch",
  "seed",
  "space",
  "flopsRange",
  "sampling",
] as const;

/**
 * The command that continues the run in `out`: --out and --resume, plus only the flags that --resume
 * accepts and that this run was given (not those of RESUME_FIXED, which run.json fixes).
 */
function resumeCommand(
  command: "train" | "train-supernet",
  out: string,
  opts: CommonTrainOptions,
  modelFile?: string,
): string {
  const words = ["psvit", command, ...(modelFile !== undefined ? [modelFile] : []), "--out", out, "--resume"];
  if (opts.backend !== undefined) words.push("--backend", opts.backend);
  if (opts.evalImages !== undefined) words.push("--eval-images", String(opts.evalImages));
  return words.map(shellWord).join(" ");
}

/** The run options from the flags shared by both commands. */
function runOptions(opts: CommonTrainOptions, out: string, hint: string, io: Io): TrainRunOptions {
  return {
    out,
    resume: opts.resume,
    force: opts.force,
    recipeFile: opts.config,
    epochs: positiveOption(opts.epochs, "--epochs"),
    batch: intOption(opts.batch, "--batch"),
    seed: intOption(opts.seed, "--seed", 0),
    data: opts.data,
    dataDir: opts.dataDir,
    skipBadImages: opts.skipBadImages,
    backend: opts.backend,
    evalImages: intOption(opts.evalImages, "--eval-images"),
    prefetch: opts.prefetch,
    stopAfterSteps: opts.stopAfterSteps ?? intOption(opts.stopAfter, "--stop-after"),
    logLevel: opts.logLevel,
    resumeCommand: hint,
    args: Object.fromEntries(Object.entries(opts).filter(([k]) => k !== "stopAfterSteps")),
    tty: io.isTTY && process.stderr.isTTY,
    note: (line) => io.err(line),
  };
}

function resumeOut(opts: CommonTrainOptions): string {
  checkResumeFlags(opts as Record<string, unknown>, RESUME_FIXED, "run.json");
  if (!opts.out) throw new UsageError("--resume needs --out DIR (the run to continue)");
  return opts.out;
}

export async function trainSupernetCommand(opts: TrainSupernetOptions, io: Io): Promise<TrainCommandResult> {
  let result: TrainRunResult;
  if (opts.resume) {
    const out = resumeOut(opts);
    result = await trainSupernet(runOptions(opts, out, resumeCommand("train-supernet", out, opts), io));
  } else {
    const space = loadSpaceConfig(opts.space ?? packagePath(DEFAULT_SPACE));
    let flopsRange: Constraint | null = null;
    if (opts.flopsRange !== undefined) {
      flopsRange = parseFlopsRange(opts.flopsRange, (t) => parseQuantity(t, "--flops-range"));
      checkSatisfiable(space, flopsRange, `--flops-range ${opts.flopsRange}`);
    }
    const sampling = parseSampling(opts.sampling);
    const out = opts.out ?? `runs/${space.name}`;
    const o = runOptions(opts, out, resumeCommand("train-supernet", out, opts), io);
    result = await trainSupernet({ ...o, space, flopsRange, sampling });
  }
  io.out(trainSummary(result));
  return result;
}

export async function trainModelCommand(
  modelFile: string,
  opts: TrainModelOptions,
  io: Io,
): Promise<TrainCommandResult> {
  let result: TrainRunResult;
  const queue = queueFlags(opts, false);
  if (queue) {
    const { trainModelQueued } = await import("../../queue/train.js");
    const model = loadModelConfig(modelFile);
    const out = opts.out ?? `runs/${basename(model.name)}`;
    result = await trainModelQueued({ ...runOptions(opts, out, "", io), model, queue });
  } else if (opts.resume) {
    const out = resumeOut(opts);
    result = await trainModel(runOptions(opts, out, resumeCommand("train", out, opts, modelFile), io));
  } else {
    const model = loadModelConfig(modelFile);
    const out = opts.out ?? `runs/${basename(model.name)}`;
    result = await trainModel({
      ...runOptions(opts, out, resumeCommand("train", out, opts, modelFile), io),
      model,
    });
  }
  io.out(trainSummary(result));
  return result;
}
