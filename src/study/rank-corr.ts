/**
 * The rank-correlation study (`psvit rank-corr --run DIR --samples 12 [--epochs E]`): how well the
 * supernet ranks architectures.
 * Trains `samples` subnets from scratch with the run's recipe (its epochs overridden by --epochs), data,
 * seed and normalisation, and compares their validation top-1 with the top-1 the same paths reach with
 * the supernet's inherited weights (latest checkpoint), on the same validation images (the fitness set
 * of `psvit search`: a seeded subset of --val-images images, all by default). Prints Kendall's τ-b and
 * Spearman's ρ.
 *
 * The subnets are drawn one per FLOPs stratum (equal-count quantile bins of the space under --flops;
 * see src/search/rankcorr.ts), so they spread over the whole cost range.
 *
 * Everything lives in DIR/rank-corr/:
 *   rank-corr.json      settings and the drawn architectures (a resumed study takes both from here)
 *   samples.jsonl       journal, one line per finished subnet (arch, flops, params, inherited, scratch,
 *                       seconds): `--resume` trains nothing that is in it
 *   subnets/NN-ARCH/    each subnet's training run (a `psvit train` run directory: run.json, metrics.jsonl;
 *                       checkpoints while it trains, so an interrupted subnet resumes where it stopped,
 *                       removed once the subnet is in the journal: only its accuracy is needed)
 *   result.json         τ, ρ, n and the pairs;  report.html: the scatter plot (no scripts) and the table
 *   log.jsonl           the JSON log
 *
 * Beside it: ./rank-corr-types.ts (options, snapshot, journal lines, result), ./rank-corr-reuse.ts
 * (`--scratch-from`), ./rank-corr-report.ts (report.html).
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { relative } from "node:path";
import { parseRecipe } from "../config/recipe.js";
import type { ModelConfig } from "../config/schema.js";
import { parseSpaceConfig } from "../config/validate.js";
import type { ResolvedData } from "../data/resolve.js";
import { startBackend } from "../engine/start.js";
import { InterruptedError, UsageError } from "../errors.js";
import type { FitnessSet } from "../eval/fitness.js";
import {
  bandArchs,
  bootstrapCi,
  type FlopsBounds,
  kendallTau,
  spearmanRho,
  stratifiedArchs,
} from "../search/rankcorr.js";
import { readJsonl } from "../searchrun/journal.js";
import { type Arch, formatArch, materialize, parseArch } from "../space/arch.js";
import { archCost } from "../space/sample.js";
import { spaceStats } from "../space/stats.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { loadRunData } from "../train/run.js";
import { finishedRecord, newRunSnapshot, RunDir, type RunSnapshot } from "../train/rundir.js";
import { removeStaleTempFiles } from "../util/debris.js";
import { acquireLock } from "../util/lock.js";
import { createLogger, type Logger, setLogger } from "../util/log.js";
import { Rng } from "../util/rng.js";
import { installStopHandlers, type StopFlag } from "../util/signals.js";
import { grouped, human } from "../util/units.js";
import { pct, writeReport } from "./rank-corr-report.js";
import { planFrom, scratchSource } from "./rank-corr-reuse.js";
import {
  type PlannedSample,
  type RankCorrOptions,
  type RankCorrResult,
  type RankCorrSample,
  type RankCorrSnapshot,
  readSamples,
} from "./rank-corr-types.js";

export { fmtCorr, pct, UNDEFINED_NOTE } from "./rank-corr-report.js";
export type {
  PlannedSample,
  RankCorrOptions,
  RankCorrResult,
  RankCorrSample,
  RankCorrSnapshot,
} from "./rank-corr-types.js";

/** The study's folder in the run directory when `--name` is not given. */
export const DEFAULT_STUDY = "rank-corr";
const STUDY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED = new Set(["checkpoints", "search", "export", "logs"]);

/** `--name`: a plain folder name that no other part of a run directory uses. */
export function checkStudyName(name: string): string {
  if (!STUDY_NAME.test(name) || RESERVED.has(name)) {
    throw new UsageError(
      `--name: expected a folder name of letters, digits, '.', '_' or '-' (not ${[...RESERVED].join(", ")}), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** A rank-corr study of a run: one process per study at a time (the lock is in the run directory). */
export async function rankCorrStudy(opts: RankCorrOptions): Promise<RankCorrResult & { report: string }> {
  const run = RunDir.existing(opts.run);
  const DIR = checkStudyName(opts.name ?? DEFAULT_STUDY);
  if (opts.queue) {
    // before anything is written: an unreachable queue or a missing store changes nothing
    const { checkRedis } = await import("../queue/redis.js");
    const { checkArtifactsDir } = await import("../queue/artifacts.js");
    checkArtifactsDir(opts.queue.artifacts);
    await checkRedis(opts.queue.address);
  }
  const lock = acquireLock(run.path(`.psvit-${DIR}.lock`), `the rank-corr study ${DIR}/ of ${opts.run}`);
  try {
    removeStaleTempFiles(run.path(DIR)); // what a killed study was writing (subnets: RunDir.open)
    return await study(opts, run, DIR);
  } finally {
    lock.release();
  }
}

async function study(
  opts: RankCorrOptions,
  run: RunDir,
  DIR: string,
): Promise<RankCorrResult & { report: string }> {
  const snap = run.readJson<RunSnapshot>("run.json");
  if (snap.command !== "train-supernet" || !snap.space) {
    throw new UsageError(`${opts.run} is a ${snap.command} run; rank-corr needs a train-supernet run`);
  }
  const space = parseSpaceConfig(snap.space);
  const settingsFile = `${DIR}/rank-corr.json`;

  let settings: RankCorrSnapshot;
  if (opts.resume) {
    if (!existsSync(run.path(settingsFile))) {
      throw new UsageError(`${opts.run}: no rank-corr to resume (no ${settingsFile})`);
    }
    settings = run.readJson<RankCorrSnapshot>(settingsFile);
  } else {
    if (existsSync(run.path(settingsFile)) && !opts.force) {
      throw new UsageError(
        `${opts.run} already holds a rank-corr study (${DIR}/); add --resume to continue it or --force to replace it`,
      );
    }
    settings = opts.scratchFrom ? planFrom(opts.scratchFrom, snap, run) : plan(opts, snap, space, run);
    rmSync(run.path(DIR), { recursive: true, force: true });
  }
  // another supernet's study whose subnets and from-scratch accuracies this one reuses
  const reused = settings.scratchFrom ? scratchSource(settings.scratchFrom, settings).byArch : undefined;
  const checkpointFile = run.path(settings.checkpoint.file);
  if (!existsSync(checkpointFile)) {
    throw new UsageError(`the supernet checkpoint of the study is gone: ${checkpointFile}`);
  }

  mkdirSync(run.path(DIR, "subnets"), { recursive: true });
  const logger = createLogger({
    file: run.path(DIR, "log.jsonl"),
    ...(opts.logLevel ? { level: opts.logLevel } : {}),
  });
  setLogger(logger);
  if (!opts.resume) await run.writeJson(settingsFile, settings);

  const journalFile = run.path(DIR, "samples.jsonl");
  const { entries, skipped } = readSamples(journalFile);
  if (skipped) logger.warn(`${skipped} unreadable line(s) in samples.jsonl skipped (an interrupted write)`);
  const done = new Map(entries.map((e) => [e.arch, e]));
  const pending = settings.plan.filter((p) => !done.has(p.arch));
  logger.info(
    `rank-corr of ${space.name}: ${settings.samples} subnets (${settings.plan.length - pending.length} done), ` +
      `${settings.epochs} epoch(s) from scratch each, inherited weights from step ${settings.checkpoint.step}`,
  );

  if (pending.length > 0) {
    const backend = await startBackend(opts.backend, { training: true });
    const loaded = await loadRunData(snap);
    // an image folder's splits are decoded here (eval transform) for the fitness set and the queue
    const { materialize: inMemorySplit } = await import("../data/stream/split.js");
    const data = { ...loaded, val: await inMemorySplit(loaded.val, snap.data.skipBadImages) };
    const { fitnessSet, pathAccuracy, supernetFromCheckpoint } = await import("../eval/fitness.js");
    const set = fitnessSet(
      data.val,
      snap.preprocess,
      settings.seed,
      settings.valImages > 0 ? settings.valImages : undefined,
    );
    const net = await supernetFromCheckpoint(checkpointFile, space);
    const stop = installStopHandlers();
    let trainedHere = 0;
    const seeds = settings.scratchSeeds ?? 1;
    // through the queue (--queue): the splits and the fitness set go to the artifact store, every
    // subnet's trainings are queued at once and run on psvit workers; else one after the other here
    let client: import("../queue/evaluator.js").QueueClient | undefined;
    let queued: ((p: PlannedSample, k: number, arch: Arch) => Promise<number>) | undefined;
    if (opts.queue && !reused) {
      const q = opts.queue;
      const { openQueue } = await import("../queue/evaluator.js");
      const { encodeFitnessSet, publishBytes, publishDataset } = await import("../queue/artifacts.js");
      const { trainJobId } = await import("../queue/jobs.js");
      const { PSVIT_VERSION } = await import("../version.js");
      const refs = {
        train: publishDataset(
          q.artifacts,
          await inMemorySplit(data.train, snap.data.skipBadImages),
          "training split",
        ),
        val: publishDataset(q.artifacts, data.val, "validation split"),
        fitness: publishBytes(q.artifacts, encodeFitnessSet(set), ".fitset", "fitness set"),
      };
      client = await openQueue(q.address, logger);
      logger.info(
        `queue ${q.address.url}: trainings go to BullMQ; run workers with: psvit worker --queue ${q.address.url} --artifacts ${q.artifacts}`,
      );
      const c = client;
      queued = async (p, k, arch) => {
        const job: import("../queue/jobs.js").TrainJob = {
          kind: "train-scratch",
          psvit: PSVIT_VERSION,
          model: materialize(space, arch),
          recipe: parseRecipe({ ...snap.recipe, epochs: settings.epochs }),
          seed: snap.seed + k,
          preprocess: snap.preprocess,
          augment: data.info.augment,
          ...refs,
          ...(settings.valImages > 0 ? { evalImages: settings.valImages } : {}),
          backend: backend.name === "tensorflow-gpu" ? "tensorflow" : backend.name,
          label: `subnet ${p.index}/${settings.samples} ${p.arch} seed ${snap.seed + k}`,
        };
        const r = await c.run<import("../queue/jobs.js").TrainResult>(
          "train-scratch",
          trainJobId(job),
          job,
          `subnet ${p.index} ${p.arch} seed ${snap.seed + k}`,
        );
        return r.top1;
      };
    }
    const subnet = async (p: PlannedSample) => {
      const arch = parseArch(p.arch);
      const inherited = await pathAccuracy(net, arch, set);
      const started = performance.now();
      const scratchBySeed: number[] = reused?.get(p.arch)?.scratchBySeed?.slice() ?? [];
      if (queued) {
        const ks = Array.from({ length: seeds - scratchBySeed.length }, (_, i) => scratchBySeed.length + i);
        scratchBySeed.push(...(await Promise.all(ks.map((k) => queued(p, k, arch)))));
      }
      for (let k = scratchBySeed.length; k < seeds; k++) {
        scratchBySeed.push(
          await trainFromScratch({
            dir: DIR,
            p,
            k,
            arch,
            settings,
            snap,
            space,
            run,
            data,
            set,
            backend,
            logger,
            stop: stop.flag,
            opts,
          }),
        );
      }
      const scratch = scratchBySeed.reduce((a, b) => a + b, 0) / seeds;
      const sample: RankCorrSample = {
        index: p.index,
        arch: p.arch,
        flops: p.flops,
        params: p.params,
        inherited,
        scratch,
        scratchBySeed,
        seconds: Math.round(((performance.now() - started) / 1000) * 100) / 100,
      };
      run.appendJsonl(`${DIR}/samples.jsonl`, sample);
      done.set(p.arch, sample);
      if (!reused && !queued) {
        for (let k = 0; k < seeds; k++) RunDir.open(subnetDir(run, DIR, p, k), { resume: true }).prune(0);
      }
      logger.info(
        { sample: p.index },
        `subnet ${p.index}/${settings.samples} ${p.arch} (${human(p.flops)}FLOPs): inherited ${pct(inherited)}, from scratch ${scratchBySeed.map(pct).join(" / ")}`,
      );
    };
    try {
      if (queued) {
        // every finished subnet is journaled as it arrives; an interrupted driver resumes with --resume
        await Promise.all(pending.map(subnet));
      } else {
        for (const p of pending) {
          if (stop.flag.signal) throw interrupted(opts.run, DIR, null, settings, stop.flag.signal);
          await subnet(p);
          trainedHere++;
          const signal =
            stop.flag.signal ??
            (opts.stopAfterSamples !== undefined && trainedHere >= opts.stopAfterSamples ? "SIGINT" : null);
          if (signal && done.size < settings.plan.length)
            throw interrupted(opts.run, DIR, null, settings, signal);
        }
      }
    } finally {
      stop.dispose();
      net.dispose();
      await client?.close();
    }
  }

  const pairs = settings.plan.map((p) => done.get(p.arch)!);
  const x = pairs.map((s) => s.inherited);
  const y = pairs.map((s) => s.scratch);
  const orNull = (r: number) => (Number.isNaN(r) ? null : r);
  const seeds = settings.scratchSeeds ?? 1;
  const bySeed = (k: number) => pairs.map((s) => s.scratchBySeed?.[k] ?? s.scratch);
  const boot = (a: number[], b: number[], salt: number) =>
    bootstrapCi(a, b, kendallTau, new Rng(settings.seed ^ salt));
  const perSeedTau = Array.from({ length: seeds }, (_, k) => orNull(kendallTau(x, bySeed(k))));
  let ceiling: RankCorrResult["ceiling"] = null;
  if (seeds >= 2) {
    const c = orNull(kendallTau(bySeed(0), bySeed(1)));
    const defined = perSeedTau.filter((t): t is number => t !== null);
    const mean = defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
    ceiling = {
      kendallTau: c,
      ci: boot(bySeed(0), bySeed(1), 0xce11),
      ratio: c !== null && c > 0 && mean !== null ? mean / c : null,
    };
  }
  const result: RankCorrResult = {
    kendallTau: orNull(kendallTau(x, y)),
    kendallTauCi: boot(x, y, 0xb007),
    spearmanRho: orNull(spearmanRho(x, y)),
    perSeedTau,
    ceiling,
    sampling: settings.sampling,
    scratchSeeds: seeds,
    scratchFrom: settings.scratchFrom ?? null,
    n: pairs.length,
    epochs: settings.epochs,
    valImages: settings.valImages,
    constraint: settings.constraint,
    checkpoint: settings.checkpoint,
    pairs,
  };
  await run.writeJson(`${DIR}/result.json`, result);
  const report = run.path(DIR, "report.html");
  await writeReport(report, space.name, result);
  return { ...result, report };
}

/** Validate the flags, draw the architectures, pick the checkpoint: the settings of a new study. */
function plan(
  opts: RankCorrOptions,
  snap: RunSnapshot,
  space: ReturnType<typeof parseSpaceConfig>,
  run: RunDir,
): RankCorrSnapshot {
  const samples = opts.samples ?? 12;
  const epochs = opts.epochs ?? snap.recipe.epochs;
  const seed = opts.seed ?? 0;
  const valImages = opts.valImages ?? -1;
  const constraint: FlopsBounds = {};
  if (opts.maxFlops !== undefined) {
    constraint.maxFlops = opts.maxFlops;
    const stats = spaceStats(space, constraint);
    if (stats.satisfying === 0n) {
      throw new UsageError(
        `--flops ${opts.flopsText ?? opts.maxFlops} is below the smallest architecture of ${space.name}, which needs ${human(stats.min)}FLOPs (${grouped(stats.min)})`,
      );
    }
  }
  const ckpt = run.latestCheckpoint();
  if (!ckpt) throw new UsageError(`${opts.run} has no checkpoint yet: train the supernet first`);
  const sampling = opts.sampling ?? "strata";
  if (sampling === "band" && constraint.maxFlops === undefined) {
    throw new UsageError("--sampling band draws within ±5% of the budget: give --flops BUDGET");
  }
  const rng = new Rng(seed ^ 0x7a0);
  const drawn =
    sampling === "band"
      ? bandArchs(space, constraint.maxFlops!, samples, rng)
      : stratifiedArchs(space, constraint, samples, rng);
  return {
    kind: "psvit.rank-corr",
    version: 1,
    created: new Date().toISOString(),
    seed,
    samples,
    epochs,
    valImages,
    constraint,
    checkpoint: { step: ckpt.step, file: relative(run.dir, ckpt.file) },
    sampling: sampling === "band" ? "flops-band" : "flops-strata",
    scratchSeeds: opts.scratchSeeds ?? 2,
    plan: drawn.map((d, i) => ({
      index: i + 1,
      arch: formatArch(d.arch),
      ...archCost(space, d.arch),
      stratum: d.stratum,
    })),
  };
}

/** Subnet `p`'s training with seed k (k = 0: the folder of older studies, too). */
function subnetDir(run: RunDir, DIR: string, p: PlannedSample, k = 0): string {
  return run.path(DIR, "subnets", `${String(p.index).padStart(2, "0")}-${p.arch}${k > 0 ? `-seed${k}` : ""}`);
}

/** The error of an interrupted study: `p` is the subnet that was training (null: between subnets). */
function interrupted(
  runArg: string,
  DIR: string,
  p: PlannedSample | null,
  s: RankCorrSnapshot,
  signal: "SIGINT" | "SIGTERM",
): InterruptedError {
  const where = p ? `while training subnet ${p.index}/${s.samples} (checkpoint written)` : "between subnets";
  return new InterruptedError(
    `interrupted ${where}; every finished subnet is in ${DIR}/samples.jsonl. Continue with: psvit rank-corr --run ${runArg}${DIR === DEFAULT_STUDY ? "" : ` --name ${DIR}`} --resume`,
    signal,
  );
}

interface SubnetJob {
  /** The study's folder in the run directory. */
  dir: string;
  p: PlannedSample;
  /** Which from-scratch training: seed run seed + k. */
  k: number;
  arch: Arch;
  settings: RankCorrSnapshot;
  snap: RunSnapshot;
  space: ReturnType<typeof parseSpaceConfig>;
  run: RunDir;
  data: ResolvedData;
  set: FitnessSet;
  backend: { name: string; reason: string };
  logger: Logger;
  stop: StopFlag;
  opts: RankCorrOptions;
}

/**
 * Train one subnet from scratch in its own `psvit train` run directory (continuing from its checkpoint
 * when an earlier process was interrupted in it) and return its top-1 on the fitness set.
 */
async function trainFromScratch(j: SubnetJob): Promise<number> {
  const { p, k, settings, snap, logger } = j;
  const seed = snap.seed + k;
  const { HvtModel } = await import("../model/hvt.js");
  const { modelTarget } = await import("../train/targets.js");
  const { runTraining } = await import("../train/run.js");
  const model: ModelConfig = materialize(j.space, j.arch);
  const recipe = parseRecipe({ ...snap.recipe, epochs: settings.epochs });
  const dir = subnetDir(j.run, j.dir, p, k);
  // a training an earlier process finished (the study stopped before the subnet's other seeds)
  const finished = finishedFitness(dir);
  if (j.opts.resume && finished !== null) return finished;

  let sub: RunDir;
  let resume: Awaited<ReturnType<typeof loadCheckpoint>> | undefined;
  const latest =
    existsSync(dir) && existsSync(`${dir}/run.json`) ? RunDir.existing(dir).latestCheckpoint() : undefined;
  if (j.opts.resume && latest) {
    sub = RunDir.open(dir, { resume: true });
    resume = await loadCheckpoint(latest.file);
    logger.info(`subnet ${p.index} (seed ${seed}): continuing its training at step ${resume.meta.step}`);
  } else {
    rmSync(dir, { recursive: true, force: true });
    sub = RunDir.open(dir);
    const snapshot = newRunSnapshot({
      command: "train",
      seed,
      model,
      recipe,
      flopsRange: null,
      data: snap.data,
      preprocess: snap.preprocess,
      evalPaths: [{ label: "model", arch: null, flops: p.flops }],
      backend: j.backend,
      args: { rankCorr: j.run.dir, sample: p.index, arch: p.arch, epochs: settings.epochs, scratchSeed: k },
    });
    await sub.writeJson("run.json", snapshot);
  }

  const net = HvtModel.create(model, { seed });
  try {
    const started = performance.now();
    const result = await runTraining({
      label: `subnet ${p.index}/${settings.samples}${(settings.scratchSeeds ?? 1) > 1 ? ` seed ${seed}` : ""}`,
      target: modelTarget(net, model),
      evalPaths: [{ label: "model", arch: null, flops: p.flops }],
      data: j.data,
      preprocess: snap.preprocess,
      recipe,
      seed,
      run: sub,
      logger,
      resume,
      stop: j.stop,
      stopAfterSteps: j.opts.stopAfterSteps,
      prefetch: j.opts.prefetch,
      evalImages: settings.valImages > 0 ? settings.valImages : undefined,
      tty: j.opts.tty,
    }).catch((e) => {
      if (e instanceof InterruptedError) {
        throw interrupted(j.opts.run, j.dir, p, settings, e.exitCode === 130 ? "SIGINT" : "SIGTERM");
      }
      throw e;
    });
    const { setAccuracy } = await import("../eval/fitness.js");
    const top1 = await setAccuracy((x) => net.forward(x), j.set);
    sub.appendJsonl("metrics.jsonl", { type: "eval", step: result.steps, split: "fitness-set", top1 });
    const snapshot = sub.readJson<RunSnapshot>("run.json");
    snapshot.finished = finishedRecord(result, (performance.now() - started) / 1000);
    await sub.writeJson("run.json", snapshot);
    return top1;
  } finally {
    net.dispose();
  }
}

/** The fitness-set top-1 a finished training of a subnet recorded (null: not finished). */
function finishedFitness(dir: string): number | null {
  if (!existsSync(`${dir}/run.json`)) return null;
  const sub = RunDir.existing(dir);
  if (!sub.readJson<RunSnapshot>("run.json").finished || !existsSync(sub.path("metrics.jsonl"))) return null;
  const { entries } = readJsonl(
    sub.path("metrics.jsonl"),
    (e: unknown): e is { split: string; top1: number } =>
      typeof e === "object" && e !== null && (e as { split?: string }).split === "fitness-set",
  );
  return entries.at(-1)?.top1 ?? null;
}
