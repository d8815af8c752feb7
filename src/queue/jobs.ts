/**
 * What travels through the queue. A job names its inputs by content (artifact hashes), so its id is a
 * function of its inputs: the same candidate of the same supernet on the same images is one job, however
 * often a driver (or a resumed one) queues it, and its stored result answers every later asker.
 */
import { createHash } from "node:crypto";
import type { Recipe } from "../config/recipe.js";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import type { DataInfo } from "../data/resolve.js";
import type { AugmentOptions, Preprocess } from "../data/types.js";
import type { TrainResult as LoopResult } from "../train/loop.js";
import type { ArtifactRef, DatasetRef } from "./artifacts.js";

/** The BullMQ queue every psvit driver and worker uses (jobs carry everything else). */
export const QUEUE_NAME = "psvit";

/** A candidate of a search: top-1 of `arch` with the supernet's inherited weights on the fitness set. */
export interface EvalJob {
  kind: "search-eval";
  /** The psvit version that queued it: a worker of another version refuses it. */
  psvit: string;
  checkpoint: ArtifactRef;
  fitness: ArtifactRef;
  space: SpaceConfig;
  arch: string;
  backend: string;
  batchSize: number;
}

export interface EvalResult {
  accuracy: number;
  /** host:pid of the worker that evaluated it. */
  worker: string;
  psvit: string;
}

/**
 * A model trained from scratch, then scored on the fitness set: one subnet and seed of `psvit rank-corr`.
 * The worker trains in a temporary run directory of its own (a killed worker's job starts over).
 */
export interface TrainJob {
  kind: "train-scratch";
  psvit: string;
  model: ModelConfig;
  recipe: Recipe;
  seed: number;
  preprocess: Preprocess;
  augment: AugmentOptions;
  train: DatasetRef;
  val: DatasetRef;
  fitness: ArtifactRef;
  /** Validation images of the per-epoch evaluation (undefined: all). */
  evalImages?: number;
  backend: string;
  /** For the worker's log: which study and subnet. */
  label: string;
}

export interface TrainResult extends ThreadStamp {
  /** Top-1 on the fitness set after training. */
  top1: number;
  steps: number;
  seconds: number;
  worker: string;
  psvit: string;
}

/** Where and when a training ran on its worker: on a thread of its own, never the main thread. */
export interface ThreadStamp {
  /** worker_threads' threadId of the training (0 would be the main thread). */
  thread: number;
  /** Epoch milliseconds when the thread started and finished the training. */
  startedAt: number;
  endedAt: number;
}

/**
 * `psvit train CONFIG --queue URL --artifacts DIR`: the whole training run on a worker, as `psvit train`
 * would run it here (the driver's recipe, seed and splits); the worker publishes the run directory's
 * files (weights, model config, run.json, metrics, log, report) and the driver copies them into --out.
 */
export interface RunJob {
  kind: "train-run";
  psvit: string;
  model: ModelConfig;
  /** The recipe with the driver's overrides (--epochs, --batch) applied. */
  recipe: Recipe;
  seed: number;
  train: DatasetRef;
  val: DatasetRef;
  /** What the driver's --data resolved to (recorded in run.json: spec, splits, normalisation). */
  info: DataInfo;
  data: { spec: string | null; dataDir: string | null };
  evalImages?: number;
  backend: string;
  label: string;
}

export interface RunResult extends ThreadStamp {
  /** The run directory's files by name (checkpoints/ stays on the worker and is deleted). */
  files: Record<string, ArtifactRef>;
  /** What the training loop returned. */
  result: LoopResult;
  seconds: number;
  worker: string;
  psvit: string;
}

/** Everything but the label decides the result: the id hashes it. */
export function trainJobId(j: TrainJob | RunJob): string {
  const { label: _l, ...inputs } = j;
  const prefix = j.kind === "train-run" ? "run" : "train";
  return `${prefix}-${createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 40)}`;
}

/** Ids may not contain ':' (BullMQ); architectures are B/S/I and '-'. */
export function evalJobId(j: EvalJob): string {
  return [
    "eval",
    j.checkpoint.sha256.slice(0, 24),
    j.fitness.sha256.slice(0, 24),
    j.arch,
    j.backend,
    j.batchSize,
  ].join("-");
}

/** A failure that is the user's to fix (versions, artifacts): the driver turns it into exit 2. */
export const USAGE_PREFIX = "psvit usage: ";
