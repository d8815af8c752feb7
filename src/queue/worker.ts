/**
 * `psvit worker --queue URL --artifacts DIR [--concurrency N]`: takes jobs from the BullMQ queue, on any
 * machine that reaches the Redis and sees the artifact store. A search candidate's job is evaluated by
 * a pool of N worker threads (src/eval/pool.ts) holding the job's supernet, loaded once per checkpoint
 * (the two most recent are kept), so the main thread stays free to renew BullMQ's job locks.
 *
 * Refused (the job fails at once, not retried, with a message the driver shows as one line, exit 2):
 * a job queued by another psvit version, an input missing from the store or whose bytes hash to
 * something else. A killed worker's job is taken over by another worker once its lock expires
 * (`lockMs`, BullMQ's lockDuration and stalledInterval: 30 s by default).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { PsvitError } from "../errors.js";
import { createEvaluator, type Evaluator } from "../eval/pool.js";
import { parseArch } from "../space/arch.js";
import type { Logger } from "../util/log.js";
import { PSVIT_VERSION } from "../version.js";
import { checkArtifactsDir, decodeFitnessSet, openArtifact, openDataset } from "./artifacts.js";
import {
  type EvalJob,
  type EvalResult,
  QUEUE_NAME,
  type TrainJob,
  type TrainResult,
  USAGE_PREFIX,
} from "./jobs.js";
import { bullConnection, checkRedis } from "./redis.js";
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

  /** The backend this process's own thread trains on (set by the first training job). */
  let trainBackend: string | undefined;
  const train = async (job: Job<TrainJob, TrainResult>): Promise<TrainResult> => {
    const d = job.data;
    if (trainBackend === undefined) {
      const { initBackend } = await import("../engine/backend.js");
      await initBackend(d.backend, { log: false, threads: 1 });
      trainBackend = d.backend;
    } else if (trainBackend !== d.backend) {
      throw usage(
        `worker ${me} trains on ${trainBackend}; job ${job.id} asks for ${d.backend}: start a worker per backend`,
      );
    }
    let train: ReturnType<typeof openDataset>;
    let val: ReturnType<typeof openDataset>;
    let set: ReturnType<typeof decodeFitnessSet>;
    try {
      train = openDataset(o.artifacts, d.train);
      val = openDataset(o.artifacts, d.val);
      const fitFile = openArtifact(o.artifacts, d.fitness);
      set = decodeFitnessSet(readFileSync(fitFile), fitFile);
    } catch (e) {
      if (e instanceof PsvitError) throw usage(`worker ${me}: ${e.message}`);
      throw e;
    }
    o.logger.info({ job: job.id }, `${d.label} started`);
    if (o.slowMs) await new Promise((r) => setTimeout(r, o.slowMs));
    const t0 = performance.now();
    const { HvtModel } = await import("../model/hvt.js");
    const { modelTarget } = await import("../train/targets.js");
    const { runTraining } = await import("../train/run.js");
    const { RunDir } = await import("../train/rundir.js");
    const { setAccuracy } = await import("./../eval/fitness.js");
    const { countModel } = await import("../flops/count.js");
    const dir = mkdtempSync(join(os.tmpdir(), "psvit-job-"));
    const net = HvtModel.create(d.model, { seed: d.seed });
    try {
      const flops = countModel(d.model).flops;
      const result = await runTraining({
        label: d.label,
        target: modelTarget(net, d.model),
        evalPaths: [{ label: "model", arch: null, flops }],
        data: { train, val, info: { augment: d.augment } },
        preprocess: d.preprocess,
        recipe: d.recipe,
        seed: d.seed,
        run: RunDir.open(join(dir, "run")),
        logger: o.logger,
        evalImages: d.evalImages,
        tty: false,
      });
      const top1 = setAccuracy((x) => net.forward(x), set);
      finished++;
      const seconds = (performance.now() - t0) / 1000;
      o.logger.info({ job: job.id }, `${d.label}: ${(top1 * 100).toFixed(2)}% in ${seconds.toFixed(1)} s`);
      return { top1, steps: result.steps, seconds, worker: me, psvit: claimed };
    } finally {
      net.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const processor = async (
    job: Job<EvalJob | TrainJob, EvalResult | TrainResult>,
  ): Promise<EvalResult | TrainResult> => {
    const d = job.data;
    const known = (job.name === "search-eval" || job.name === "train-scratch") && d?.kind === job.name;
    if (!known) {
      throw usage(`job ${job.id} is a ${JSON.stringify(job.name)} job, which psvit ${claimed} does not know`);
    }
    if (d.psvit !== claimed) {
      throw usage(
        `worker ${me} runs psvit ${claimed} but job ${job.id} was queued by psvit ${d.psvit}: run the same psvit version on the driver and its workers`,
      );
    }
    if (d.kind === "train-scratch") return train(job as Job<TrainJob, TrainResult>);
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

  const connection = bullConnection(o.address); // BullMQ leaves it open: closed in close()
  const worker = new Worker<EvalJob | TrainJob, EvalResult | TrainResult>(QUEUE_NAME, processor, {
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
      connection.disconnect();
      await Promise.all([...pools.values()].map((p) => p.then((e) => e.close()).catch(() => {})));
      pools.clear();
    },
  };
}
