/** Starting the engine for a command: how many wasm threads, and the debris of killed runs removed first. */
import os from "node:os";
import { removeStaleWasmDirs } from "../util/debris.js";

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
 * killed psvit processes left in the temp folder (src/util/debris.ts). `threads` overrides the count
 * (a queue worker's training thread: 1).
 */
export async function startBackend(name?: string, opts: { training?: boolean; threads?: number } = {}) {
  removeStaleWasmDirs();
  const { initBackend } = await import("./backend.js");
  const threads =
    opts.threads ?? commandThreads(opts.training ?? false, process.env.PSVIT_WASM_THREADS, os.cpus().length);
  return initBackend(name ?? process.env.PSVIT_BACKEND ?? "auto", threads === undefined ? {} : { threads });
}
