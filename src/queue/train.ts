/**
 * `psvit train CONFIG --queue URL --artifacts DIR --out OUT`: the training runs on a `psvit worker`
 * (any machine that reaches the Redis and sees the store) exactly as `psvit train` would run it here:
 * the driver resolves the recipe, seed and data, publishes the splits to the artifact store and queues
 * one `train-run` job (./jobs.ts; its id a function of its inputs); the worker trains on a thread of
 * its own and publishes the run directory's files; the driver copies them into OUT.
 *
 * Nothing is written before the inputs are checked (OUT, the store, the data, Redis), and OUT is
 * replaced (--force) only once the new run's files all exist beside it. A driver killed while it waits
 * loses nothing: the same command again waits for the same job (or, finished, gets its result at once).
 * Checkpoints stay on the worker: a worker killed mid-training has the job started over elsewhere.
 */

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ModelConfig } from "../config/schema.js";
import { materialize } from "../data/stream/split.js";
import { UsageError } from "../errors.js";
import { freshInputs, type TrainRunOptions, type TrainRunResult } from "../train/run.js";
import { RunDir, type RunSnapshot } from "../train/rundir.js";
import { createLogger } from "../util/log.js";
import { PSVIT_VERSION } from "../version.js";
import { checkArtifactsDir, openArtifact, publishDataset } from "./artifacts.js";
import { openQueue, QueueJobError } from "./evaluator.js";
import { type RunJob, type RunResult, trainJobId } from "./jobs.js";
import type { QueueAddress } from "./url.js";

export interface QueuedTrainOptions extends TrainRunOptions {
  model: ModelConfig;
  queue: { address: QueueAddress; artifacts: string };
}

export async function trainModelQueued(o: QueuedTrainOptions): Promise<TrainRunResult> {
  if (o.resume) {
    throw new UsageError(
      "--resume continues a run on this machine; a queued training is continued by running the same command again (it waits for the same job)",
    );
  }
  const { address, artifacts } = o.queue;
  RunDir.checkFresh(o.out, { force: o.force });
  checkArtifactsDir(artifacts);
  const inputs = await freshInputs("train", o.model, o);
  const logger = createLogger(o.logLevel ? { level: o.logLevel } : {});
  const client = await openQueue(address, logger);
  try {
    const job: RunJob = {
      kind: "train-run",
      psvit: PSVIT_VERSION,
      model: o.model,
      recipe: inputs.recipe,
      seed: inputs.seed,
      // a queued run's data travels as IDX files: an image folder is decoded for it (eval transform)
      train: publishDataset(
        artifacts,
        await materialize(inputs.data.train, o.skipBadImages),
        "training split",
      ),
      val: publishDataset(artifacts, await materialize(inputs.data.val, o.skipBadImages), "validation split"),
      info: inputs.data.info,
      data: { spec: o.data ?? null, dataDir: o.dataDir ?? null },
      evalImages: o.evalImages,
      backend: o.backend ?? "auto",
      label: `train ${o.model.name} seed ${inputs.seed}`,
    };
    const id = trainJobId(job);
    logger.info(
      `queue ${address.url}: training ${o.model.name} (seed ${inputs.seed}, ${inputs.recipe.epochs} epoch(s)) is job ${id}; run workers with: psvit worker --queue ${address.url} --artifacts ${artifacts}`,
    );
    const r = await client.run<RunResult>("train-run", id, job, `the training of ${o.model.name}`);
    const weights = `${o.model.name}.safetensors`;
    for (const needed of ["run.json", weights]) {
      if (!r?.files?.[needed]) {
        throw new QueueJobError(
          `job ${id}: the worker returned no ${needed} (${Object.keys(r?.files ?? {})})`,
        );
      }
    }
    logger.info(
      `job ${id} trained by ${r.worker} in ${r.seconds.toFixed(1)} s; copying its run into ${o.out}`,
    );
    const out = resolve(o.out);
    mkdirSync(dirname(out), { recursive: true });
    const staging = `${out}.queued-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(join(staging, "checkpoints"), { recursive: true });
    try {
      for (const [name, ref] of Object.entries(r.files)) {
        if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
          throw new QueueJobError(`job ${id}: the worker returned a file named ${JSON.stringify(name)}`);
        }
        copyFileSync(openArtifact(artifacts, ref), join(staging, name));
      }
      const snapshot = JSON.parse(readFileSync(join(staging, "run.json"), "utf8")) as RunSnapshot & {
        queue?: object;
      };
      snapshot.args = o.args;
      snapshot.queue = {
        url: address.url,
        job: id,
        worker: r.worker,
        thread: r.thread,
        startedAt: new Date(r.startedAt).toISOString(),
        endedAt: new Date(r.endedAt).toISOString(),
      };
      writeFileSync(join(staging, "run.json"), `${JSON.stringify(snapshot, null, 2)}\n`);
      replaceDir(staging, out);
      return {
        ...r.result,
        report: join(out, "report.html"),
        run: RunDir.existing(out),
        snapshot,
        seconds: r.seconds,
      };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  } finally {
    await client.close();
  }
}

/** `staging` becomes `out`; an `out` that existed (--force) is removed only after the swap. */
function replaceDir(staging: string, out: string): void {
  if (!existsSync(out)) {
    renameSync(staging, out);
    return;
  }
  const old = `${out}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  renameSync(out, old);
  renameSync(staging, out);
  rmSync(old, { recursive: true, force: true });
}
