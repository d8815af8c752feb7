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
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
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
  type Interval,
  kendallTau,
  spearmanRho,
  stratifiedArchs,
} from "../search/rankcorr.js";
import { readJsonl, sealJournal } from "../searchrun/journal.js";
import { type Arch, formatArch, materialize, parseArch } from "../space/arch.js";
import { archCost } from "../space/sample.js";
import { spaceStats } from "../space/stats.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { loadRunData } from "../train/run.js";
import { finishedRecord, newRunSnapshot, RunDir, type RunSnapshot } from "../train/rundir.js";
import { removeStaleTempFiles } from "../util/debris.js";
import { writeFileAtomic } from "../util/fs.js";
import { acquireLock } from "../util/lock.js";
import { createLogger, type Logger, setLogger } from "../util/log.js";
import { Rng } from "../util/rng.js";
import { installStopHandlers, type StopFlag } from "../util/signals.js";
import { grouped, human } from "../util/units.js";

/** How a study is started; the command builds it from its flags. */
export interface RankCorrOptions {
  run: string;
  /** The study's folder in the run directory (default rank-corr): several studies of one supernet. */
  name?: string;
  /** Subnets to train (default 12, at least 3). */
  samples?: number;
  /** Epochs of every from-scratch training (default: the run's recipe's). */
  epochs?: number;
  /** Seed of the architecture draw and of the validation subset (default 0). */
  seed?: number;
  /** Validation images both accuracies are measured on (default all). */
  valImages?: number;
  /** Only architectures under this many FLOPs (default the whole space); `flopsText` as written. */
  maxFlops?: number;
  flopsText?: string;
  /** How the subnets are drawn: one per FLOPs stratum (default), or all within ±5% of `maxFlops`. */
  sampling?: "strata" | "band";
  /** From-scratch trainings per subnet, seeds run seed + 0, 1, … (default 2: their τ is the ceiling). */
  scratchSeeds?: number;
  /** Reuse this finished study's subnets and from-scratch accuracies (another supernet's); train nothing. */
  scratchFrom?: string;
  /** Train the subnets on psvit workers through a BullMQ queue (`--queue`, `--artifacts`). */
  queue?: { address: import("../queue/url.js").QueueAddress; artifacts: string };
  backend?: string;
  resume?: boolean;
  force?: boolean;
  /** Draw progress bars (a terminal). */
  tty?: boolean;
  /** Tests: log level of the console logger. */
  logLevel?: string;
  /** Tests: batches prepared ahead (0: synchronous). */
  prefetch?: number;
  /** Tests: stop as if interrupted after this many subnets of this process. */
  stopAfterSamples?: number;
  /** Tests: stop as if interrupted after this many training steps of a subnet. */
  stopAfterSteps?: number;
}

/** One architecture of the study, as drawn. */
export interface PlannedSample {
  /** 1-based, in order of FLOPs stratum. */
  index: number;
  arch: string;
  flops: number;
  params: number;
  stratum: { minFlops: number; maxFlops: number };
}

/** What rank-corr.json records. */
export interface RankCorrSnapshot {
  kind: "psvit.rank-corr";
  version: 1;
  created: string;
  seed: number;
  samples: number;
  epochs: number;
  /** -1: every validation image. */
  valImages: number;
  constraint: FlopsBounds;
  /** The supernet checkpoint the inherited accuracies come from (file relative to the run directory). */
  checkpoint: { step: number; file: string };
  sampling: "flops-strata" | "flops-band";
  /** From-scratch trainings per subnet (absent in older studies: 1). */
  scratchSeeds?: number;
  /**
   * The study folder (absolute) whose subnets and from-scratch accuracies this study reuses, measuring
   * only this supernet's inherited ones (`--scratch-from`); absent: this study trained its own.
   */
  scratchFrom?: string;
  plan: PlannedSample[];
}

/** A journal line: one finished subnet. */
export interface RankCorrSample {
  index: number;
  arch: string;
  flops: number;
  params: number;
  /** Validation top-1 with the supernet's inherited weights. */
  inherited: number;
  /** Validation top-1 after training from scratch (the mean over `scratchBySeed`). */
  scratch: number;
  /** Validation top-1 of each from-scratch training (training seed run seed + k); absent in older journals. */
  scratchBySeed?: number[];
  /** Training and evaluation time of the subnet (in the process that finished it). */
  seconds: number;
}

export interface RankCorrResult {
  /** Kendall's τ-b of inherited vs from-scratch (mean over seeds); null where undefined (a constant side). */
  kendallTau: number | null;
  /** Its 95% bootstrap interval (resampling subnets). */
  kendallTauCi: Interval | null;
  /** Spearman's ρ; null where undefined. */
  spearmanRho: number | null;
  /** τ of inherited vs each seed's from-scratch accuracy: comparable with the ceiling. */
  perSeedTau: (number | null)[];
  /**
   * The ceiling: τ between two seeds of the same from-scratch training (seed 0 vs 1), with its interval;
   * null with one seed. `ratio`: the mean of `perSeedTau` over the ceiling (goal ≥ 0.7).
   */
  ceiling: { kendallTau: number | null; ci: Interval | null; ratio: number | null } | null;
  sampling: RankCorrSnapshot["sampling"];
  scratchSeeds: number;
  /** The study whose from-scratch accuracies were reused (`--scratch-from`); null: trained here. */
  scratchFrom: string | null;
  n: number;
  epochs: number;
  valImages: number;
  constraint: FlopsBounds;
  checkpoint: { step: number; file: string };
  pairs: RankCorrSample[];
}

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
    const data = await loadRunData(snap);
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
        train: publishDataset(q.artifacts, data.train, "training split"),
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
      const inherited = pathAccuracy(net, arch, set);
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

/**
 * `--scratch-from STUDY`: a finished study of another supernet of the same space, data and
 * preprocessing; the new study takes its subnets, epochs, seeds and validation set and trains nothing,
 * so several supernets are ranked against one ground truth.
 */
function planFrom(from: string, snap: RunSnapshot, run: RunDir): RankCorrSnapshot {
  const dir = resolve(from);
  const file = join(dir, "rank-corr.json");
  if (!existsSync(file)) {
    throw new UsageError(`--scratch-from ${from}: not a rank-corr study folder (no rank-corr.json in it)`);
  }
  const source = JSON.parse(readFileSync(file, "utf8")) as RankCorrSnapshot;
  if (source.scratchFrom) {
    throw new UsageError(
      `--scratch-from ${from}: that study reuses ${source.scratchFrom}'s from-scratch accuracies; name that one instead`,
    );
  }
  const sourceRun = join(dir, "..", "run.json");
  if (!existsSync(sourceRun))
    throw new UsageError(`--scratch-from ${from}: no run.json in the folder above it`);
  const other = JSON.parse(readFileSync(sourceRun, "utf8")) as RunSnapshot;
  for (const [what, a, b] of [
    ["search space", other.space, snap.space],
    ["data", dataIdentity(other), dataIdentity(snap)],
    ["preprocessing", other.preprocess, snap.preprocess],
  ] as const) {
    if (canonical(a) !== canonical(b)) {
      throw new UsageError(
        `--scratch-from ${from}: its supernet was trained with another ${what} than ${run.dir}'s; the accuracies would not compare`,
      );
    }
  }
  const ckpt = run.latestCheckpoint();
  if (!ckpt) throw new UsageError(`${run.dir} has no checkpoint yet: train the supernet first`);
  const settings: RankCorrSnapshot = {
    ...source,
    created: new Date().toISOString(),
    checkpoint: { step: ckpt.step, file: relative(run.dir, ckpt.file) },
    scratchFrom: dir,
  };
  scratchSource(dir, settings); // every subnet must be finished there
  return settings;
}

/** The reused study's journal, checked complete (every subnet, every seed). */
function scratchSource(dir: string, settings: RankCorrSnapshot): { byArch: Map<string, RankCorrSample> } {
  const journal = join(dir, "samples.jsonl");
  const { entries } = existsSync(journal)
    ? readJsonl(journal, isSample)
    : { entries: [] as RankCorrSample[] };
  const byArch = new Map(entries.map((e) => [e.arch, e]));
  const seeds = settings.scratchSeeds ?? 1;
  const missing = settings.plan.filter((p) => {
    const e = byArch.get(p.arch);
    return !e || (e.scratchBySeed?.length ?? 1) < seeds;
  });
  if (missing.length) {
    throw new UsageError(
      `--scratch-from ${dir}: ${missing.length} of its ${settings.plan.length} subnets are not finished (first: ${missing[0].arch}); finish it with psvit rank-corr --resume first`,
    );
  }
  return { byArch };
}

/** What makes two runs' data the same (where its files are does not). */
function dataIdentity(s: RunSnapshot): unknown {
  const { location: _where, ...info } = s.data.info;
  return info;
}

/** JSON with sorted keys: equal for equal data whatever the key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
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
    const top1 = setAccuracy((x) => net.forward(x), j.set);
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

const isSample = (e: unknown): e is RankCorrSample =>
  typeof e === "object" &&
  e !== null &&
  typeof (e as RankCorrSample).arch === "string" &&
  typeof (e as RankCorrSample).inherited === "number" &&
  typeof (e as RankCorrSample).scratch === "number";

/** The journal's finished subnets (a line cut short by a crash is skipped and counted). */
function readSamples(file: string): { entries: RankCorrSample[]; skipped: number } {
  sealJournal(file);
  return readJsonl(file, isSample);
}

export const UNDEFINED_NOTE =
  "(undefined: every subnet has the same inherited or the same from-scratch accuracy; " +
  "a longer-trained supernet, more --epochs or more --val-images separate them)";
export const pct = (a: number) => `${(a * 100).toFixed(2)}%`;
export const fmtCorr = (r: number | null) => (r === null ? "undefined" : r.toFixed(3));

async function writeReport(file: string, spaceName: string, r: RankCorrResult): Promise<void> {
  const { renderSvg, htmlReport } = await import("../report/html.js");
  const { scatterSpec } = await import("../report/search.js");
  const budget = r.constraint.maxFlops;
  const images = r.valImages > 0 ? `${r.valImages} validation images` : "every validation image";
  const svg = await renderSvg(
    scatterSpec(
      r.pairs.map((s) => ({ ...s, label: String(s.index) })),
      r.kendallTau ?? Number.NaN,
      r.spearmanRho ?? Number.NaN,
      `${spaceName}: from-scratch vs inherited accuracy`,
    ),
  );
  const html = htmlReport(`psvit rank-corr: ${spaceName}`, [
    {
      heading: "Summary",
      text:
        `Kendall τ-b = ${fmtCorr(r.kendallTau)}${r.kendallTauCi ? ` (95% bootstrap interval ${r.kendallTauCi.lo.toFixed(2)} to ${r.kendallTauCi.hi.toFixed(2)})` : ""}, Spearman ρ = ${fmtCorr(r.spearmanRho)} over ${r.n} subnets ` +
        (r.sampling === "flops-band"
          ? `drawn uniformly within ±5% of ${human(budget ?? 0)}FLOPs. `
          : `drawn one per FLOPs stratum${budget !== undefined ? ` under ${human(budget)}FLOPs` : ""}. `) +
        (r.ceiling
          ? `Ceiling: τ between two seeds of the same from-scratch training = ${fmtCorr(r.ceiling.kendallTau)}${r.ceiling.ci ? ` (${r.ceiling.ci.lo.toFixed(2)} to ${r.ceiling.ci.hi.toFixed(2)})` : ""}; the supernet's τ against single seeds is ${r.perSeedTau.map(fmtCorr).join(" / ")}${r.ceiling.ratio !== null ? `, ${r.ceiling.ratio.toFixed(2)} × the ceiling` : ""}. `
          : "") +
        `Inherited: validation top-1 with the supernet's weights (checkpoint step ${r.checkpoint.step}); ` +
        `from scratch: validation top-1 after ${r.epochs} epoch(s) of the run's recipe${r.scratchFrom ? ` (trained by the study in ${r.scratchFrom})` : ""}; both on the same ${images}.` +
        (r.kendallTau === null ? ` ${UNDEFINED_NOTE}` : ""),
    },
    { heading: "From-scratch vs inherited accuracy (labels: subnet number)", svg },
    {
      heading: "Subnets",
      table: {
        head: [
          "architecture",
          "#",
          "MFLOPs",
          "M params",
          "inherited top-1",
          "from-scratch top-1 (per seed)",
          "seconds",
        ],
        rows: r.pairs.map((s) => [
          s.arch,
          s.index,
          (s.flops / 1e6).toFixed(2),
          (s.params / 1e6).toFixed(3),
          pct(s.inherited),
          s.scratchBySeed && s.scratchBySeed.length > 1
            ? s.scratchBySeed.map(pct).join(" / ")
            : pct(s.scratch),
          s.seconds.toFixed(1),
        ]),
      },
    },
  ]);
  await writeFileAtomic(file, new TextEncoder().encode(html));
}
