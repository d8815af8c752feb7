/**
 * `psvit train-supernet` (single-path one-shot training of a space's supernet) and `psvit train` (a
 * fixed model from scratch, e.g. an exported architecture). Both run the same loop (src/train/loop.ts)
 * in a run directory that can be resumed exactly, and keep its report.html (src/train/report.ts) current:
 * rewritten after every epoch, when the run stops, and at the end.
 */
import { basename } from "node:path";
import { loadModelConfig, loadSpaceConfig } from "../../config/load.js";
import { loadRecipe, parseRecipe, type Recipe } from "../../config/recipe.js";
import type { ModelConfig, SpaceConfig } from "../../config/schema.js";
import { parseModelConfig, parseSpaceConfig } from "../../config/validate.js";
import { augmentOptions } from "../../data/augment.js";
import { type ResolvedData, resolveData } from "../../data/resolve.js";
import type { Preprocess } from "../../data/types.js";
import { InterruptedError, UsageError } from "../../errors.js";
import { countModel } from "../../flops/count.js";
import { formatArch } from "../../space/arch.js";
import {
  checkSatisfiable,
  parseFlopsRange,
  rejectionSampler,
  representativeArchs,
} from "../../space/sample.js";
import type { Constraint } from "../../space/stats.js";
import { loadCheckpoint } from "../../train/checkpoint.js";
import type { EvalPath, LoopOptions, TrainResult } from "../../train/loop.js";
import { RunDir } from "../../train/rundir.js";
import { createLogger, type Logger, setLogger } from "../../util/log.js";
import { human, parseQuantity } from "../../util/units.js";
import {
  DEFAULT_RECIPE,
  DEFAULT_SPACE,
  DEFAULT_SUPERNET_RECIPE,
  installStopHandlers,
  intOption,
  packagePath,
  positiveOption,
  startBackend,
  versions,
} from "../common.js";
import type { Io } from "../io.js";
import { createProgress, formatDuration } from "../progress.js";

export interface CommonTrainOptions {
  config?: string;
  data?: string;
  dataDir?: string;
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

export interface TrainSupernetOptions extends CommonTrainOptions {
  space?: string;
  flopsRange?: string;
}

/** What run.json records; `--resume` rebuilds the run from it. */
export interface RunSnapshot {
  kind: "psvit.run";
  version: 1;
  command: "train-supernet" | "train";
  created: string;
  seed: number;
  space?: SpaceConfig;
  model?: ModelConfig;
  recipe: Recipe;
  flopsRange: Constraint | null;
  data: { spec: string | null; dataDir: string | null; info: ResolvedData["info"] };
  /** The normalisation the run trains with (the training split's, or the model config's own). */
  preprocess: Preprocess;
  evalPaths: { label: string; arch: string | null; flops: number }[];
  versions: Record<string, string>;
  backend: { name: string; reason: string };
  args: Record<string, unknown>;
  finished?: {
    steps: number;
    images_per_sec: number;
    data_wait_ms: number;
    seconds: number;
    last_eval: unknown;
  };
}

const RESUME_FIXED = ["config", "data", "dataDir", "epochs", "batch", "seed", "space", "flopsRange"] as const;

function refuseResumeOverrides(opts: Record<string, unknown>): void {
  const given = RESUME_FIXED.filter((k) => opts[k] !== undefined);
  if (given.length) {
    const flags = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
    throw new UsageError(`--resume continues with the settings in run.json; drop ${flags}`);
  }
}

/** `word` as one shell word (quoted only when it has to be). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that continues the run in `out`: --out and --resume, plus only the flags that --resume
 * accepts and that this run was given (not those of RESUME_FIXED, which run.json fixes).
 */
function resumeCommand(
  command: RunSnapshot["command"],
  out: string,
  opts: CommonTrainOptions,
  modelFile?: string,
): string {
  const words = ["psvit", command, ...(modelFile !== undefined ? [modelFile] : []), "--out", out, "--resume"];
  if (opts.backend !== undefined) words.push("--backend", opts.backend);
  if (opts.evalImages !== undefined) words.push("--eval-images", String(opts.evalImages));
  return words.map(shellWord).join(" ");
}

function applyOverrides(recipe: Recipe, opts: CommonTrainOptions): Recipe {
  const epochs = positiveOption(opts.epochs, "--epochs");
  const batch = intOption(opts.batch, "--batch");
  return parseRecipe({ ...recipe, ...(epochs ? { epochs } : {}), ...(batch ? { batchSize: batch } : {}) });
}

async function loadData(
  spec: string | undefined,
  dataDir: string | undefined,
  seed: number,
  cfg: ModelConfig | SpaceConfig,
  includeTest = true,
) {
  const data = await resolveData(spec, {
    dataDir,
    seed,
    imageSize: cfg.image.size,
    channels: cfg.image.channels,
    includeTest,
  });
  if (data.info.numClasses !== cfg.numClasses) {
    throw new UsageError(
      `the data has ${data.info.numClasses} classes but ${cfg.kind === "psvit.space" ? "the space" : "the model"} "${cfg.name}" has numClasses ${cfg.numClasses}`,
    );
  }
  return data;
}

/** The data a run was trained on, resolved again from its run.json (same spec, folder and seed). */
export function loadRunData(snapshot: RunSnapshot, opts: { includeTest?: boolean } = {}) {
  const cfg = (snapshot.space ?? snapshot.model)!;
  return loadData(
    snapshot.data.spec ?? undefined,
    snapshot.data.dataDir ?? undefined,
    snapshot.seed,
    cfg,
    opts.includeTest ?? false,
  );
}

function runLogger(run: RunDir, opts: CommonTrainOptions): Logger {
  const logger = createLogger({
    file: run.path("log.jsonl"),
    ...(opts.logLevel ? { level: opts.logLevel } : {}),
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

/** Fresh run: validate inputs, open the directory, resolve data, write run.json. */
async function prepareFresh(
  command: RunSnapshot["command"],
  cfg: { space?: SpaceConfig; model?: ModelConfig },
  constraint: Constraint | null,
  opts: CommonTrainOptions,
  out: string,
): Promise<Prepared> {
  const fallback = command === "train-supernet" ? DEFAULT_SUPERNET_RECIPE : DEFAULT_RECIPE;
  const recipe = applyOverrides(loadRecipe(opts.config ?? packagePath(fallback)), opts);
  const seed = intOption(opts.seed, "--seed", 0) ?? 0;
  const target = (cfg.space ?? cfg.model)!;
  const data = await loadData(opts.data, opts.dataDir, seed, target);
  const run = RunDir.open(out, { force: opts.force, lock: true });
  return unlockOnError(run, async () => {
    const logger = runLogger(run, opts);
    const backend = await startBackend(opts.backend, { training: true });
    const preprocess = cfg.model?.preprocess ?? data.info.preprocess;
    const evalPaths = cfg.space
      ? representativeArchs(cfg.space, constraint ?? {}, seed).map((p) => ({
          ...p,
          arch: formatArch(p.arch),
        }))
      : [{ label: "model", arch: null, flops: countModel(cfg.model!).flops }];
    const snapshot: RunSnapshot = {
      kind: "psvit.run",
      version: 1,
      command,
      created: new Date().toISOString(),
      seed,
      ...cfg,
      recipe,
      flopsRange: constraint,
      data: { spec: opts.data ?? null, dataDir: opts.dataDir ?? null, info: data.info },
      preprocess,
      evalPaths,
      versions: versions(),
      backend: { name: backend.name, reason: backend.reason },
      args: Object.fromEntries(Object.entries(opts).filter(([k]) => k !== "stopAfterSteps")),
    };
    await run.writeJson("run.json", snapshot);
    return { run, snapshot, data, logger };
  });
}

/** Resumed run: everything comes from run.json. */
async function prepareResume(
  command: RunSnapshot["command"],
  opts: CommonTrainOptions,
  out: string,
): Promise<Prepared> {
  refuseResumeOverrides(opts as Record<string, unknown>);
  const run = RunDir.open(out, { resume: true, lock: true });
  return unlockOnError(run, async () => {
    const snapshot = run.readJson<RunSnapshot>("run.json");
    if (snapshot.command !== command) {
      throw new UsageError(
        `${out} holds a ${snapshot.command} run; resume it with psvit ${snapshot.command} --resume`,
      );
    }
    const logger = runLogger(run, opts);
    await startBackend(opts.backend, { training: true });
    const data = await loadRunData(snapshot);
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
  data: ResolvedData;
  /** The normalisation to train with. */
  preprocess: Preprocess;
}

/**
 * The training loop (src/train/loop.ts) on resolved data with the data's augmentation under the recipe's,
 * and a progress bar (or periodic log lines). Nothing is written beyond what the loop itself writes into
 * `job.run` (metrics.jsonl, checkpoints). Shared by `train`, `train-supernet` and `rank-corr`.
 */
export async function runTraining(job: TrainingJob, io: Io): Promise<TrainResult> {
  const { trainLoop } = await import("../../train/loop.js");
  const { label, data, preprocess, ...loop } = job;
  const augment = augmentOptions(data.info.augment, job.recipe.augment);
  let progress: ReturnType<typeof createProgress> | undefined;
  try {
    return await trainLoop({
      ...loop,
      data: { train: data.train, val: data.val, preprocess, augment },
      onStep: (s) => {
        progress ??= createProgress(label, s.totalSteps, job.logger, {
          tty: io.isTTY && process.stderr.isTTY,
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

/** What `train` and `train-supernet` return: the loop's result and the training report's path. */
export interface TrainCommandResult extends TrainResult {
  /** report.html in the run directory. */
  report: string;
}

/** Rewrites the run's report.html (src/train/report.ts) from its metrics.jsonl. */
function reportWriter(run: RunDir, snapshot: RunSnapshot) {
  const title = `psvit ${snapshot.command}: ${snapshot.space?.name ?? snapshot.model?.name}`;
  return async (status: string): Promise<string> => {
    const { writeTrainingReport } = await import("../../train/report.js");
    return writeTrainingReport(run.dir, { title, status, clipGradNorm: snapshot.recipe.clipGradNorm });
  };
}

async function execute(
  p: Prepared,
  opts: CommonTrainOptions,
  io: Io,
  resumeHint: string,
): Promise<TrainCommandResult> {
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
  const { supernetTarget, modelTarget } = await import("../../train/targets.js");
  const { parseArch } = await import("../../space/arch.js");
  const latest = run.latestCheckpoint();
  const resume = opts.resume && latest ? await loadCheckpoint(latest.file) : undefined;
  if (opts.resume && !latest) logger.info("no checkpoint yet: starting from the beginning");

  let target: ReturnType<typeof supernetTarget>;
  let dispose: () => void;
  let sampler: ((rng: import("../../util/rng.js").Rng) => import("../../space/arch.js").Arch) | undefined;
  if (snapshot.space) {
    const { Supernet } = await import("../../model/supernet.js");
    const space = parseSpaceConfig(snapshot.space);
    const net = Supernet.create(space, { seed: snapshot.seed });
    target = supernetTarget(net, space);
    dispose = () => net.dispose();
    sampler = rejectionSampler(space, snapshot.flopsRange ?? {});
  } else {
    const { HvtModel } = await import("../../model/hvt.js");
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
    const result = await runTraining(
      {
        label: snapshot.command,
        target,
        sampler,
        evalPaths,
        data,
        preprocess: snapshot.preprocess,
        recipe: snapshot.recipe,
        seed: snapshot.seed,
        run,
        logger,
        resume,
        stop: stop.flag,
        stopAfterSteps: opts.stopAfterSteps ?? intOption(opts.stopAfter, "--stop-after"),
        resumeCommand: resumeHint,
        prefetch: opts.prefetch,
        evalImages: intOption(opts.evalImages, "--eval-images"),
        onEpoch: async (e) => {
          await tryReport(
            `In progress: epoch ${e.epoch + 1} of ${Math.ceil(snapshot.recipe.epochs)} validated (step ${e.step} of ${e.totalSteps})`,
          );
        },
      },
      io,
    ).catch(async (e) => {
      // an interrupted or failed run keeps a report of what it did (the last epoch's is already there)
      const why = e instanceof Error ? e.message : String(e);
      const report = await tryReport(
        e instanceof InterruptedError ? `Interrupted: ${why}` : `Stopped with an error: ${why}`,
      );
      if (report) io.err(`report (so far): ${report}`);
      throw e;
    });
    const seconds = (performance.now() - started) / 1000;
    snapshot.finished = {
      steps: result.steps,
      images_per_sec: result.imagesPerSec,
      data_wait_ms: result.dataWaitMs,
      seconds,
      last_eval: result.lastEval,
    };
    await run.writeJson("run.json", snapshot);
    if (snapshot.command === "train") {
      const { saveModelWeights } = await import("../../weights/io.js");
      const model = { ...parseModelConfig(snapshot.model), preprocess: snapshot.preprocess };
      const name = model.name;
      await run.writeJson(`${name}.model.json`, model);
      await saveModelWeights(run.path(`${name}.safetensors`), model, target.allVariables());
    }
    const report = await writeReport(
      `Finished: ${result.steps} steps in ${formatDuration(seconds)} (${Math.round(result.imagesPerSec)} images/s median)`,
    );
    io.out(summary(snapshot, result, seconds, run, report));
    return { ...result, report };
  } finally {
    stop.dispose();
    dispose();
    run.unlock();
  }
}

function summary(s: RunSnapshot, r: TrainResult, seconds: number, run: RunDir, report: string): string {
  const lines = [
    `trained ${r.steps} steps in ${formatDuration(seconds)} (${Math.round(r.imagesPerSec)} images/s median)`,
  ];
  for (const e of r.lastEval ?? []) {
    lines.push(
      `  val ${e.label}${e.arch ? ` ${e.arch}` : ""}${e.flops ? ` (${human(e.flops)}FLOPs)` : ""}: top-1 ${(e.top1 * 100).toFixed(2)}%, top-5 ${(e.top5 * 100).toFixed(2)}%, loss ${e.loss.toFixed(4)}`,
    );
  }
  lines.push(`run directory: ${run.dir}`);
  lines.push(`report: ${report}`);
  if (s.command === "train-supernet") lines.push(`next: psvit search --run ${run.dir} --flops 25M`);
  else
    lines.push(`weights: ${run.path(`${s.model!.name}.safetensors`)} (config ${s.model!.name}.model.json)`);
  return `${lines.join("\n")}\n`;
}

export async function trainSupernetCommand(opts: TrainSupernetOptions, io: Io): Promise<TrainCommandResult> {
  if (opts.resume) {
    if (!opts.out) throw new UsageError("--resume needs --out DIR (the run to continue)");
    const hint = resumeCommand("train-supernet", opts.out, opts);
    return execute(await prepareResume("train-supernet", opts, opts.out), opts, io, hint);
  }
  const spaceFile = opts.space ?? packagePath(DEFAULT_SPACE);
  const space = loadSpaceConfig(spaceFile);
  let constraint: Constraint | null = null;
  if (opts.flopsRange !== undefined) {
    constraint = parseFlopsRange(opts.flopsRange, (t) => parseQuantity(t, "--flops-range"));
    checkSatisfiable(space, constraint, `--flops-range ${opts.flopsRange}`);
  }
  const out = opts.out ?? `runs/${space.name}`;
  const hint = resumeCommand("train-supernet", out, opts);
  return execute(await prepareFresh("train-supernet", { space }, constraint, opts, out), opts, io, hint);
}

export async function trainModelCommand(
  modelFile: string,
  opts: CommonTrainOptions,
  io: Io,
): Promise<TrainCommandResult> {
  if (opts.resume) {
    if (!opts.out) throw new UsageError("--resume needs --out DIR (the run to continue)");
    const hint = resumeCommand("train", opts.out, opts, modelFile);
    return execute(await prepareResume("train", opts, opts.out), opts, io, hint);
  }
  const model = loadModelConfig(modelFile);
  const out = opts.out ?? `runs/${basename(model.name)}`;
  const hint = resumeCommand("train", out, opts, modelFile);
  return execute(await prepareFresh("train", { model }, null, opts, out), opts, io, hint);
}
