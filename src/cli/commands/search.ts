/**
 * `psvit search --run DIR --flops 25M …`: evolutionary (or random) search of a trained supernet under a
 * FLOPs (and params) budget. Fitness is validation top-1 with inherited weights. Results live in
 * DIR/search-<strategy>/: search.json (settings), candidates.jsonl (journal), state.json (after every
 * generation), result.json and report.html.
 */

import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import { parseSpaceConfig } from "../../config/validate.js";
import { InterruptedError, UsageError } from "../../errors.js";
import {
  DEFAULT_SEARCH_OPTIONS,
  type Evaluated,
  EvolutionSearch,
  paretoFront,
  type SearchDeps,
  type SearchOptions,
  type SearchState,
  type Strategy,
} from "../../search/evolution.js";
import { readJournal, sealJournal } from "../../searchrun/journal.js";
import { type Arch, formatArch } from "../../space/arch.js";
import { archCost } from "../../space/sample.js";
import { ConstrainedSampler, type Constraint, spaceStats } from "../../space/stats.js";
import { RunDir } from "../../train/rundir.js";
import { removeStaleTempFiles } from "../../util/debris.js";
import { acquireLock } from "../../util/lock.js";
import { createLogger, setLogger } from "../../util/log.js";
import { grouped, human, parseQuantity } from "../../util/units.js";
import { installStopHandlers, intOption, startBackend } from "../common.js";
import { type Io, table } from "../io.js";
import { createProgress, formatDuration } from "../progress.js";
import { loadRunData, type RunSnapshot } from "./train.js";

export interface SearchCommandOptions {
  run: string;
  flops?: string;
  params?: string;
  population?: string | number;
  generations?: string | number;
  parents?: string | number;
  mutations?: string | number;
  mutationProb?: string | number;
  crossovers?: string | number;
  valImages?: string | number;
  workers?: string | number;
  seed?: string | number;
  strategy?: string;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  backend?: string;
  logLevel?: string;
  /** Tests: stop as if interrupted after this many generations of this process. */
  stopAfterGenerations?: number;
}

/** What search.json records (a resumed search takes its settings from here). */
export interface SearchSnapshot {
  kind: "psvit.search";
  version: 1;
  created: string;
  strategy: Strategy;
  constraint: Constraint;
  options: SearchOptions;
  seed: number;
  valImages: number;
  workers: number;
  /** The supernet checkpoint; `file` relative to the run directory (absolute in older searches). */
  checkpoint: { step: number; file: string };
  spaceFraction: number;
}

export interface SearchResult {
  strategy: Strategy;
  constraint: Constraint;
  evaluations: number;
  seconds: number;
  candidatesPerMinute: number;
  workers: number;
  top: Evaluated[];
  pareto: Evaluated[];
  generations: { generation: number; best: number; mean: number; bestSoFar: number }[];
}

/**
 * Default worker threads: one per core, at most 2 (2 measured fastest on 2 cores, docs/BENCHMARKS.md
 * "Search throughput"; each worker holds its own copy of the supernet).
 */
export function defaultWorkers(cores: number = os.availableParallelism()): number {
  return Math.max(1, Math.min(2, Math.floor(cores)));
}

function parseStrategy(s: string | undefined): Strategy {
  const v = s ?? "evolution";
  if (v !== "evolution" && v !== "random")
    throw new UsageError(`--strategy: expected evolution or random, got ${JSON.stringify(v)}`);
  return v;
}

function numberOption(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`${flag}: expected a probability in [0, 1], got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Options from the flags. Left out, mutations and crossovers are half the population each and parents a
 * fifth (SPOS: 25 + 25 of 50, top 10), so a smaller --population keeps SPOS's proportions (at least 2
 * parents where the population allows: a crossover of one parent with itself is that parent).
 * Counts that make no sense are refused: more parents than the population, more mutations and
 * crossovers than it, mutations that cannot change anything (--mutation-prob 0) and crossovers of
 * a single parent.
 */
export function searchOptions(opts: SearchCommandOptions, strategy: Strategy): SearchOptions {
  const population = intOption(opts.population, "--population") ?? DEFAULT_SEARCH_OPTIONS.population;
  const o: SearchOptions = {
    ...DEFAULT_SEARCH_OPTIONS,
    strategy,
    population,
    generations: intOption(opts.generations, "--generations") ?? DEFAULT_SEARCH_OPTIONS.generations,
    parents:
      intOption(opts.parents, "--parents") ?? Math.min(population, Math.max(2, Math.round(population / 5))),
    mutations: intOption(opts.mutations, "--mutations", 0) ?? Math.floor(population / 2),
    mutationProb: numberOption(opts.mutationProb, "--mutation-prob") ?? DEFAULT_SEARCH_OPTIONS.mutationProb,
    crossovers: intOption(opts.crossovers, "--crossovers", 0) ?? Math.floor(population / 2),
  };
  if (o.parents > o.population) {
    throw new UsageError(
      `--parents ${o.parents} exceeds --population ${o.population} (the parents are the best candidates of a generation or more; at most the population)`,
    );
  }
  if (o.mutations + o.crossovers > o.population) {
    throw new UsageError(
      `--mutations ${o.mutations} + --crossovers ${o.crossovers} exceed --population ${o.population}`,
    );
  }
  if (strategy === "evolution" && o.mutations > 0 && o.mutationProb === 0) {
    throw new UsageError(
      `--mutation-prob 0 makes each of the ${o.mutations} mutations a copy of its parent, never a new candidate; give a probability > 0 or --mutations 0`,
    );
  }
  if (strategy === "evolution" && o.crossovers > 0 && o.parents === 1) {
    throw new UsageError(
      `--crossovers ${o.crossovers} with --parents 1: a crossover of one parent with itself is that parent; give --parents 2 or more, or --crossovers 0`,
    );
  }
  return o;
}

const FIXED_ON_RESUME = [
  "flops",
  "params",
  "population",
  "generations",
  "parents",
  "mutations",
  "mutationProb",
  "crossovers",
  "valImages",
  "seed",
] as const;

/** A search of a run: one process at a time per strategy (the lock is in the run directory). */
export async function searchCommand(opts: SearchCommandOptions, io: Io): Promise<SearchResult> {
  const run = RunDir.existing(opts.run);
  const strategy = parseStrategy(opts.strategy);
  const lock = acquireLock(
    run.path(`.psvit-search-${strategy}.lock`),
    `the ${strategy} search of ${opts.run}`,
  );
  try {
    removeStaleTempFiles(run.path(`search-${strategy}`)); // what a killed search was writing
    return await runSearch(opts, io, run, strategy);
  } finally {
    lock.release();
  }
}

async function runSearch(
  opts: SearchCommandOptions,
  io: Io,
  run: RunDir,
  strategy: Strategy,
): Promise<SearchResult> {
  const snap = run.readJson<RunSnapshot>("run.json");
  if (snap.command !== "train-supernet" || !snap.space) {
    throw new UsageError(`${opts.run} is a ${snap.command} run; search needs a train-supernet run`);
  }
  const space = parseSpaceConfig(snap.space);
  const dirName = `search-${strategy}`;
  const dir = run.path(dirName);
  const statePath = `${dirName}/state.json`;
  const journalPath = run.path(dirName, "candidates.jsonl");

  let settings: SearchSnapshot;
  /** --force over an existing search: the old one stays until the new one has started (below). */
  let replacing = false;
  if (opts.resume) {
    const given = FIXED_ON_RESUME.filter((k) => opts[k] !== undefined);
    if (given.length) {
      const flags = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
      throw new UsageError(`--resume continues with the settings in ${dirName}/search.json; drop ${flags}`);
    }
    if (!existsSync(run.path(dirName, "search.json"))) {
      throw new UsageError(`${opts.run}: no ${strategy} search to resume (no ${dirName}/search.json)`);
    }
    settings = run.readJson<SearchSnapshot>(`${dirName}/search.json`);
  } else {
    if (existsSync(run.path(dirName, "search.json"))) {
      if (!opts.force) {
        throw new UsageError(
          `${opts.run} already holds ${strategy === "evolution" ? "an" : "a"} ${strategy} search (${dirName}/); add --resume to continue it or --force to replace it`,
        );
      }
      replacing = true;
    }
    if (opts.flops === undefined) throw new UsageError("--flops BUDGET is required, e.g. --flops 25M");
    const constraint: Constraint = { maxFlops: parseQuantity(opts.flops, "--flops") };
    if (opts.params !== undefined) constraint.maxParams = parseQuantity(opts.params, "--params");
    const stats = spaceStats(space, constraint);
    if (stats.satisfying === 0n) {
      if (stats.min > constraint.maxFlops!) {
        throw new UsageError(
          `--flops ${opts.flops} is below the smallest architecture of ${space.name}, which needs ${human(stats.min)}FLOPs (${grouped(stats.min)})`,
        );
      }
      throw new UsageError(
        `no architecture of ${space.name} fits both --flops ${opts.flops} and --params ${opts.params}`,
      );
    }
    const ckpt = run.latestCheckpoint();
    if (!ckpt) throw new UsageError(`${opts.run} has no checkpoint yet: train the supernet first`);
    const valImages = intOption(opts.valImages, "--val-images") ?? Number.POSITIVE_INFINITY;
    settings = {
      kind: "psvit.search",
      version: 1,
      created: new Date().toISOString(),
      strategy,
      constraint,
      options: searchOptions(opts, strategy),
      seed: intOption(opts.seed, "--seed", 0) ?? 0,
      valImages: Number.isFinite(valImages) ? valImages : -1,
      workers: intOption(opts.workers, "--workers", 0) ?? defaultWorkers(),
      // relative to the run, so the run can be moved or copied
      checkpoint: { step: ckpt.step, file: run.relativePath(ckpt.file) },
      spaceFraction: Number(stats.satisfying) / Number(stats.size),
    };
  }
  const checkpointFile = run.storedCheckpoint(settings.checkpoint.file);
  if (!existsSync(checkpointFile)) {
    throw new UsageError(`the supernet checkpoint the search uses is gone: ${checkpointFile}`);
  }
  const workers =
    opts.workers !== undefined ? (intOption(opts.workers, "--workers", 0) ?? 0) : settings.workers;

  // a replaced search is written beside the old one and renamed over it once it has started: an option,
  // the data or the backend that fails leaves the old search as it was
  const staging = replacing ? `.${dirName}.new` : dirName;
  if (replacing) rmSync(run.path(staging), { recursive: true, force: true }); // an earlier attempt's
  const { fitnessSet } = await import("../../eval/fitness.js");
  const { createEvaluator, WorkerExitError } = await import("../../eval/pool.js");
  let logger: ReturnType<typeof createLogger>;
  let evaluator: Awaited<ReturnType<typeof createEvaluator>>;
  const c = settings.constraint;
  try {
    mkdirSync(run.path(staging), { recursive: true });
    logger = createLogger({
      file: run.path(staging, "log.jsonl"),
      ...(opts.logLevel ? { level: opts.logLevel } : {}),
    });
    setLogger(logger);
    if (!opts.resume) await run.writeJson(`${staging}/search.json`, settings);
    logger.info(
      `${strategy} search of ${space.name} under ${human(c.maxFlops!)}FLOPs${c.maxParams ? ` and ${human(c.maxParams)} params` : ""}: ` +
        `the budget keeps ${(settings.spaceFraction * 100).toPrecision(3)}% of the space; ` +
        `${settings.options.population} × ${settings.options.generations} candidates, ${workers} worker(s)`,
    );

    const backend = await startBackend(opts.backend);
    const data = await loadRunData(snap);
    const set = fitnessSet(
      data.val,
      snap.preprocess,
      settings.seed,
      settings.valImages > 0 ? settings.valImages : undefined,
    );
    evaluator = await createEvaluator({
      checkpoint: checkpointFile,
      space,
      set,
      backend:
        opts.backend ??
        process.env.PSVIT_BACKEND ??
        (backend.name === "tensorflow-gpu" ? "tensorflow" : backend.name),
      workers,
    });
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
  let generationsHere = 0;

  const sampler = new ConstrainedSampler(space, c);
  const deps: SearchDeps = {
    space,
    constraint: c,
    cost: (arch: Arch) => archCost(space, arch),
    propose: (rng) => sampler.sample(rng),
    evaluate: async (archs) => {
      let done = 0;
      let best = 0;
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
              generation: search.generation,
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

  const search = opts.resume
    ? EvolutionSearch.restore(deps, run.readJson<SearchState>(statePath))
    : EvolutionSearch.start(deps, settings.options, settings.seed);
  if (!opts.resume) await run.writeJson(statePath, search.state());

  try {
    while (!search.done) {
      const g = search.generation;
      progress = createProgress(
        `generation ${g + 1}/${settings.options.generations}`,
        search.pending().length,
        logger,
        {
          tty: io.isTTY && process.stderr.isTTY,
          unit: "candidates",
          everySeconds: 30,
        },
      );
      const summary = await search.step().catch((e) => {
        if (e instanceof InterruptedError) {
          throw new InterruptedError(
            `interrupted in generation ${g + 1}; every finished candidate is in candidates.jsonl. Continue with: psvit search --run ${opts.run} --strategy ${strategy} --resume`,
            e.exitCode === 130 ? "SIGINT" : "SIGTERM",
          );
        }
        if (e instanceof WorkerExitError) {
          throw new WorkerExitError(
            `${e.message}; the search stopped in generation ${g + 1} and every finished candidate is in candidates.jsonl. ` +
              `Continue with: psvit search --run ${opts.run} --strategy ${strategy} --resume (--workers 0 evaluates in this thread)`,
          );
        }
        throw e;
      });
      progress.stop();
      await run.writeJson(statePath, search.state());
      generationsHere++;
      logger.info(
        { generation: g + 1 },
        `generation ${g + 1}: best ${(summary.best.accuracy * 100).toFixed(2)}% ${summary.best.arch} (${human(summary.best.flops)}FLOPs), mean ${(summary.meanAccuracy * 100).toFixed(2)}%` +
          (summary.shortfall ? `; ${summary.shortfall}` : ""),
      );
      const interrupted =
        stop.flag.signal ??
        (opts.stopAfterGenerations !== undefined && generationsHere >= opts.stopAfterGenerations
          ? "SIGINT"
          : null);
      if (interrupted && !search.done) {
        throw new InterruptedError(
          `interrupted after generation ${g + 1}; state saved. Continue with: psvit search --run ${opts.run} --strategy ${strategy} --resume`,
          interrupted,
        );
      }
    }
  } finally {
    progress?.stop();
    stop.dispose();
    await evaluator.close();
  }

  const seconds = (performance.now() - started) / 1000;
  const history = search.history();
  const { generationStats } = await import("../../report/search.js");
  const result: SearchResult = {
    strategy,
    constraint: c,
    evaluations: history.length,
    seconds,
    candidatesPerMinute: evaluatedHere > 0 ? (evaluatedHere / seconds) * 60 : 0,
    workers,
    top: search.top(10),
    pareto: paretoFront(history),
    generations: generationStats(history),
  };
  await run.writeJson(`${dirName}/result.json`, result);
  await writeReport(run, dirName, space.name, result, history);
  if (opts.json) io.out(JSON.stringify(result));
  else io.out(formatResult(result, run, dirName));
  return result;
}

async function writeReport(
  run: RunDir,
  dirName: string,
  spaceName: string,
  r: SearchResult,
  history: Evaluated[],
) {
  const { renderSvg, htmlReport } = await import("../../report/html.js");
  const { paretoSpec, generationSpec } = await import("../../report/search.js");
  const { writeFileAtomic } = await import("../../util/fs.js");
  const budget = r.constraint.maxFlops ?? null;
  const row = (e: Evaluated, i: number) => [
    i + 1,
    e.arch,
    (e.flops / 1e6).toFixed(2),
    (e.params / 1e6).toFixed(3),
    `${(e.accuracy * 100).toFixed(2)}%`,
    e.generation + 1,
  ];
  const head = ["rank", "architecture", "MFLOPs", "M params", "val top-1", "generation"];
  const html = htmlReport(`psvit ${r.strategy} search: ${spaceName} under ${human(budget ?? 0)}FLOPs`, [
    {
      heading: "Summary",
      text: `${r.evaluations} candidates evaluated (${r.workers} worker(s), ${r.candidatesPerMinute.toFixed(1)} per minute). Fitness: validation top-1 with the supernet's inherited weights.`,
    },
    {
      heading: "Accuracy vs FLOPs (Pareto front in red)",
      svg: await renderSvg(paretoSpec(history, r.pareto, budget, "")),
    },
    { heading: "Accuracy per generation", svg: await renderSvg(generationSpec(r.generations, "")) },
    { heading: "Top candidates", table: { head, rows: r.top.map(row) } },
    { heading: "Pareto front", table: { head, rows: r.pareto.map(row) } },
  ]);
  await writeFileAtomic(run.path(dirName, "report.html"), new TextEncoder().encode(html));
}

function formatResult(r: SearchResult, run: RunDir, dirName: string): string {
  const lines = [
    `${r.strategy} search under ${human(r.constraint.maxFlops!)}FLOPs: ${r.evaluations} candidates in ${formatDuration(r.seconds)} (${r.candidatesPerMinute.toFixed(1)}/min, ${r.workers} worker(s))`,
    "",
  ];
  const rows = [["rank", "architecture", "FLOPs", "params", "val top-1"]];
  r.top.slice(0, 5).forEach((e, i) => {
    rows.push([String(i + 1), e.arch, human(e.flops), human(e.params), `${(e.accuracy * 100).toFixed(2)}%`]);
  });
  lines.push(table(rows, ["r", "l", "r", "r", "r"]));
  lines.push("");
  lines.push(
    `Pareto front: ${r.pareto.map((e) => `${human(e.flops)} → ${(e.accuracy * 100).toFixed(1)}%`).join(", ")}`,
  );
  lines.push(`report: ${run.path(dirName, "report.html")}`);
  lines.push(`next: psvit export --run ${run.dir}${r.strategy === "random" ? " --strategy random" : ""}`);
  return `${lines.join("\n")}\n`;
}
