/**
 * A training run (`psvit train-supernet`: single-path one-shot training of a space's supernet; `psvit
 * train`: a fixed model from scratch, e.g. an exported architecture): the run directory opened (or
 * resumed from its run.json), the data resolved, the shared loop (./loop.ts) run with a progress bar,
 * and its report.html (./report.ts) kept current: rewritten after every epoch, when the run stops, and
 * at the end. Takes plain options (the commands parse the flags) and returns what the loop did.
 */

import { loadRecipe, parseRecipe, type Recipe } from "../config/recipe.js";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import { parseModelConfig, parseSpaceConfig } from "../config/validate.js";
import { augmentOptions } from "../data/augment.js";
import { type ResolvedData, resolveData } from "../data/resolve.js";
import { saveFolderIndexes } from "../data/stream/split.js";
import type { Preprocess } from "../data/types.js";
import { isStreamed } from "../data/types.js";
import { startBackend } from "../engine/start.js";
import { InterruptedError, UsageError } from "../errors.js";
import { countModel } from "../flops/count.js";
import { formatArch } from "../space/arch.js";
import { type PathSampler, pathSampler, representativeArchs, type SamplingMode } from "../space/sample.js";
import type { Constraint } from "../space/stats.js";
import { createLogger, type Logger, setLogger } from "../util/log.js";
import { DEFAULT_RECIPE, DEFAULT_SUPERNET_RECIPE, packagePath } from "../util/package.js";
import { createProgress, formatDuration } from "../util/progress.js";
import { installStopHandlers } from "../util/signals.js";
import { loadCheckpoint } from "./checkpoint.js";
import type { EvalPath, LoopOptions, TrainResult } from "./loop.js";
import { finishedRecord, newRunSnapshot, RunDir, type RunSnapshot } from "./rundir.js";

/** How a training run is started; the commands build it from their flags. */
export interface TrainRunOptions {
  /** The run directory. */
  out: string;
  /** Continue the run in `out` from its latest checkpoint, with the settings in its run.json. */
  resume?: boolean;
  /** Replace the psvit run already in `out`. */
  force?: boolean;
  /** A fresh run's recipe file (default: the command's default recipe). */
  recipeFile?: string;
  epochs?: number;
  batch?: number;
  seed?: number;
  data?: string;
  dataDir?: string;
  /** Image folders: leave unreadable files out (counted) instead of stopping. */
  skipBadImages?: boolean;
  backend?: string;
  /** wasm threads (default: the training commands' count, src/engine/start.ts). */
  threads?: number;
  /** Validation images evaluated per path each epoch (default all). */
  evalImages?: number;
  /** Batches prepared ahead (0: synchronous). */
  prefetch?: number;
  /** Stop as if interrupted after this many steps (tests, benchmarks). */
  stopAfterSteps?: number;
  logLevel?: string;
  /** The exact command that continues this run, named when it stops. */
  resumeCommand: string;
  /** The flags as given, recorded in run.json. */
  args: Record<string, unknown>;
  /** Draw a progress bar (a terminal); else periodic log lines. */
  tty?: boolean;
  /** A line for the user beside the result (the report of a run that stopped). */
  note?: (line: string) => void;
}

/** What a training run returns: the loop's result, the report's path and the run. */
export interface TrainRunResult extends TrainResult {
  /** report.html in the run directory. */
  report: string;
  run: RunDir;
  snapshot: RunSnapshot;
  seconds: number;
}

/** Train a space's supernet (fresh: `space`, and optionally the FLOPs range its paths are drawn from). */
export function trainSupernet(
  o: TrainRunOptions & { space?: SpaceConfig; flopsRange?: Constraint | null; sampling?: SamplingMode },
): Promise<TrainRunResult> {
  return train(
    "train-supernet",
    o,
    () => ({ space: o.space!, sampling: o.sampling ?? "uniform" }),
    o.flopsRange ?? null,
  );
}

/** Train a fixed model from scratch (fresh: `model`). */
export function trainModel(o: TrainRunOptions & { model?: ModelConfig }): Promise<TrainRunResult> {
  return train("train", o, () => ({ model: o.model! }), null);
}

async function train(
  command: RunSnapshot["command"],
  o: TrainRunOptions,
  cfg: () => { space?: SpaceConfig; model?: ModelConfig; sampling?: SamplingMode },
  constraint: Constraint | null,
): Promise<TrainRunResult> {
  const prepared = o.resume
    ? await prepareResume(command, o)
    : await prepareFresh(command, cfg(), constraint, o);
  return execute(prepared, o);
}

async function loadData(
  spec: string | undefined,
  dataDir: string | undefined,
  seed: number,
  cfg: ModelConfig | SpaceConfig,
  includeTest = true,
  folder: { skipBadImages?: boolean; indexCacheDir?: string } = {},
) {
  const data = await resolveData(spec, {
    dataDir,
    seed,
    imageSize: cfg.image.size,
    channels: cfg.image.channels,
    includeTest,
    ...folder,
  });
  if (data.info.numClasses !== cfg.numClasses) {
    throw new UsageError(
      `the data has ${data.info.numClasses} classes but ${cfg.kind === "psvit.space" ? "the space" : "the model"} "${cfg.name}" has numClasses ${cfg.numClasses}`,
    );
  }
  return data;
}

/** The data a run was trained on, resolved again from its run.json (same spec, folder and seed). */
export function loadRunData(snapshot: RunSnapshot, opts: { includeTest?: boolean; runDir?: string } = {}) {
  const cfg = (snapshot.space ?? snapshot.model)!;
  return loadData(
    snapshot.data.spec ?? undefined,
    snapshot.data.dataDir ?? undefined,
    snapshot.seed,
    cfg,
    opts.includeTest ?? false,
    // an image folder's index, cached in the run directory, is listed again only when the folder changed
    { skipBadImages: snapshot.data.skipBadImages, indexCacheDir: opts.runDir },
  );
}

function runLogger(run: RunDir, o: { logLevel?: string }): Logger {
  const logger = createLogger({
    file: run.path("log.jsonl"),
    ...(o.logLevel ? { level: o.logLevel } : {}),
  });
  setLogger(logger);
  return logger;
}

interface Prepared {
  run: RunDir;
  snapshot: RunSnapshot;
  data: ResolvedData;
  logger: Logger;
}

/** What a fresh run is made of before anything is written: its recipe (with the flags' overrides),
 * seed and resolved data. */
export interface FreshInputs {
  recipe: Recipe;
  seed: number;
  data: ResolvedData;
}

/**
 * The recipe's augmentation must fit the data: RandomResizedCrop is for streamed image folders, crop
 * padding for in-memory data. Checked before anything is written (the loop checks again on resume).
 */
function checkAugmentFor(data: ResolvedData, recipe: Recipe): void {
  const a = augmentOptions(data.info.augment, recipe.augment);
  if (!isStreamed(data.train) && a.randomResizedCrop)
    throw new UsageError(
      "the recipe's augment.randomResizedCrop applies to image folders (--data folder:DIR); for this data use cropPadding and flipProb",
    );
  if (isStreamed(data.train) && a.cropPadding > 0)
    throw new UsageError(
      "the recipe's augment.cropPadding applies to in-memory data; an image folder is cropped by augment.randomResizedCrop",
    );
}

/** A fresh run's recipe and data from the flags (nothing written; bad input is a UsageError). */
export async function freshInputs(
  command: RunSnapshot["command"],
  target: ModelConfig | SpaceConfig,
  o: Pick<TrainRunOptions, "recipeFile" | "epochs" | "batch" | "seed" | "data" | "dataDir" | "skipBadImages">,
): Promise<FreshInputs> {
  const fallback = command === "train-supernet" ? DEFAULT_SUPERNET_RECIPE : DEFAULT_RECIPE;
  const base = loadRecipe(o.recipeFile ?? packagePath(fallback));
  const recipe = parseRecipe({
    ...base,
    ...(o.epochs ? { epochs: o.epochs } : {}),
    ...(o.batch ? { batchSize: o.batch } : {}),
  });
  const seed = o.seed ?? 0;
  const data = await loadData(o.data, o.dataDir, seed, target, true, { skipBadImages: o.skipBadImages });
  checkAugmentFor(data, recipe);
  return { recipe, seed, data };
}

/** Fresh run: validate inputs, open the directory, resolve data, write run.json. */
async function prepareFresh(
  command: RunSnapshot["command"],
  cfg: { space?: SpaceConfig; model?: ModelConfig; sampling?: SamplingMode },
  constraint: Constraint | null,
  o: TrainRunOptions,
): Promise<Prepared> {
  const inputs = await freshInputs(command, (cfg.space ?? cfg.model)!, o);
  return openFresh(command, cfg, constraint, inputs, o);
}

/** Opens (locks) a fresh run directory for `inputs` and writes its run.json. */
async function openFresh(
  command: RunSnapshot["command"],
  cfg: { space?: SpaceConfig; model?: ModelConfig; sampling?: SamplingMode },
  constraint: Constraint | null,
  { recipe, seed, data }: FreshInputs,
  o: TrainRunOptions,
): Promise<Prepared> {
  const run = RunDir.open(o.out, { force: o.force, lock: true });
  return unlockOnError(run, async () => {
    const logger = runLogger(run, o);
    const backend = await startBackend(o.backend, { training: true, threads: o.threads });
    const preprocess = cfg.model?.preprocess ?? data.info.preprocess;
    const evalPaths = cfg.space
      ? representativeArchs(cfg.space, constraint ?? {}, seed).map((p) => ({
          ...p,
          arch: formatArch(p.arch),
        }))
      : [{ label: "model", arch: null, flops: countModel(cfg.model!).flops }];
    const snapshot = newRunSnapshot({
      command,
      seed,
      ...cfg,
      recipe,
      flopsRange: constraint,
      data: {
        spec: o.data ?? null,
        dataDir: o.dataDir ?? null,
        info: data.info,
        ...(o.skipBadImages ? { skipBadImages: true } : {}),
      },
      preprocess,
      evalPaths,
      backend: { name: backend.name, reason: backend.reason },
      args: o.args,
    });
    await run.writeJson("run.json", snapshot);
    await saveFolderIndexes(data, run.dir);
    return { run, snapshot, data, logger };
  });
}

/**
 * Train a fixed model on inputs resolved elsewhere (a queue worker: the driver's recipe, seed and
 * splits, ../queue/train-thread.ts) into the fresh run directory `o.out`, exactly as `trainModel`.
 */
export async function trainModelOn(
  model: ModelConfig,
  inputs: FreshInputs,
  o: TrainRunOptions,
): Promise<TrainRunResult> {
  return execute(await openFresh("train", { model }, null, inputs, o), o);
}

/** Resumed run: everything comes from run.json. */
async function prepareResume(command: RunSnapshot["command"], o: TrainRunOptions): Promise<Prepared> {
  const run = RunDir.open(o.out, { resume: true, lock: true });
  return unlockOnError(run, async () => {
    const snapshot = run.readJson<RunSnapshot>("run.json");
    if (snapshot.command !== command) {
      throw new UsageError(
        `${o.out} holds a ${snapshot.command} run; resume it with psvit ${snapshot.command} --resume`,
      );
    }
    const logger = runLogger(run, o);
    await startBackend(o.backend, { training: true });
    const data = await loadRunData(snapshot, { runDir: run.dir });
    return { run, snapshot, data, logger };
  });
}

/** `prepare()` with the run's lock released if it fails (`execute` releases it otherwise). */
async function unlockOnError(run: RunDir, prepare: () => Promise<Prepared>): Promise<Prepared> {
  try {
    return await prepare();
  } catch (e) {
    run.unlock();
    throw e;
  }
}

/** A run of the shared training loop on resolved data (see `runTraining`). */
export interface TrainingJob extends Omit<LoopOptions, "data" | "onStep"> {
  /** Label of the progress bar. */
  label: string;
  /** The splits and the data's default augmentation (all the loop needs of resolved data). */
  data: Pick<ResolvedData, "train" | "val"> & { info: Pick<ResolvedData["info"], "augment"> };
  /** The normalisation to train with. */
  preprocess: Preprocess;
  /** Image folders: leave unreadable files out of their batch (counted) instead of stopping. */
  skipBadImages?: boolean;
  /** Draw a progress bar (a terminal); else periodic log lines. */
  tty?: boolean;
}

/**
 * The training loop (./loop.ts) on resolved data with the data's augmentation under the recipe's, and a
 * progress bar (or periodic log lines). Nothing is written beyond what the loop itself writes into
 * `job.run` (metrics.jsonl, checkpoints). Shared by `train`, `train-supernet` and the rank-corr study.
 */
export async function runTraining(job: TrainingJob): Promise<TrainResult> {
  const { trainLoop } = await import("./loop.js");
  const { label, data, preprocess, tty, skipBadImages, ...loop } = job;
  const augment = augmentOptions(data.info.augment, job.recipe.augment);
  let progress: ReturnType<typeof createProgress> | undefined;
  try {
    return await trainLoop({
      ...loop,
      data: { train: data.train, val: data.val, preprocess, augment, skipBadImages },
      onStep: (s) => {
        progress ??= createProgress(label, s.totalSteps, job.logger, {
          tty: tty ?? false,
          initial: s.step - 1,
        });
        progress.update(s.step, {
          epoch: s.epoch + 1,
          loss: s.loss.toFixed(3),
          lr: s.lr.toExponential(1),
          "img/s": Math.round(s.imagesPerSec),
        });
      },
    });
  } finally {
    progress?.stop();
  }
}

/** Rewrites the run's report.html (./report.ts) from its metrics.jsonl. */
function reportWriter(run: RunDir, snapshot: RunSnapshot) {
  const title = `psvit ${snapshot.command}: ${snapshot.space?.name ?? snapshot.model?.name}`;
  return async (status: string): Promise<string> => {
    const { writeTrainingReport } = await import("./report.js");
    return writeTrainingReport(run.dir, { title, status, clipGradNorm: snapshot.recipe.clipGradNorm });
  };
}

async function execute(p: Prepared, o: TrainRunOptions): Promise<TrainRunResult> {
  const { run, snapshot, data, logger } = p;
  const writeReport = reportWriter(run, snapshot);
  // a report that cannot be written never stops a training (the log says why)
  const tryReport = async (status: string) => {
    try {
      return await writeReport(status);
    } catch (e) {
      logger.warn({ err: e }, `training report not written: ${e instanceof Error ? e.message : e}`);
      return null;
    }
  };
  const { supernetTarget, modelTarget } = await import("./targets.js");
  const { parseArch } = await import("../space/arch.js");
  const latest = run.latestCheckpoint();
  const resume = o.resume && latest ? await loadCheckpoint(latest.file) : undefined;
  if (o.resume && !latest) logger.info("no checkpoint yet: starting from the beginning");

  let target: ReturnType<typeof supernetTarget>;
  let dispose: () => void;
  let sampler: PathSampler | undefined;
  if (snapshot.space) {
    const { Supernet } = await import("../model/supernet.js");
    const space = parseSpaceConfig(snapshot.space);
    const net = Supernet.create(space, { seed: snapshot.seed });
    target = supernetTarget(net, space);
    dispose = () => net.dispose();
    sampler = pathSampler(snapshot.sampling ?? "uniform", space, snapshot.flopsRange ?? {});
  } else {
    const { HvtModel } = await import("../model/hvt.js");
    const model = parseModelConfig(snapshot.model);
    const net = HvtModel.create(model, { seed: snapshot.seed });
    target = modelTarget(net, model);
    dispose = () => net.dispose();
  }
  const evalPaths: EvalPath[] = snapshot.evalPaths.map((e) => ({
    label: e.label,
    arch: e.arch === null ? null : parseArch(e.arch),
    flops: e.flops,
  }));
  const stop = installStopHandlers();
  const started = performance.now();
  try {
    logger.info(
      { run: run.dir },
      `${snapshot.command}: ${snapshot.space?.name ?? snapshot.model?.name}, ${data.train.n} training images, ${snapshot.recipe.epochs} epoch(s) of batch ${snapshot.recipe.batchSize}${resume ? `, resuming at step ${resume.meta.step}` : ""}`,
    );
    const result = await runTraining({
      label: snapshot.command,
      target,
      sampler,
      evalPaths,
      data,
      preprocess: snapshot.preprocess,
      skipBadImages: snapshot.data.skipBadImages,
      recipe: snapshot.recipe,
      seed: snapshot.seed,
      run,
      logger,
      resume,
      stop: stop.flag,
      stopAfterSteps: o.stopAfterSteps,
      resumeCommand: o.resumeCommand,
      prefetch: o.prefetch,
      evalImages: o.evalImages,
      tty: o.tty,
      onEpoch: async (e) => {
        await tryReport(
          `In progress: epoch ${e.epoch + 1} of ${Math.ceil(snapshot.recipe.epochs)} validated (step ${e.step} of ${e.totalSteps})`,
        );
      },
    }).catch(async (e) => {
      // an interrupted or failed run keeps a report of what it did (the last epoch's is already there)
      const why = e instanceof Error ? e.message : String(e);
      const report = await tryReport(
        e instanceof InterruptedError ? `Interrupted: ${why}` : `Stopped with an error: ${why}`,
      );
      if (report) o.note?.(`report (so far): ${report}`);
      throw e;
    });
    const seconds = (performance.now() - started) / 1000;
    if (result.skippedImages) {
      const { count, first } = result.skippedImages;
      const line = `${count} unreadable image(s) left out of training batches (--skip-bad-images; the first: ${first})`;
      logger.warn(line);
      o.note?.(line);
    }
    snapshot.finished = finishedRecord(result, seconds);
    await run.writeJson("run.json", snapshot);
    if (snapshot.command === "train") {
      const { saveModelWeights } = await import("../weights/io.js");
      const model = { ...parseModelConfig(snapshot.model), preprocess: snapshot.preprocess };
      const name = model.name;
      await run.writeJson(`${name}.model.json`, model);
      await saveModelWeights(run.path(`${name}.safetensors`), model, target.allVariables());
    }
    const report = await writeReport(
      `Finished: ${result.steps} steps in ${formatDuration(seconds)} (${Math.round(result.imagesPerSec)} images/s median)`,
    );
    return { ...result, report, run, snapshot, seconds };
  } finally {
    stop.dispose();
    dispose();
    run.unlock();
  }
}
