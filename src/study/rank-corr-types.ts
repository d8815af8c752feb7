/**
 * What a rank-correlation study (./rank-corr.ts) is given, plans, journals and returns, and how its
 * journal (samples.jsonl) is read back.
 */

import type { QueueAddress } from "../queue/url.js";
import type { FlopsBounds, Interval } from "../search/rankcorr.js";
import { readJsonl, sealJournal } from "../searchrun/journal.js";

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
  queue?: { address: QueueAddress; artifacts: string };
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

export const isSample = (e: unknown): e is RankCorrSample =>
  typeof e === "object" &&
  e !== null &&
  typeof (e as RankCorrSample).arch === "string" &&
  typeof (e as RankCorrSample).inherited === "number" &&
  typeof (e as RankCorrSample).scratch === "number";

/** The journal's finished subnets (a line cut short by a crash is skipped and counted). */
export function readSamples(file: string): { entries: RankCorrSample[]; skipped: number } {
  sealJournal(file);
  return readJsonl(file, isSample);
}
