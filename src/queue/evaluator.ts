/**
 * The queue executor of a search (`psvit search --queue URL --artifacts DIR`): the same `Evaluator` as
 * the worker-thread pool (src/eval/pool.ts), so the search never knows which one runs its candidates.
 * Publishes the checkpoint and the fitness set to the artifact store, queues one BullMQ job per
 * candidate (its id a function of its inputs, ./jobs.ts) and waits for its result. `psvit worker`
 * processes (./worker.ts) on any machine that sees the Redis and the store evaluate them.
 *
 * Exactly once: the search's journal stays the single truth (it commits each result once). A job queued
 * again (a resumed driver, a duplicate) is the same job: a finished one answers at once from Redis, a
 * waiting or running one is waited for. A worker killed mid-job leaves it to BullMQ's stalled-job check
 * (another worker takes it over after the lock expires); a late result from the killed lock is refused
 * by BullMQ.
 */
import { Job, Queue, QueueEvents } from "bullmq";
import type { SpaceConfig } from "../config/schema.js";
import { PsvitError, UsageError } from "../errors.js";
import type { FitnessSet } from "../eval/fitness.js";
import type { Evaluator } from "../eval/pool.js";
import { type Arch, formatArch } from "../space/arch.js";
import type { Logger } from "../util/log.js";
import { PSVIT_VERSION } from "../version.js";
import { encodeFitnessSet, publishBytes, publishFile } from "./artifacts.js";
import { type EvalJob, type EvalResult, evalJobId, QUEUE_NAME, USAGE_PREFIX } from "./jobs.js";
import { bullConnection, checkRedis } from "./redis.js";
import type { QueueAddress } from "./url.js";

export interface QueueEvaluatorOptions {
  address: QueueAddress;
  artifacts: string;
  checkpoint: string;
  space: SpaceConfig;
  set: FitnessSet;
  backend: string;
  batchSize?: number;
  logger?: Logger;
  /** Log how many jobs wait (and that workers are needed) this often while none runs or finishes (ms). */
  idleLogMs?: number;
}

/** A job failed on a worker for a reason that is not the user's: a bug there (exit 1). */
export class QueueJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueueJobError";
  }
}

/** A driver's side of the queue: submit a job by its id and wait for its result. */
export interface QueueClient {
  /** Queue `data` as job `id` (a finished job of that id answers at once; a failed one runs again). */
  run<R>(name: string, id: string, data: object, what: string): Promise<R>;
  close(): Promise<void>;
}

/** Connects (Redis checked first); `logger` hears when jobs wait and nothing finishes. */
export async function openQueue(
  address: QueueAddress,
  logger?: Logger,
  // tests: PSVIT_TEST_QUEUE_IDLE_MS
  idleLogMs = Number(process.env.PSVIT_TEST_QUEUE_IDLE_MS) || 60_000,
): Promise<QueueClient> {
  await checkRedis(address);
  // BullMQ owns its connections (options, not clients): its close() ends them gracefully
  const queue = new Queue(QUEUE_NAME, { connection: bullConnection(address) });
  const events = new QueueEvents(QUEUE_NAME, { connection: bullConnection(address) });
  queue.on("error", () => {}); // connection trouble: BullMQ reconnects; a lost server stalls the wait
  events.on("error", () => {});
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  let inFlight = 0;
  let lastDone = Date.now();
  const idle = setInterval(async () => {
    if (inFlight === 0 || Date.now() - lastDone < idleLogMs) return;
    const counts = await queue.getJobCounts("waiting", "active").catch(() => null);
    // jobs running (a long training): a worker is at work, nothing to say
    if (counts && counts.active === 0) {
      logger?.warn(
        `queue ${address.url}: ${inFlight} job(s) outstanding (${counts.waiting} waiting, ${counts.active} active) and none finished for ${Math.round((Date.now() - lastDone) / 1000)} s: is a psvit worker running?`,
      );
    }
  }, idleLogMs);
  idle.unref();

  // Closing rejects every run still in flight (a search stopped by a failed job closes the client with
  // other candidates outstanding), whatever command or event it waits on.
  let closed = false;
  let rejectOnClose: (e: Error) => void = () => {};
  const whenClosed = new Promise<never>((_, reject) => {
    rejectOnClose = reject;
  });
  whenClosed.catch(() => {}); // raced below; never unhandled itself
  const bus = events as unknown as NodeJS.EventEmitter; // per-job event names are not in its typings
  /**
   * The job's result: its completed / failed event, or its state read once after the events stream
   * listens (it may have finished before). BullMQ's own Job.waitUntilFinished issues that read inside a
   * promise executor, so a connection closed during it was an unhandled "Connection is closed."
   * rejection; here every command's error reaches the caller.
   */
  const finished = <R>(id: string): Promise<R> => {
    let off = () => {};
    const event = new Promise<R>((resolve, reject) => {
      const onCompleted = (a: { returnvalue: unknown }) => resolve(a.returnvalue as R);
      const onFailed = (a: { failedReason: string }) => reject(new Error(a.failedReason));
      bus.on(`completed:${id}`, onCompleted);
      bus.on(`failed:${id}`, onFailed);
      off = () => {
        bus.off(`completed:${id}`, onCompleted);
        bus.off(`failed:${id}`, onFailed);
      };
    });
    event.catch(() => {}); // handled where poll returns it; a failure that comes first is not unhandled
    const poll = (async (): Promise<R> => {
      await events.waitUntilReady();
      const state = await queue.getJobState(id);
      if (state !== "completed" && state !== "failed") return event; // not finished yet: its event says when
      // read after the state: a job read first could finish in between and carry no result yet
      const job = await Job.fromId(queue, id);
      if (!job) throw new QueueJobError(`job ${id} vanished from the queue`);
      if (state === "completed") return job.returnvalue as R;
      throw new Error(job.failedReason);
    })();
    return poll.finally(off);
  };

  return {
    async run<R>(name: string, id: string, data: object, what: string): Promise<R> {
      if (closed) throw new QueueJobError(`${what} (job ${id}): the queue client is closed`);
      inFlight++;
      try {
        const work = (async () => {
          await queue.add(name, data, {
            jobId: id,
            attempts: 1,
            removeOnComplete: { age: 7 * 24 * 3600 },
            removeOnFail: { age: 7 * 24 * 3600 },
          });
          // an earlier failure of this very job (a worker of another version, say): run it again
          const job = await Job.fromId(queue, id);
          if (!job) throw new QueueJobError(`job ${id} vanished from the queue right after it was added`);
          if ((await job.getState()) === "failed") await job.retry("failed");
          return finished<R>(id);
        })();
        work.catch(() => {}); // after a close, its late failure is answered by whenClosed
        const result = await Promise.race([work, whenClosed]);
        lastDone = Date.now();
        return result;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (closed)
          throw new QueueJobError(`${what} (job ${id}): the queue client was closed while it was in flight`);
        if (e instanceof PsvitError || e instanceof QueueJobError) throw e;
        if (message.startsWith(USAGE_PREFIX)) throw new UsageError(message.slice(USAGE_PREFIX.length));
        throw new QueueJobError(`${what} (job ${id}) failed on a worker: ${message}`);
      } finally {
        inFlight--;
      }
    },
    async close() {
      clearInterval(idle);
      closed = true;
      rejectOnClose(new QueueJobError("the queue client was closed while the job was in flight"));
      await events.close();
      await queue.close();
    },
  };
}

export async function createQueueEvaluator(o: QueueEvaluatorOptions): Promise<Evaluator> {
  const checkpoint = publishFile(o.artifacts, o.checkpoint, ".safetensors", "supernet checkpoint");
  const fitness = publishBytes(o.artifacts, encodeFitnessSet(o.set), ".fitset", "fitness set");
  const client = await openQueue(o.address, o.logger, o.idleLogMs);
  o.logger?.info(
    `queue ${o.address.url}: candidates go to BullMQ queue "${QUEUE_NAME}"; run workers with: psvit worker --queue ${o.address.url} --artifacts ${o.artifacts}`,
  );
  return {
    evaluate: async (arch: Arch) => {
      const data: EvalJob = {
        kind: "search-eval",
        psvit: PSVIT_VERSION,
        checkpoint,
        fitness,
        space: o.space,
        arch: formatArch(arch),
        backend: o.backend,
        batchSize: o.batchSize ?? 250,
      };
      const id = evalJobId(data);
      const result = await client.run<EvalResult>("search-eval", id, data, `candidate ${data.arch}`);
      if (typeof result?.accuracy !== "number") {
        throw new QueueJobError(`job ${id}: the worker returned no accuracy (${JSON.stringify(result)})`);
      }
      return result.accuracy;
    },
    close: () => client.close(),
  };
}
