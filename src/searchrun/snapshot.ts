/**
 * What a search writes into DIR/search-<strategy>/ (their one owner is this module): search.json (the
 * settings; a resumed search and `psvit export` take them from here) and result.json.
 */
import { existsSync } from "node:fs";
import { UsageError } from "../errors.js";
import type { Evaluated, SearchOptions, Strategy } from "../search/evolution.js";
import type { FinalStage } from "../search/rescore.js";
import type { Constraint } from "../space/stats.js";
import type { RunDir } from "../train/rundir.js";

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
  /** Candidates re-scored on the whole validation split at the end (0: none; absent: the default 10). */
  rescoreTop?: number;
  workers: number;
  /** The supernet checkpoint; `file` relative to the run directory (absolute in older searches). */
  checkpoint: { step: number; file: string };
  spaceFraction: number;
}

/** What result.json records and `psvit search` returns. */
export interface SearchResult {
  strategy: Strategy;
  constraint: Constraint;
  evaluations: number;
  seconds: number;
  candidatesPerMinute: number;
  workers: number;
  /** The queue this process's candidates went through (`--queue`, its URL); absent: worker threads. */
  queue?: string;
  /** Validation images each candidate was scored on during the search. */
  fitnessImages: number;
  /** The top candidates by the search's fitness, with standard errors. */
  top: Evaluated[];
  pareto: Evaluated[];
  /** The top k re-scored on the whole validation split; its ranking's first is the winner. */
  final: FinalStage | null;
  generations: { generation: number; best: number; mean: number; bestSoFar: number }[];
}

/** The folder of a run's search with `strategy`, relative to the run. */
export function searchDirName(strategy: Strategy | string): string {
  return `search-${strategy}`;
}

/** Whether the run holds a search with `strategy` (its search.json exists). */
export function hasSearch(run: RunDir, strategy: Strategy | string): boolean {
  return existsSync(run.path(searchDirName(strategy), "search.json"));
}

/** The settings of the run's search with `strategy`; a UsageError saying what to do where there is none. */
export function readSearchSnapshot(
  run: RunDir,
  strategy: Strategy | string,
  missing: string,
): SearchSnapshot {
  if (!hasSearch(run, strategy)) throw new UsageError(missing);
  return run.readJson<SearchSnapshot>(`${searchDirName(strategy)}/search.json`);
}
