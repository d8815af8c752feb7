/**
 * The decoding thread of a folder stream (./batch-maker.ts ThreadMaker): makes each batch it is asked
 * for with a LocalMaker and posts it back, its arrays transferred. A DataError (an unreadable file) goes
 * back as data, for the stream to raise as the user's error; anything else with its stack.
 */
import { parentPort, workerData } from "node:worker_threads";
import { DataError } from "../../errors.js";
import { LocalMaker, type MakerOptions } from "./batch-maker.js";

const port = parentPort!;
const maker = new LocalMaker(workerData as MakerOptions);

port.on("message", async (m: { id: number; epoch: number; index: number; ids: Int32Array }) => {
  try {
    const b = await maker.make(m.epoch, m.index, m.ids);
    port.postMessage({ id: m.id, ...b }, [b.x.buffer as ArrayBuffer, b.y.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    port.postMessage({
      id: m.id,
      error: {
        data: e instanceof DataError,
        message: err.message,
        file: e instanceof DataError ? e.file : undefined,
        stack: err.stack,
      },
    });
  }
});
