/**
 * What travels through the queue. A job names its inputs by content (artifact hashes), so its id is a
 * function of its inputs: the same candidate of the same supernet on the same images is one job, however
 * often a driver (or a resumed one) queues it, and its stored result answers every later asker.
 */
import type { SpaceConfig } from "../config/schema.js";
import type { ArtifactRef } from "./artifacts.js";

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
