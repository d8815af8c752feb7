/**
 * What the tensor commands share: package-relative defaults, option parsing, backend start-up, run
 * snapshots and signal handling. (Imports no tfjs at module load.)
 */

import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.js";
import type { StopFlag } from "../train/loop.js";
import { removeStaleWasmDirs } from "../util/debris.js";
import { PSVIT_VERSION } from "../version.js";

/** The psvit package folder (holds search-spaces/, configs/, data/). */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function packagePath(rel: string): string {
  return `${PACKAGE_ROOT}${rel}`;
}

export const DEFAULT_SPACE = "search-spaces/fmnist-2d.json";
export const DEFAULT_RECIPE = "configs/recipes/fmnist.json";
/** train-supernet's (and the pipeline's) default: the same recipe with the supernet's epochs. */
export const DEFAULT_SUPERNET_RECIPE = "configs/recipes/fmnist-supernet.json";

/** An integer flag value ≥ `min`. */
export function intOption(value: string | number | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** A positive number (epochs may be fractional: 0.25 trains a quarter of one pass). */
export function positiveOption(value: string | number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: expected a number > 0, got ${JSON.stringify(value)}`);
  return n;
}

export function versions(): Record<string, string> {
  const pkg = (name: string) => {
    try {
      const url = import.meta.resolve(`${name}/package.json`);
      return JSON.parse(readFileSync(fileURLToPath(url), "utf8")).version as string;
    } catch {
      return "unknown";
    }
  };
  return { psvit: PSVIT_VERSION, node: process.version, tfjs: pkg("@tensorflow/tfjs-core") };
}

/** Start the backend named by --backend / PSVIT_BACKEND (logs its choice once). */
/**
 * wasm threads for a command: the ones that train (train, train-supernet, rank-corr, pipeline) use 2
 * where there are 2 cores or more — psvit's products split over a helper thread, 1.41× per BBSSII
 * training step (forward only 1.11×, so the short commands keep the single-threaded build's faster
 * start; docs/BENCHMARKS.md). PSVIT_WASM_THREADS, when set, decides for every command (undefined here).
 */
export function commandThreads(training: boolean, env: string | undefined, cpus: number): number | undefined {
  if (env !== undefined && env !== "") return undefined;
  return training ? Math.min(2, Math.max(1, cpus)) : undefined;
}

/**
 * Start the engine for a command (see `commandThreads`), after removing the wasm script folders that
 * killed psvit processes left in the temp folder (src/util/debris.ts).
 */
export async function startBackend(name?: string, opts: { training?: boolean } = {}) {
  removeStaleWasmDirs();
  const { initBackend } = await import("../engine/backend.js");
  const threads = commandThreads(opts.training ?? false, process.env.PSVIT_WASM_THREADS, os.cpus().length);
  return initBackend(name ?? process.env.PSVIT_BACKEND ?? "auto", threads === undefined ? {} : { threads });
}

/** SIGINT/SIGTERM set the flag (the loop finishes its step and checkpoints); a second signal exits at once. */
export function installStopHandlers(): { flag: StopFlag; dispose(): void } {
  const flag: StopFlag = { signal: null };
  const handler = (signal: "SIGINT" | "SIGTERM") => () => {
    if (flag.signal) process.exit(signal === "SIGINT" ? 130 : 143);
    flag.signal = signal;
    process.stderr.write(`\npsvit: ${signal}: finishing the current step and writing a checkpoint…\n`);
  };
  const onInt = handler("SIGINT");
  const onTerm = handler("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return {
    flag,
    dispose() {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
}
