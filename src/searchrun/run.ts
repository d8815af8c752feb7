/**
 * A search run: evolutionary (or random) search of a trained supernet under a FLOPs (and params) budget,
 * fitness = validation top-1 with inherited weights. Everything lives in RUN/search-<strategy>/:
 * search.json (settings, ./snapshot.ts), candidates.jsonl (the journal, ./journal.ts), state.json
 * (after every generation), result.json and report.html (./report.ts). One process at a time per
 * strategy (a lock in the run directory). Takes plain options (the command parses the flags).
 */

import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import { parseSpaceConfig } from "../config/validate.js";
import { materialize } from "../data/stream/split.js";
import { startBackend } from "../engine/start.js";
import { InterruptedError, UsageError } from "../errors.js";
import type { QueueAddress } from "../queue/url.js";
import {
  type Evaluated,
  paretoFront,
  type SearchDeps,
  type SearchOptions,
  type SearchState,
  type Strategy,
} from "../search/evolution.js";
import { DEFAULT_RESCORE_TOP, type FinalStage, finalStage } from "../search/rescore.js";
import { accuracySe } from "../search/significance.js";
import { restoreSearch, startSearch } from "../search/strategies.js";
import { type Arch, formatArch, parseArch } from "../space/arch.js";
import { archCost } from "../space/sample.js";
import { ConstrainedSampler, type Constraint, spaceStats } from "../space/stats.js";
import { loadRunData } from "../train/run.js";
import { RunDir, type RunSnapshot } from "../train/rundir.js";
import { removeStaleTempFiles } from "../util/debris.js";
import { acquireLock } from "../util/lock.js";
import { createLogger, setLogger } from "../util/log.js";
import { createProgress } from "../util/progress.js";
import { installStopHandlers } from "../util/signals.js";
import { grouped, human } from "../util/units.js";
import { readJournal, sealJournal } from "./journal.js";
import { writeSearchReport } from "./report.js";
import { readSearchSnapshot, type SearchResult, type SearchSnapshot, searchDirName } from "./snapshot.js";

/**
 * Default worker threads: one per core, at most 2 (2 measured fastest on 2 cores, docs/BENCHMARKS.md
 * "Search throughput"; each worker holds its own copy of the supernet).
 */
export function defaultWorkers(cores: number = os.availableParallelism()): number {
  return Math.max(1, Math.min(2, Math.floor(cores)));
}

/** A new search's settings (ignored by a resumed one, which takes them from search.json). */
export interface NewSearch {
  constraint: Constraint;
  /** As the user wrote them, for messages: `--flops 25M`, `--params 3M`. */
  flopsText?: string;
  paramsText?: string;
  options: SearchOptions;
  seed: number;
  /** Validation images each candidate is scored on (undefined: all). */
  valImages?: number;
  /** The top k re-scored on the whole validation split at the end (default 10; 0: none). */
  rescoreTop?: number;
  workers?: number;
}

export interface SearchRunOptions {
  /** The train-supernet run directory. */
  run: string;
  strategy: Strategy;
  resume?: boolean;
  /** Replace the search with this strategy that the run holds (only once the new one has started). */
  force?: boolean;
  /** A new search's settings: required unless `resume`. */
  search?: NewSearch;
  /** Worker threads of this process (default: the search's, or `defaultWorkers()`). */
  workers?: number;
  /** Evaluate through a BullMQ queue (workers: `psvit worker`) instead of this process's threads. */
  queue?: { address: QueueAddress; artifacts: string };
  backend?: string;
  logLevel?: string;
  /** Draw progress bars (a terminal). */
  tty?: boolean;
  /** Tests: stop as if interrupted after this many generations of this process. */
  stopAfterGenerations?: number;
}

/** What a search run returns: result.json's contents, and where its report and run are. */
export interface SearchRunResult extends SearchResult {
  /** report.html of the search. */
  report: string;
  /** The run directory (absolute). */
  runDir: string;
}

/** The search of a run: one process at a time per strategy (the lock is in the run directory). */
export async function runSearch(o: SearchRunOptions): Promise<SearchRunResult> {
  const run = RunDir.existing(o.run);
  if (o.queue) {
    // before anything is written: an unreachable queue or a missing store changes nothing
    const { checkRedis } = await import("../queue/redis.js");
    const { checkArtifactsDir } = await import("../queue/artifacts.js");
    checkArtifactsDir(o.queue.artifacts);
    await checkRedis(o.queue.address);
  }
  const lock = acquireLock(
    run.path(`.psvit-search-${o.strategy}.lock`),
    `the ${o.strategy} search of ${o.run}`,
  );
  try {
    removeStaleTempFiles(run.path(searchDirName(o.strategy))); // what a killed search was writing
    return await search(o, run);
  } finally {
    lock.release();
  }
}

/** The settings of a new search: validated against the space, the checkpoint picked. */
function newSettings(
  o: SearchRunOptions,
  run: RunDir,
  space: ReturnType<typeof parseSpaceConfig>,
): SearchSnapshot {
  const s = o.search;
  if (!s) throw new UsageError("--flops BUDGET is required, e.g. --flops 25M");
  const constraint = s.constraint;
  const stats = spaceStats(space, constraint);
  if (stats.satisfying === 0n) {
    if (stats.min > constraint.maxFlops!) {
      throw new UsageError(
        `--flops ${s.flopsText ?? constraint.maxFlops} is below the smallest architecture of ${space.name}, which needs ${human(stats.min)}FLOPs (${grouped(stats.min)})`,
      );
    }
    throw new UsageError(
      `no architecture of ${space.name} fits both --flops ${s.flopsText ?? constraint.maxFlops} and --params ${s.paramsText ?? constraint.maxParams}`,
    );
  }
  const ckpt = run.latestCheckpoint();
  if (!ckpt) throw new UsageError(`${o.run} has no checkpoint yet: train the supernet first`);
  return {
    kind: "psvit.search",
    version: 1,
    created: new Date().toISOString(),
    strategy: o.strategy,
    constraint,
    options: s.options,
    seed: s.seed,
    valImages: s.valImages ?? -1,
    rescoreTop: s.rescoreTop ?? DEFAULT_RESCORE_TOP,
    workers: s.workers ?? defaultWorkers(),
    // relative to the run, so the run can be moved or copied
    checkpoint: { step: ckpt.step, file: run.relativePath(ckpt.file) },
    spaceFraction: Number(stats.satisfying) / Number(stats.size),
  };
}

async function search(o: SearchRunOptions, run: RunDir): Promise<SearchRunResult> {
  const { strategy } = o;
  const snap = run.readJson<RunSnapshot>("run.json");
  if (snap.command !== "train-supernet" || !snap.space) {
    throw new UsageError(`${o.run} is a ${snap.command} run; search needs a train-supernet run`);
  }
  const space = parseSpaceConfig(snap.space);
  const dirName = searchDirName(strategy);
  const dir = run.path(dirName);
  const statePath = `${dirName}/state.json`;
  const journalPath = run.path(dirName, "candidates.jsonl");

  let settings: SearchSnapshot;
  /** --force over an existing search: the old one stays until the new one has started (below). */
  let replacing = false;
  if (o.resume) {
    settings = readSearchSnapshot(
      run,
      strategy,
      `${o.run}: no ${strategy} search to resume (no ${dirName}/search.json)`,
    );
  } else {
    if (existsSync(run.path(dirName, "search.json"))) {
      if (!o.force) {
        throw new UsageError(
          `${o.run} already holds ${strategy === "random" ? "a" : "an"} ${strategy} search (${dirName}/); add --resume to continue it or --force to replace it`,
        );
      }
      replacing = true;
    }
    settings = newSettings(o, run, space);
  }
  const checkpointFile = run.storedCheckpoint(settings.checkpoint.file);
  if (!existsSync(checkpointFile)) {
    throw new UsageError(`the supernet checkpoint the search uses is gone: ${checkpointFile}`);
  }
  const workers = o.workers ?? settings.workers;

  // a replaced search is written beside the old one and renamed over it once it has started: an option,
  // the data or the backend that fails leaves the old search as it was
  const staging = replacing ? `.${dirName}.new` : dirName;
  if (replacing) rmSync(run.path(staging), { recursive: true, force: true }); // an earlier attempt's
  const { fitnessSet, pathCorrect, supernetFromCheckpoint } = await import("../eval/fitness.js");
  const { createEvaluator, WorkerExitError } = await import("../eval/pool.js");
  let logger: ReturnType<typeof createLogger>;
  let evaluator: Awaited<ReturnType<typeof createEvaluator>>;
  let data: Awaited<ReturnType<typeof loadRunData>>;
  let fitnessImages: number;
  const c = settings.constraint;
  try {
    mkdirSync(run.path(staging), { recursive: true });
    logger = createLogger({
      file: run.path(staging, "log.jsonl"),
      ...(o.logLevel ? { level: o.logLevel } : {}),
    });
    setLogger(logger);
    if (!o.resume) await run.writeJson(`${staging}/search.json`, settings);
    logger.info(
      `${strategy} search of ${space.name} under ${human(c.maxFlops!)}FLOPs${c.maxParams ? ` and ${human(c.maxParams)} params` : ""}: ` +
        `the budget keeps ${(settings.spaceFraction * 100).toPrecision(3)}% of the space; ` +
        `${settings.options.population} × ${settings.options.generations} candidates, ${o.queue ? `through the queue ${o.queue.address.url}` : `${workers} worker(s)`}`,
    );

    const backend = await startBackend(o.backend);
    data = await loadRunData(snap);
    // an image folder's validation split is decoded once (eval transform): every candidate sees it
    const val = await materialize(data.val, snap.data.skipBadImages);
    data = { ...data, val };
    const set = fitnessSet(
      val,
      snap.preprocess,
      settings.seed,
      settings.valImages > 0 ? settings.valImages : undefined,
    );
    fitnessImages = set.n;
    const backendName =
      o.backend ??
      process.env.PSVIT_BACKEND ??
      (backend.name === "tensorflow-gpu" ? "tensorflow" : backend.name);
    if (o.queue) {
      const { createQueueEvaluator } = await import("../queue/evaluator.js");
      evaluator = await createQueueEvaluator({
        ...o.queue,
        checkpoint: checkpointFile,
        space,
        set,
        backend: backendName,
        logger,
      });
    } else {
      evaluator = await createEvaluator({
        checkpoint: checkpointFile,
        space,
        set,
        backend: backendName,
        workers,
      });
    }
  } catch (e) {
    if (replacing) rmSync(run.path(staging), { recursive: true, force: true });
    throw e;
  }
  if (replacing) {
    // the new search has started: now the old one goes (moved aside first, so one of them always exists)
    const old = run.path(`.${dirName}.old`);
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    renameSync(run.path(staging), dir);
    rmSync(old, { recursive: true, force: true });
  }

  sealJournal(journalPath);
  const { entries: journal, skipped } = readJournal(journalPath);
  if (skipped)
    logger.warn(`${skipped} unreadable line(s) in candidates.jsonl skipped (an interrupted write)`);
  const stop = installStopHandlers();
  const started = performance.now();
  let evaluatedHere = 0;
  let progress: ReturnType<typeof createProgress> | undefined;
  // candidates done in this generation and the best of them (for the progress line)
  let done = 0;
  let best = 0;
  let generationsHere = 0;
  const resumeHint = `psvit search --run ${o.run} --strategy ${strategy} --resume`;

  const sampler = new ConstrainedSampler(space, c);
  const deps: SearchDeps = {
    space,
    constraint: c,
    cost: (arch: Arch) => archCost(space, arch),
    propose: (rng) => sampler.sample(rng),
    parallel: Math.max(1, workers),
    evaluate: async (archs) => {
      return Promise.all(
        archs.map(async (arch) => {
          const key = formatArch(arch);
          const cached = journal.get(key);
          let accuracy: number;
          if (cached) accuracy = cached.accuracy;
          else {
            if (stop.flag.signal) throw new InterruptedError("interrupted", stop.flag.signal);
            accuracy = await evaluator.evaluate(arch);
            const record: Evaluated = {
              arch: key,
              ...archCost(space, arch),
              accuracy,
              se: accuracySe(accuracy, fitnessImages),
              generation: evolution.generation,
            };
            journal.set(key, record);
            run.appendJsonl(`${dirName}/candidates.jsonl`, record);
            evaluatedHere++;
          }
          best = Math.max(best, accuracy);
          progress?.update(++done, { best: `${(best * 100).toFixed(1)}%` });
          return accuracy;
        }),
      );
    },
  };

  const evolution = o.resume
    ? restoreSearch(deps, run.readJson<SearchState>(statePath))
    : startSearch(deps, settings.options, settings.seed);
  if (!o.resume) await run.writeJson(statePath, evolution.state());

  try {
    while (!evolution.done) {
      const g = evolution.generation;
      done = 0;
      best = 0;
      progress = createProgress(
        `generation ${g + 1}/${settings.options.generations}`,
        evolution.pending().length,
        logger,
        { tty: o.tty ?? false, unit: "candidates", everySeconds: 30 },
      );
      const summary = await evolution.step().catch((e) => {
        if (e instanceof InterruptedError) {
          throw new InterruptedError(
            `interrupted in generation ${g + 1}; every finished candidate is in candidates.jsonl. Continue with: ${resumeHint}`,
            e.exitCode === 130 ? "SIGINT" : "SIGTERM",
          );
        }
        if (e instanceof WorkerExitError) {
          throw new WorkerExitError(
            `${e.message}; the search stopped in generation ${g + 1} and every finished candidate is in candidates.jsonl. ` +
              `Continue with: ${resumeHint} (--workers 0 evaluates in this thread)`,
          );
        }
        throw e;
      });
      progress.stop();
      await run.writeJson(statePath, evolution.state());
      generationsHere++;
      logger.info(
        { generation: g + 1 },
        `generation ${g + 1}: best ${(summary.best.accuracy * 100).toFixed(2)}% ${summary.best.arch} (${human(summary.best.flops)}FLOPs), mean ${(summary.meanAccuracy * 100).toFixed(2)}%` +
          (summary.shortfall ? `; ${summary.shortfall}` : ""),
      );
      const interrupted =
        stop.flag.signal ??
        (o.stopAfterGenerations !== undefined && generationsHere >= o.stopAfterGenerations ? "SIGINT" : null);
      if (interrupted && !evolution.done) {
        throw new InterruptedError(
          `interrupted after generation ${g + 1}; state saved. Continue with: ${resumeHint}`,
          interrupted,
        );
      }
    }
  } finally {
    progress?.stop();
    stop.dispose();
    await evaluator.close();
  }

  const searchSeconds = (performance.now() - started) / 1000;
  // the final stage: the top k re-scored on every validation image, in this thread (the workers are gone)
  const withSe = (e: Evaluated): Evaluated => ({ ...e, se: accuracySe(e.accuracy, fitnessImages) });
  const k = settings.rescoreTop ?? DEFAULT_RESCORE_TOP;
  let final: FinalStage | null = null;
  if (k > 0 && evolution.history().length > 0) {
    const top = evolution.top(k);
    const whole = fitnessSet(
      await materialize(data.val, snap.data.skipBadImages),
      snap.preprocess,
      settings.seed,
    );
    logger.info(`final stage: the top ${top.length} re-scored on all ${whole.n} validation images`);
    const net = await supernetFromCheckpoint(checkpointFile, space);
    try {
      // the search's fitness set is the whole split when it used every image: its accuracies stand
      const same = fitnessImages === whole.n ? whole.n : undefined;
      // read asynchronously first (the webgpu backend has no synchronous read); the stage itself is pure
      const correct = new Map<string, Uint8Array>();
      for (const e of top) correct.set(e.arch, await pathCorrect(net, parseArch(e.arch), whole));
      final = finalStage(top, (a) => correct.get(a)!, 0.05, same);
    } finally {
      net.dispose();
    }
    const [w] = final.ranking;
    logger.info(
      `final stage: winner ${w.arch} ${(w.accuracy * 100).toFixed(2)}% ± ${(w.se * 100).toFixed(2)}` +
        (final.test
          ? `; against the runner-up ${final.test.runnerUp}: McNemar p = ${final.test.p.toPrecision(2)}${final.tied ? " (a statistical tie)" : ""}`
          : ""),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const history = evolution.history().map(withSe);
  const { generationStats } = await import("../report/search.js");
  const result: SearchResult = {
    strategy,
    constraint: c,
    evaluations: history.length,
    seconds,
    candidatesPerMinute: evaluatedHere > 0 ? (evaluatedHere / searchSeconds) * 60 : 0,
    workers,
    ...(o.queue ? { queue: o.queue.address.url } : {}),
    fitnessImages,
    top: evolution.top(10).map(withSe),
    pareto: paretoFront(history),
    generations: generationStats(history),
    final,
  };
  await run.writeJson(`${dirName}/result.json`, result);
  const report = run.path(dirName, "report.html");
  await writeSearchReport(report, space.name, result, history);
  return { ...result, report, runDir: run.dir };
}
