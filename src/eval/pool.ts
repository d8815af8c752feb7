/**
 * Candidate evaluation for the search: in this thread (`workers: 0`) or by a pool of worker threads,
 * each holding its own copy of the supernet, fed by p-queue (one candidate in flight per worker).
 * A worker that ends (out of memory, a wasm abort) fails the candidate it was evaluating and every
 * later `evaluate()` with a WorkerExitError naming it; `close()` still returns.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import PQueue from "p-queue";
import type { SpaceConfig } from "../config/schema.js";
import { type Arch, formatArch } from "../space/arch.js";
import { type FitnessSet, pathAccuracy, supernetFromCheckpoint } from "./fitness.js";
import type { WorkerInit } from "./worker.js";

export interface Evaluator {
  evaluate(arch: Arch): Promise<number>;
  close(): Promise<void>;
}

/** A search worker thread ended while the pool was in use. */
export class WorkerExitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkerExitError";
  }
}

export interface EvaluatorOptions {
  checkpoint: string;
  space: SpaceConfig;
  set: FitnessSet;
  backend: string;
  workers: number;
  batchSize?: number;
}

/** The compiled worker script (dist/eval/worker.js), also when this module runs from src/ under tests. */
function workerScript(): string {
  const here = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(here))) return fileURLToPath(here);
  const built = new URL("../../dist/eval/worker.js", import.meta.url);
  if (existsSync(fileURLToPath(built))) return fileURLToPath(built);
  throw new Error("search worker script not found: run `npm run build`");
}

export async function createEvaluator(opts: EvaluatorOptions): Promise<Evaluator> {
  const batchSize = opts.batchSize ?? 250;
  if (opts.workers <= 0) {
    const net = await supernetFromCheckpoint(opts.checkpoint, opts.space);
    return {
      evaluate: async (arch) => pathAccuracy(net, arch, opts.set, batchSize),
      close: async () => net.dispose(),
    };
  }
  const init: WorkerInit = {
    checkpoint: opts.checkpoint,
    space: opts.space,
    set: opts.set,
    backend: opts.backend,
    batchSize,
  };
  const script = workerScript();
  const workers = await Promise.all(
    Array.from(
      { length: opts.workers },
      (_, index) =>
        new Promise<Worker>((resolve, reject) => {
          const w = new Worker(script, { workerData: { ...init, index } satisfies WorkerInit });
          const onExit = (code: number) =>
            reject(new WorkerExitError(`search worker ${index} exited while starting (exit code ${code})`));
          const onMessage = (m: { type?: string; error?: string }) => {
            if (m.type === "ready") {
              w.off("message", onMessage);
              w.off("exit", onExit);
              resolve(w);
            } else if (m.type === "failed") reject(new Error(`search worker failed to start:\n${m.error}`));
          };
          w.on("message", onMessage);
          w.once("error", reject);
          w.once("exit", onExit);
        }),
    ),
  );
  const idle = [...workers];
  const live = new Set(workers);
  /** The candidate each worker is evaluating, and how to fail it. */
  const inFlight = new Map<Worker, { arch: string; reject: (e: Error) => void }>();
  /** Set when a worker has died: every later evaluate() fails with it. */
  let failure: WorkerExitError | undefined;
  let closing = false;
  workers.forEach((w, index) => {
    let lastError: Error | undefined;
    w.on("error", (e) => {
      lastError = e; // an uncaught exception in the worker; its exit follows
    });
    w.on("exit", (code) => {
      live.delete(w);
      if (closing) return;
      const job = inFlight.get(w);
      const err = new WorkerExitError(
        `search worker ${index} exited unexpectedly (exit code ${code})` +
          (job ? ` while evaluating ${job.arch}` : "") +
          (lastError ? `: ${lastError.message}` : ""),
      );
      failure ??= err;
      job?.reject(err);
    });
  });
  const queue = new PQueue({ concurrency: workers.length });
  let nextId = 0;
  const run = (w: Worker, arch: Arch) =>
    new Promise<number>((resolve, reject) => {
      const id = nextId++;
      const onMessage = (m: { id?: number; accuracy?: number; error?: string }) => {
        if (m.id !== id) return;
        w.off("message", onMessage);
        inFlight.delete(w);
        if (m.error !== undefined) reject(new Error(`evaluating ${formatArch(arch)}: ${m.error}`));
        else resolve(m.accuracy!);
      };
      inFlight.set(w, {
        arch: formatArch(arch),
        reject: (e) => {
          w.off("message", onMessage);
          inFlight.delete(w);
          reject(e);
        },
      });
      w.on("message", onMessage);
      w.postMessage({ id, arch: formatArch(arch) });
    });
  return {
    evaluate: (arch) => {
      if (failure) return Promise.reject(failure);
      return queue.add(async () => {
        if (failure) throw failure;
        const w = idle.pop()!;
        try {
          return await run(w, arch);
        } finally {
          if (live.has(w)) idle.push(w);
        }
      }) as Promise<number>;
    },
    close: async () => {
      await queue.onIdle();
      closing = true;
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once("exit", () => resolve());
              w.postMessage({ type: "close" });
            }),
        ),
      );
    },
  };
}
