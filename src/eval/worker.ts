/**
 * A search worker thread: starts its own backend, loads the supernet once from the run's checkpoint,
 * then answers `{ id, arch }` with `{ id, accuracy }` (or `{ id, error }`).
 */
import { parentPort, workerData } from "node:worker_threads";
import type { SpaceConfig } from "../config/schema.js";
import { initBackend } from "../engine/backend.js";
import { parseArch } from "../space/arch.js";
import { type FitnessSet, pathAccuracy, supernetFromCheckpoint } from "./fitness.js";

export interface WorkerInit {
  checkpoint: string;
  space: SpaceConfig;
  set: FitnessSet;
  backend: string;
  batchSize: number;
  /** This worker's place in the pool (0, 1, …), named in its errors. */
  index?: number;
}

const init = workerData as WorkerInit;
const port = parentPort!;
// Tests only: PSVIT_TEST_WORKER_EXIT=I:N ends worker I's thread (exit code 3) on its Nth candidate, as
// running out of memory or a wasm abort would.
const [exitWorker, exitJob] = (process.env.PSVIT_TEST_WORKER_EXIT ?? "").split(":").map(Number);
let jobs = 0;
try {
  await initBackend(init.backend, { log: false, threads: 1 });
  const net = await supernetFromCheckpoint(init.checkpoint, init.space);
  port.on("message", async (m: { id: number; arch: string } | { type: "close" }) => {
    if ("type" in m) {
      net.dispose();
      process.exit(0); // in a worker thread this ends the thread only
    }
    if (init.index === exitWorker && ++jobs === exitJob) process.exit(3);
    try {
      port.postMessage({
        id: m.id,
        accuracy: await pathAccuracy(net, parseArch(m.arch), init.set, init.batchSize),
      });
    } catch (e) {
      port.postMessage({ id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  port.postMessage({ type: "ready" });
} catch (e) {
  port.postMessage({ type: "failed", error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
