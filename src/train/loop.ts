/**
 * The training loop shared by `train-supernet` (single-path one-shot: every step samples one
 * architecture and trains only its path) and `train` (a fixed model).
 *
 * Per step: next batch (prepared ahead by the data stream) → sample a path → forward/backward through
 * that path only → clip by global norm → AdamW on that path's variables (unsampled choices get no decay
 * and no moment update) → log. Per epoch: evaluate fixed paths on the validation split, checkpoint.
 * Checkpoints carry weights, optimizer state, data position and RNG state, so a resumed run continues
 * bit for bit on the same backend.
 */
import * as tf from "@tensorflow/tfjs";
import type { Recipe } from "../config/recipe.js";
import { BatchStream, type BatchStreamState } from "../data/batch.js";
import { FolderBatchStream, type FolderStreamState } from "../data/stream/folder-stream.js";
import { type AugmentOptions, isStreamed, type Preprocess, type Split } from "../data/types.js";
import { AdamW, clipGradNorm, defaultDecayMask, globalGradNorm, nonFiniteGrads } from "../engine/adamw.js";
import { InterruptedError, PsvitError, UsageError } from "../errors.js";
import { type Arch, formatArch } from "../space/arch.js";
import type { PathSampler } from "../space/sample.js";
import type { Logger } from "../util/log.js";
import { Rng } from "../util/rng.js";
import type { StopFlag } from "../util/signals.js";
import {
  type Checkpoint,
  type CheckpointMeta,
  optimizerFromCheckpoint,
  optimizerToCheckpoint,
  saveCheckpoint,
} from "./checkpoint.js";
import { evaluateAll } from "./evaluate.js";
import { crossEntropy, softCrossEntropy } from "./loss.js";
import type { EvalPathMetric } from "./report.js";
import type { RunDir } from "./rundir.js";
import { type CosineSchedule, lrAt } from "./schedule.js";

/** What the loop trains: a supernet (forward along an arch) or a model (arch is null). */
export interface Trainable {
  kind: "supernet" | "model";
  /** The space (supernet) or model config, recorded in checkpoints. */
  config: unknown;
  forward(x: tf.Tensor4D, arch: Arch | null): tf.Tensor2D;
  /** Variables a step along `arch` trains, by psvit name. */
  trainableVariables(arch: Arch | null): Map<string, tf.Variable>;
  /** Every variable, by psvit name (checkpoints). */
  allVariables(): Map<string, tf.Variable>;
}

/** A path evaluated on the validation split after every epoch. */
export interface EvalPath {
  label: string;
  arch: Arch | null;
  flops: number;
}

export interface TrainData {
  /** In memory, or streamed from an image folder (src/data/stream). */
  train: Split;
  val: Split;
  preprocess: Preprocess;
  augment: AugmentOptions;
  /** Streamed folders: leave unreadable images out of their batch (counted) instead of stopping. */
  skipBadImages?: boolean;
}

/** The training stream of `data`: the in-memory BatchStream, or a folder stream. */
function trainStream(
  data: TrainData,
  o: { batchSize: number; seed: number; prefetch: number; resume?: CheckpointMeta["stream"] },
) {
  const { augment } = data;
  if (!isStreamed(data.train)) {
    if (augment.randomResizedCrop)
      throw new UsageError(
        "the recipe's augment.randomResizedCrop applies to image folders (--data folder:DIR); for this data use cropPadding and flipProb",
      );
    if (o.resume && o.resume.kind !== "psvit.batch-stream")
      throw new UsageError("cannot resume: the checkpoint was written by a run on an image folder");
    return new BatchStream(data.train, {
      batchSize: o.batchSize,
      seed: o.seed,
      preprocess: data.preprocess,
      augment,
      dropLast: true,
      prefetch: o.prefetch,
      ...(o.resume ? { resume: o.resume as BatchStreamState } : {}),
    });
  }
  if (augment.cropPadding > 0)
    throw new UsageError(
      "augment.cropPadding applies to in-memory data; an image folder is cropped by augment.randomResizedCrop",
    );
  if (o.resume && o.resume.kind !== "psvit.folder-stream")
    throw new UsageError("cannot resume: the checkpoint was not written by a run on an image folder");
  const train = data.train;
  const rrc = augment.randomResizedCrop;
  return new FolderBatchStream(train.index, {
    batchSize: o.batchSize,
    seed: o.seed,
    size: train.height,
    channels: train.channels,
    preprocess: data.preprocess,
    shuffle: true,
    crop: rrc ? { ...rrc, flipProb: augment.flipProb } : null,
    flipProb: augment.flipProb,
    subset: train.entries,
    dropLast: true,
    prefetch: Math.max(1, o.prefetch),
    skipBadImages: data.skipBadImages,
    ...(o.resume ? { resume: o.resume as FolderStreamState } : {}),
  });
}

export type { StopFlag } from "../util/signals.js";

export interface LoopOptions {
  target: Trainable;
  /** Draws the path of a step (supernet). */
  sampler?: PathSampler;
  evalPaths: EvalPath[];
  data: TrainData;
  recipe: Recipe;
  seed: number;
  run: RunDir;
  logger: Logger;
  /** Continue from this checkpoint. */
  resume?: Checkpoint;
  stop?: StopFlag;
  /** Called after every step (progress bars). */
  onStep?: (p: StepProgress) => void;
  /** Stop as if interrupted after this many steps of this process (tests). */
  stopAfterSteps?: number;
  /** The command that continues this run, named in the message of an interruption. */
  resumeCommand?: string;
  /** Batches prepared ahead (0: synchronous). */
  prefetch?: number;
  /** Evaluate at most this many validation images per path (default all). */
  evalImages?: number;
  /** Called after every epoch's validation, once it is in metrics.jsonl (the training report). */
  onEpoch?: (e: {
    step: number;
    totalSteps: number;
    epoch: number;
    evals: EvalRecord[];
  }) => void | Promise<void>;
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
}

export interface TrainResult {
  steps: number;
  /** Median images/s of the training steps of this process (data wait included). */
  imagesPerSec: number;
  /** Median milliseconds per step spent waiting for data. */
  dataWaitMs: number;
  lastEval: EvalRecord[] | null;
  /** Image folders with skipBadImages: the unreadable files left out of training batches. */
  skippedImages?: { count: number; first?: string };
}

/** One evaluated path of an epoch (a `{type: "eval"}` line of metrics.jsonl holds a list of them). */
export type EvalRecord = EvalPathMetric;

export class NonFiniteLossError extends PsvitError {}

/** The recipe's AdamW, decaying the default mask (weight matrices only). */
export function optimizerFor(recipe: Recipe): AdamW {
  return new AdamW({
    beta1: recipe.optimizer.betas[0],
    beta2: recipe.optimizer.betas[1],
    eps: recipe.optimizer.eps,
    weightDecay: recipe.optimizer.weightDecay,
    decay: defaultDecayMask,
  });
}

const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/**
 * Loss and gradients (by psvit name) of one step, summed over its paths: every path on the labels or,
 * with `distil`, the first on the labels and the others on the first's predictions (its softmax, a
 * constant for them). `loss` is the first path's label loss (comparable across sampling modes),
 * `studentLoss` the mean distillation loss of the others (null without distillation).
 */
export async function pathGrads(
  target: Trainable,
  paths: (Arch | null)[],
  /** Each path's trainable variables (`target.trainableVariables`). */
  pathVars: Map<string, tf.Variable>[],
  distil: boolean,
  batch: { x: Float32Array; y: Int32Array; size: number },
  [H, W, C]: [number, number, number],
  smoothing: number,
  names: Map<string, string>,
): Promise<{ loss: number; studentLoss: number | null; named: Map<string, tf.Tensor> }> {
  const named = new Map<string, tf.Tensor>();
  const xs = tf.tensor4d(batch.x, [batch.size, H, W, C]);
  const ys = tf.tensor1d(batch.y, "int32");
  let soft: tf.Tensor2D | null = null;
  let loss = Number.NaN;
  let studentSum = 0;
  try {
    for (const [k, arch] of paths.entries()) {
      const student = distil && k > 0;
      const { value, grads } = tf.tidy(() =>
        tf.variableGrads(() => {
          const logits = target.forward(xs, arch);
          if (distil && k === 0) soft = tf.keep(tf.softmax(logits));
          return student ? softCrossEntropy(logits, soft!) : crossEntropy(logits, ys, smoothing);
        }, [...pathVars[k].values()]),
      );
      for (const [tfn, g] of Object.entries(grads)) {
        const n = names.get(tfn)!;
        const prev = named.get(n);
        if (prev) {
          named.set(n, tf.add(prev, g));
          prev.dispose();
          g.dispose();
        } else named.set(n, g);
      }
      const v = (await value.data())[0];
      value.dispose();
      if (k === 0) loss = v;
      else if (student) studentSum += v;
    }
  } catch (e) {
    for (const g of named.values()) g.dispose();
    throw e;
  } finally {
    xs.dispose();
    ys.dispose();
    (soft as tf.Tensor2D | null)?.dispose();
  }
  return { loss, studentLoss: distil ? studentSum / Math.max(1, paths.length - 1) : null, named };
}

export async function trainLoop(opts: LoopOptions): Promise<TrainResult> {
  const { target, recipe, run, logger, data } = opts;
  const [H, W, C] = [data.train.height, data.train.width, data.train.channels];
  const B = recipe.batchSize;
  const stream = trainStream(data, {
    batchSize: B,
    seed: opts.seed,
    prefetch: opts.prefetch ?? 2,
    resume: opts.resume?.meta.stream,
  });
  const stepsPerEpoch = stream.stepsPerEpoch;
  // fractional epochs (a short schedule) round to whole steps; validation also runs after the last step
  const totalSteps = Math.max(1, Math.round(recipe.epochs * stepsPerEpoch));
  const schedule: CosineSchedule = {
    lr: recipe.optimizer.lr,
    minLr: recipe.schedule.minLr,
    warmupStartLr: recipe.schedule.warmupStartLr,
    warmupSteps: Math.round(recipe.schedule.warmupEpochs * stepsPerEpoch),
    totalSteps,
  };
  const optimizer = optimizerFor(recipe);
  let samplerRng = new Rng(opts.seed ^ 0x5eed);
  let step = 0;
  let lastEval: EvalRecord[] | null = null;
  if (opts.resume) {
    const { meta, params, optimizer: optTensors } = opts.resume;
    const vars = target.allVariables();
    for (const [name, v] of vars) {
      const saved = params.get(name);
      if (!saved) throw new PsvitError(`checkpoint has no parameter ${name}`);
      v.assign(tf.tensor(saved.data, saved.shape));
    }
    optimizer.setState(optimizerFromCheckpoint(meta.optimizer, optTensors));
    if (meta.sampler) samplerRng = Rng.fromState(meta.sampler);
    if (meta.samplerState !== undefined) opts.sampler?.restore(meta.samplerState);
    step = meta.step;
    lastEval = (meta.lastEval as EvalRecord[] | undefined) ?? null;
  }

  const tfName = (vars: Map<string, tf.Variable>) => new Map([...vars].map(([n, v]) => [v.name, n]));
  const stepTimes: number[] = [];
  const waits: number[] = [];
  let stepsThisProcess = 0;
  let savedAt = step;

  const checkpoint = async () => {
    const opt = optimizerToCheckpoint(await optimizer.getState());
    const samplerState = opts.sampler?.state();
    const meta: CheckpointMeta = {
      version: 1,
      kind: target.kind,
      step,
      stream: stream.state(),
      sampler: target.kind === "supernet" ? samplerRng.state() : null,
      ...(samplerState !== null && samplerState !== undefined ? { samplerState } : {}),
      optimizer: opt.meta,
      config: target.config,
      ...(lastEval ? { lastEval } : {}),
    };
    await saveCheckpoint(run.checkpointPath(step), meta, target.allVariables(), opt.tensors);
    run.prune(recipe.checkpoint.keep);
    savedAt = step;
    logger.debug({ step }, "checkpoint written");
  };

  try {
    while (step < totalSteps) {
      const tWait = performance.now();
      const batch = await stream.next();
      const t0 = performance.now();
      const plan = opts.sampler?.plan(samplerRng);
      const paths: (Arch | null)[] = plan ? plan.paths : [null];
      const pathText = plan ? paths.map((a) => formatArch(a!)).join(" + ") : null;
      // the union of the step's paths' variables, by psvit name (a sandwich step trains several paths)
      const pathVars = paths.map((a) => target.trainableVariables(a));
      const vars = new Map<string, tf.Variable>();
      for (const pv of pathVars) for (const [n, v] of pv) vars.set(n, v);
      const names = tfName(vars);
      const lr = lrAt(schedule, step);
      const { loss, named, studentLoss } = await pathGrads(
        target,
        paths,
        pathVars,
        plan?.distil ?? false,
        batch,
        [H, W, C],
        recipe.labelSmoothing,
        names,
      );
      // loss and gradients are checked before the optimizer sees them: a non-finite step never reaches
      // the weights (nor the moments), and the last checkpoint stays the last good state
      const gradNorm = await globalGradNorm(named);
      const badLoss = !Number.isFinite(loss) || (studentLoss !== null && !Number.isFinite(studentLoss));
      if (badLoss || !Number.isFinite(gradNorm)) {
        const bad = Number.isFinite(gradNorm) ? [] : await nonFiniteGrads(named);
        for (const g of named.values()) g.dispose();
        run.appendJsonl("metrics.jsonl", {
          type: "nonfinite",
          step: step + 1,
          loss: String(loss),
          ...(studentLoss !== null ? { student_loss: String(studentLoss) } : {}),
          grad_norm: String(gradNorm),
          nonfinite_grads: bad,
          arch: pathText,
        });
        const last = run.latestCheckpoint();
        const what = !Number.isFinite(loss)
          ? `loss became ${loss}`
          : badLoss
            ? `distillation loss became ${studentLoss}`
            : bad.length > 0
              ? `gradient became non-finite (${bad.slice(0, 3).join(", ")}${bad.length > 3 ? `, ${bad.length - 3} more` : ""})`
              : `gradient norm overflowed float32 (loss ${loss.toFixed(4)})`;
        throw new NonFiniteLossError(
          `${what} at step ${step + 1}${pathText ? ` (${paths.length > 1 ? "paths" : "path"} ${pathText})` : ""}; stopped before the update, the weights are unchanged. ` +
            (last ? `The last good checkpoint is step ${last.step} (${last.file}). ` : "") +
            "Lower the learning rate, or clip gradients harder (a smaller clipGradNorm) in the recipe.",
        );
      }
      if (recipe.clipGradNorm !== null) await clipGradNorm(named, recipe.clipGradNorm, gradNorm);
      optimizer.step(named, vars, lr);
      for (const g of named.values()) g.dispose();
      const t1 = performance.now();
      step++;
      stepsThisProcess++;
      const imagesPerSec = (batch.size / (t1 - tWait)) * 1000;
      stepTimes.push(imagesPerSec);
      waits.push(t0 - tWait);
      const epoch = Math.floor((step - 1) / stepsPerEpoch);
      opts.onStep?.({ step, totalSteps, epoch, loss, lr, imagesPerSec });
      if (step % recipe.logEverySteps === 0 || step === totalSteps) {
        run.appendJsonl("metrics.jsonl", {
          type: "step",
          step,
          epoch,
          loss,
          lr,
          grad_norm: Math.round(gradNorm * 1e4) / 1e4,
          images_per_sec: Math.round(imagesPerSec * 10) / 10,
          data_wait_ms: Math.round((t0 - tWait) * 100) / 100,
          arch: pathText,
          ...(studentLoss !== null ? { student_loss: studentLoss } : {}),
        });
      }
      const epochEnd = step % stepsPerEpoch === 0 || step === totalSteps;
      if (epochEnd) {
        // every path on the same batches, made (or decoded from a folder) once
        const results = await evaluateAll(
          opts.evalPaths.map((p) => (x: tf.Tensor4D) => target.forward(x, p.arch)),
          data.val,
          data.preprocess,
          recipe.evalBatchSize,
          opts.evalImages,
          { skipBadImages: data.skipBadImages },
        );
        const evals: EvalRecord[] = opts.evalPaths.map((p, k) => ({
          label: p.label,
          arch: p.arch ? formatArch(p.arch) : null,
          flops: p.flops,
          ...results[k],
        }));
        lastEval = evals;
        run.appendJsonl("metrics.jsonl", { type: "eval", step, epoch, split: "val", paths: lastEval });
        logger.info(
          { epoch: epoch + 1, step },
          `epoch ${epoch + 1}/${Math.ceil(recipe.epochs)}: val top-1 ${lastEval.map((e) => `${e.label} ${(e.top1 * 100).toFixed(1)}%`).join(", ")}`,
        );
        await opts.onEpoch?.({ step, totalSteps, epoch, evals: lastEval });
      }
      const every = recipe.checkpoint.everySteps;
      if (epochEnd || step === totalSteps || (every !== null && step % every === 0)) await checkpoint();
      // once per step through the event loop: a prefetched batch resolves without it, and SIGINT/SIGTERM
      // handlers run only there (without this a cpu-backend run never saw its signal until the epoch ended)
      await new Promise<void>((r) => setImmediate(r));
      const stopSignal =
        opts.stop?.signal ??
        (opts.stopAfterSteps !== undefined && stepsThisProcess >= opts.stopAfterSteps ? "SIGINT" : null);
      if (stopSignal && step < totalSteps) {
        if (savedAt !== step) await checkpoint();
        throw new InterruptedError(
          `interrupted at step ${step}/${totalSteps}; checkpoint written.` +
            (opts.resumeCommand ? ` Continue with: ${opts.resumeCommand}` : ""),
          stopSignal,
        );
      }
    }
  } finally {
    await stream.close();
    optimizer.dispose();
  }
  const skippedImages = stream instanceof FolderBatchStream ? stream.skipped() : undefined;
  return {
    steps: step,
    imagesPerSec: median(stepTimes),
    dataWaitMs: median(waits),
    lastEval,
    ...(skippedImages && skippedImages.count > 0 ? { skippedImages } : {}),
  };
}
