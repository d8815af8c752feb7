/**
 * `psvit worker --queue URL --artifacts DIR [--concurrency N]`: flags → src/queue/worker.ts; runs until
 * SIGINT or SIGTERM, then lets its running jobs finish (a second signal ends it at once).
 */
import { createLogger } from "../../util/log.js";
import { intOption, queueFlags } from "../common.js";
import type { Io } from "../io.js";

export interface WorkerCommandOptions {
  queue?: string;
  artifacts?: string;
  concurrency?: string | number;
  /** Hidden: BullMQ's lock duration and stalled-job interval in ms (tests: a killed worker's job returns fast). */
  lockMs?: string | number;
  logLevel?: string;
  /** Tests: resolve instead of waiting for a signal. */
  until?: Promise<unknown>;
}

export async function workerCommand(opts: WorkerCommandOptions, io: Io): Promise<number> {
  const q = queueFlags(opts, true)!;
  const concurrency = intOption(opts.concurrency, "--concurrency", 1) ?? 1;
  const lockMs = intOption(opts.lockMs, "--lock-ms", 100);
  const logger = createLogger(opts.logLevel ? { level: opts.logLevel } : {});
  const { startQueueWorker } = await import("../../queue/worker.js");
  const worker = await startQueueWorker({
    ...q,
    concurrency,
    logger,
    lockMs,
    // tests only: a worker of another version, a worker slow enough to be killed mid-job
    version: process.env.PSVIT_TEST_QUEUE_VERSION || undefined,
    slowMs: Number(process.env.PSVIT_TEST_QUEUE_SLOW_MS) || undefined,
  });
  const signal = await new Promise<string>((resolve) => {
    const on = (s: string) => () => resolve(s);
    process.once("SIGINT", on("SIGINT"));
    process.once("SIGTERM", on("SIGTERM"));
    opts.until?.then(() => resolve("done"));
  });
  if (signal !== "done") {
    io.err(`psvit worker: ${signal}: finishing the running job(s); a second signal stops at once`);
    const hard = () => process.exit(signal === "SIGINT" ? 130 : 143);
    process.once("SIGINT", hard);
    process.once("SIGTERM", hard);
  }
  await worker.close();
  io.out(`worker stopped: ${worker.finished()} job(s) finished`);
  return worker.finished();
}
