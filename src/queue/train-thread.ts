/**
 * One training job of a queue worker (./worker.ts), on a worker thread of its own: a training's
 * synchronous steps would otherwise hold the worker's main thread, which must stay free to renew
 * BullMQ's job lock (a lock not renewed within its duration hands the running job to another worker).
 * The thread starts its own backend (1 wasm thread), trains, posts one message and ends, so nothing of
 * one job (tensors, the backend) outlives it.
 *
 *   train-scratch  a rank-corr subnet: trained in a temporary run directory, scored on the fitness set
 *   train-run      `psvit train --queue`: the driver's whole run, its files published to the store
 *
 * Posts `{ type: "done", result }`, `{ type: "usage", message }` (a PsvitError, the user's to fix: an
 * input missing from the store) or `{ type: "error", message }` (a bug: the stack).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parentPort, threadId, workerData } from "node:worker_threads";
import { PsvitError } from "../errors.js";
import { createLogger } from "../util/log.js";
import { type ArtifactRef, decodeFitnessSet, openArtifact, openDataset, publishFile } from "./artifacts.js";
import type { RunJob, RunResult, TrainJob, TrainResult } from "./jobs.js";
import { forwardConsole } from "./thread-io.js";

export interface TrainThreadInit {
  job: TrainJob | RunJob;
  jobId: string;
  artifacts: string;
  /** host:pid of the worker process. */
  worker: string;
  /** The psvit version the worker claims. */
  psvit: string;
  logLevel?: string;
  /** Tests: wait this long after starting, before training (so jobs of one worker overlap). */
  slowMs?: number;
}

const init = workerData as TrainThreadInit;
const port = parentPort!;
forwardConsole(port); // log lines travel with the result, so none is lost when the worker ends the thread

async function trainScratch(d: TrainJob, startedAt: number): Promise<TrainResult> {
  // a missing or altered input is a UsageError (a PsvitError): the user's to fix
  const train = openDataset(init.artifacts, d.train);
  const val = openDataset(init.artifacts, d.val);
  const fitFile = openArtifact(init.artifacts, d.fitness);
  const set = decodeFitnessSet(readFileSync(fitFile), fitFile);
  const logger = createLogger({ level: init.logLevel });
  if (init.slowMs) await new Promise((r) => setTimeout(r, init.slowMs));
  const t0 = performance.now();
  const { HvtModel } = await import("../model/hvt.js");
  const { modelTarget } = await import("../train/targets.js");
  const { runTraining } = await import("../train/run.js");
  const { RunDir } = await import("../train/rundir.js");
  const { setAccuracy } = await import("../eval/fitness.js");
  const { countModel } = await import("../flops/count.js");
  const dir = mkdtempSync(join(os.tmpdir(), "psvit-job-"));
  const net = HvtModel.create(d.model, { seed: d.seed });
  try {
    const result = await runTraining({
      label: d.label,
      target: modelTarget(net, d.model),
      evalPaths: [{ label: "model", arch: null, flops: countModel(d.model).flops }],
      data: { train, val, info: { augment: d.augment } },
      preprocess: d.preprocess,
      recipe: d.recipe,
      seed: d.seed,
      run: RunDir.open(join(dir, "run")),
      logger,
      evalImages: d.evalImages,
      tty: false,
    });
    const top1 = await setAccuracy((x) => net.forward(x), set);
    const seconds = (performance.now() - t0) / 1000;
    logger.info({ job: init.jobId }, `${d.label}: ${(top1 * 100).toFixed(2)}% in ${seconds.toFixed(1)} s`);
    const stamp = { thread: threadId, startedAt, endedAt: Date.now() };
    return { top1, steps: result.steps, seconds, worker: init.worker, psvit: init.psvit, ...stamp };
  } finally {
    net.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function trainRun(d: RunJob, startedAt: number): Promise<RunResult> {
  const train = openDataset(init.artifacts, d.train);
  const val = openDataset(init.artifacts, d.val);
  if (init.slowMs) await new Promise((r) => setTimeout(r, init.slowMs));
  const { trainModelOn } = await import("../train/run.js");
  const dir = mkdtempSync(join(os.tmpdir(), "psvit-run-"));
  try {
    const out = join(dir, "run");
    const r = await trainModelOn(
      d.model,
      { recipe: d.recipe, seed: d.seed, data: { train, val, info: d.info } },
      {
        out,
        seed: d.seed,
        data: d.data.spec ?? undefined,
        dataDir: d.data.dataDir ?? undefined,
        backend: d.backend,
        threads: 1,
        evalImages: d.evalImages,
        logLevel: init.logLevel,
        resumeCommand: "(a queued training is not resumed: the job starts over on another worker)",
        args: { queued: init.jobId, label: d.label },
        tty: false,
      },
    );
    // the run directory's files (not checkpoints/) go to the store, named by content
    const files: Record<string, ArtifactRef> = {};
    for (const name of readdirSync(out).sort()) {
      const file = join(out, name);
      if (!statSync(file).isFile() || name.startsWith(".")) continue;
      const ext = name.slice(name.indexOf(".")); // run.json → .json, x.model.json → .model.json
      files[name] = publishFile(init.artifacts, file, ext, `${name} of job ${init.jobId}`);
    }
    const { run: _run, snapshot: _s, report: _r, seconds, ...result } = r;
    const stamp = { thread: threadId, startedAt, endedAt: Date.now() };
    return { files, result, seconds, worker: init.worker, psvit: init.psvit, ...stamp };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const startedAt = Date.now();
  const { initBackend } = await import("../engine/backend.js");
  await initBackend(init.job.backend, { log: false, threads: 1 });
  const result =
    init.job.kind === "train-run"
      ? await trainRun(init.job, startedAt)
      : await trainScratch(init.job, startedAt);
  port.postMessage({ type: "done", result });
} catch (e) {
  // the user's to fix (an input missing from the store, a loss that became NaN): one line, exit 2
  if (e instanceof PsvitError) port.postMessage({ type: "usage", message: e.message });
  else port.postMessage({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
