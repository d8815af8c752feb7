/**
 * `psvit worker --queue URL --artifacts DIR [--concurrency N]`: takes jobs from the BullMQ queue, on any
 * machine that reaches the Redis and sees the artifact store. A search candidate's job is evaluated by
 * a pool of N worker threads (src/eval/pool.ts) holding the job's supernet, loaded once per checkpoint
 * (the two most recent are kept); a training job (a rank-corr subnet, `psvit train --queue`) runs on a
 * thread of its own (./train-thread.ts), N at once. The main thread stays free to renew BullMQ's job locks.
 *
 * Refused (the job fails at once, not retried, with a message the driver shows as one line, exit 2):
 * a job queued by another psvit version, an input missing from the store or whose bytes hash to
 * something else. A killed worker's job is taken over by another worker once its lock expires
 * (`lockMs`, BullMQ's lockDuration and stalledInterval: 30 s by default).
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker as BullWorker, type Job, UnrecoverableError } from "bullmq";
import { PsvitError } from "../errors.js";
import { createEvaluator, type Evaluator } from "../eval/pool.js";
import { parseArch } from "../space/arch.js";
import type { Logger } from "../util/log.js";
import { PSVIT_VERSION } from "../version.js";
import { checkArtifactsDir, decodeFitnessSet, openArtifact } from "./artifacts.js";
import {
  type EvalJob,
  type EvalResult,
  QUEUE_NAME,
  type RunJob,
  type RunResult,
  type TrainJob,
  type TrainResult,
  USAGE_PREFIX,
} from "./jobs.js";
import { bullConnection, checkRedis } from "./redis.js";
import { runJobThread } from "./thread-io.js";
import type { TrainThreadInit } from "./train-thread.js";
import type { QueueAddress } from "./url.js";

export interface QueueWorkerOptions {
  address: QueueAddress;
  artifacts: string;
  /** Jobs at once, each on its own thread (default 1). */
  concurrency?: number;
  logger: Logger;
  /** BullMQ's lock duration and stalled-job check interval (ms, default 30,000). */
  lockMs?: number;
  /** Tests: the version this worker claims. */
  version?: string;
  /** Tests: wait this long in every job before evaluating (so a test can kill a worker mid-job). */
  slowMs?: number;
}

export interface QueueWorker {
  /** Jobs finished by this process. */
  finished(): number;
  /** Stop taking jobs, let the running ones finish, release everything. */
  close(): Promise<void>;
}

const usage = (message: string) => new UnrecoverableError(`${USAGE_PREFIX}${message}`);

type AnyJob = EvalJob | TrainJob | RunJob;
type AnyResult = EvalResult | TrainResult | RunResult;
const KINDS = ["search-eval", "train-scratch", "train-run"];

/** The compiled thread script (dist/queue/train-thread.js), also when this module runs from src/. */
function trainThreadScript(): string {
  for (const rel of ["./train-thread.js", "../../dist/queue/train-thread.js"]) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error("queue training thread script not found: run `npm run build`");
}

export async function startQueueWorker(o: QueueWorkerOptions): Promise<QueueWorker> {
  const { version } = await checkRedis(o.address);
  checkArtifactsDir(o.artifacts);
  const concurrency = o.concurrency ?? 1;
  const me = `${os.hostname()}:${process.pid}`;
  const claimed = o.version ?? PSVIT_VERSION;
  /** Supernet pools by inputs, most recent last. */
  const pools = new Map<string, Promise<Evaluator>>();
  let finished = 0;

  const poolFor = async (d: EvalJob): Promise<Evaluator> => {
    const key = [d.checkpoint.sha256, d.fitness.sha256, d.backend, d.batchSize].join("/");
    let pool = pools.get(key);
    if (pool) {
      pools.delete(key);
      pools.set(key, pool);
      return pool;
    }
    const checkpoint = openArtifact(o.artifacts, d.checkpoint);
    const fitFile = openArtifact(o.artifacts, d.fitness);
    const set = decodeFitnessSet(readFileSync(fitFile), fitFile);
    pool = createEvaluator({
      checkpoint,
      space: d.space,
      set,
      backend: d.backend,
      workers: concurrency,
      batchSize: d.batchSize,
    });
    pools.set(key, pool);
    pool.catch(() => pools.delete(key));
    while (pools.size > 2) {
      const [oldKey, old] = pools.entries().next().value as [string, Promise<Evaluator>];
      pools.delete(oldKey);
      old.then((e) => e.close()).catch(() => {});
    }
    return pool;
  };

  /** A training job on a thread of its own (./train-thread.ts), so this thread keeps renewing locks. */
  const train = async (job: Job<TrainJob | RunJob>): Promise<TrainResult | RunResult> => {
    const init: TrainThreadInit = {
      job: job.data,
      jobId: job.id ?? "?",
      artifacts: o.artifacts,
      worker: me,
      psvit: claimed,
      logLevel: o.logger.level,
      slowMs: o.slowMs,
    };
    o.logger.info({ job: job.id }, `${job.data.label} started`);
    const m = await runJobThread(
      trainThreadScript(),
      init,
      (line) => process.stderr.write(line),
      `worker ${me}: the training thread of job ${job.id}`,
    );
    if (m.type === "usage") throw usage(`worker ${me}: ${m.message}`);
    if (m.type !== "done") throw new Error(String(m.message));
    finished++;
    const r = m.result as TrainResult | RunResult;
    o.logger.info(
      { job: job.id },
      `${job.data.label}: trained in ${r.seconds.toFixed(1)} s (thread ${r.thread})`,
    );
    return r;
  };

  const processor = async (job: Job<AnyJob, AnyResult>): Promise<AnyResult> => {
    const d = job.data;
    const known = KINDS.includes(job.name) && d?.kind === job.name;
    if (!known) {
      throw usage(`job ${job.id} is a ${JSON.stringify(job.name)} job, which psvit ${claimed} does not know`);
    }
    if (d.psvit !== claimed) {
      throw usage(
        `worker ${me} runs psvit ${claimed} but job ${job.id} was queued by psvit ${d.psvit}: run the same psvit version on the driver and its workers`,
      );
    }
    if (d.kind !== "search-eval") return train(job as Job<TrainJob | RunJob>);
    const t0 = performance.now();
    o.logger.info({ job: job.id }, `${d.arch} started`);
    let pool: Evaluator;
    try {
      pool = await poolFor(d);
    } catch (e) {
      if (e instanceof PsvitError) throw usage(`worker ${me}: ${e.message}`);
      throw e;
    }
    if (o.slowMs) await new Promise((r) => setTimeout(r, o.slowMs));
    const accuracy = await pool.evaluate(parseArch(d.arch));
    finished++;
    o.logger.info(
      { job: job.id },
      `${d.arch}: ${(accuracy * 100).toFixed(2)}% in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return { accuracy, worker: me, psvit: claimed };
  };

  const connection = bullConnection(o.address); // options: BullMQ owns and closes the connection
  const worker = new BullWorker<AnyJob, AnyResult>(QUEUE_NAME, processor, {
    connection,
    concurrency,
    lockDuration: o.lockMs ?? 30_000,
    stalledInterval: o.lockMs ?? 30_000,
    maxStalledCount: 3,
    autorun: false,
  });
  worker.on("error", (e) => o.logger.warn(`queue ${o.address.url}: ${e.message}`));
  worker.on("failed", (job, e) => o.logger.warn({ job: job?.id }, `job ${job?.id} failed: ${e.message}`));
  void worker.run();
  await worker.waitUntilReady();
  o.logger.info(
    `worker ${me} (psvit ${claimed}) takes jobs from ${o.address.url} (Redis ${version}), concurrency ${concurrency}, artifacts ${o.artifacts}`,
  );
  return {
    finished: () => finished,
    close: async () => {
      await worker.close();
      await Promise.all([...pools.values()].map((p) => p.then((e) => e.close()).catch(() => {})));
      pools.clear();
    },
  };
}
