/**
 * `psvit search --run DIR --flops 25M …`: flags → src/searchrun/run.ts (the search run) → a summary.
 */
import { UsageError } from "../../errors.js";
import type { SearchOptions, Strategy } from "../../search/evolution.js";
import { resolveSearchOptions } from "../../searchrun/options.js";
import { runSearch } from "../../searchrun/run.js";
import type { SearchResult } from "../../searchrun/snapshot.js";
import type { Constraint } from "../../space/stats.js";
import { parseQuantity } from "../../util/units.js";
import { checkResumeFlags, intOption, queueFlags } from "../common.js";
import type { Io } from "../io.js";
import { searchSummary } from "../summaries.js";

export type { SearchResult, SearchSnapshot } from "../../searchrun/snapshot.js";

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
  rescoreTop?: string | number;
  workers?: string | number;
  seed?: string | number;
  strategy?: string;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  backend?: string;
  /** redis://HOST:PORT[/DB]: candidates through BullMQ (default $PSVIT_QUEUE). */
  queue?: string;
  /** With queue: the folder the driver and its workers share (default $PSVIT_ARTIFACTS). */
  artifacts?: string;
  logLevel?: string;
  /** Tests: stop as if interrupted after this many generations of this process. */
  stopAfterGenerations?: number;
}

function parseStrategy(s: string | undefined): Strategy {
  const v = s ?? "evolution";
  if (v !== "evolution" && v !== "random" && v !== "aging")
    throw new UsageError(`--strategy: expected evolution, aging or random, got ${JSON.stringify(v)}`);
  return v;
}

function probabilityOption(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`${flag}: expected a probability in [0, 1], got ${JSON.stringify(v)}`);
  return n;
}

/** The search options from the flags (defaults and refusals: src/searchrun/options.ts). */
export function searchOptions(opts: SearchCommandOptions, strategy: Strategy): SearchOptions {
  return resolveSearchOptions(
    {
      population: intOption(opts.population, "--population"),
      generations: intOption(opts.generations, "--generations"),
      parents: intOption(opts.parents, "--parents"),
      mutations: intOption(opts.mutations, "--mutations", 0),
      mutationProb: probabilityOption(opts.mutationProb, "--mutation-prob"),
      crossovers: intOption(opts.crossovers, "--crossovers", 0),
    },
    strategy,
  );
}

/** The flags search.json fixes: `--resume` refuses them. */
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
  "rescoreTop",
  "seed",
] as const;

export async function searchCommand(opts: SearchCommandOptions, io: Io): Promise<SearchResult> {
  const strategy = parseStrategy(opts.strategy);
  checkResumeFlags(
    opts as unknown as Record<string, unknown>,
    FIXED_ON_RESUME,
    `search-${strategy}/search.json`,
  );
  const workers = intOption(opts.workers, "--workers", 0);
  const queue = queueFlags(opts, false);
  let search: Parameters<typeof runSearch>[0]["search"];
  if (!opts.resume && opts.flops !== undefined) {
    const constraint: Constraint = { maxFlops: parseQuantity(opts.flops, "--flops") };
    if (opts.params !== undefined) constraint.maxParams = parseQuantity(opts.params, "--params");
    search = {
      constraint,
      flopsText: opts.flops,
      paramsText: opts.params,
      options: searchOptions(opts, strategy),
      seed: intOption(opts.seed, "--seed", 0) ?? 0,
      valImages: intOption(opts.valImages, "--val-images"),
      rescoreTop: intOption(opts.rescoreTop, "--rescore-top", 0),
      workers,
    };
  }
  const { report, runDir, ...result } = await runSearch({
    run: opts.run,
    strategy,
    resume: opts.resume,
    force: opts.force,
    search,
    workers,
    queue,
    backend: opts.backend,
    logLevel: opts.logLevel,
    tty: io.isTTY && process.stderr.isTTY,
    stopAfterGenerations: opts.stopAfterGenerations,
  });
  io.out(opts.json ? JSON.stringify(result) : searchSummary(result, runDir, report));
  return result;
}
