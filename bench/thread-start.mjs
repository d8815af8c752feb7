// What a FolderBatchStream's decoding thread costs to start at a folder's size: a Worker started with a
// file list and labels of the shape the stream hands its thread (ImageNet-like names), timed until its
// first message, 3 starts. docs/BENCHMARKS.md, "What a stream's own decoding thread costs".
//   node bench/thread-start.mjs [N=1281167]
import { Worker } from "node:worker_threads";

const n = Number(process.argv[2] ?? 1281167);
const files = Array.from(
  { length: n },
  (_, i) => `n${String(i % 1000).padStart(8, "0")}/n${String(i % 1000).padStart(8, "0")}_${i}.JPEG`,
);
const labels = Int32Array.from({ length: n }, (_, i) => i % 1000);
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  const w = new Worker(
    "const {parentPort, workerData} = require('node:worker_threads'); parentPort.postMessage(workerData.files.length);",
    { eval: true, workerData: { files, labels } },
  );
  await new Promise((ok) => w.once("message", ok));
  const t1 = performance.now();
  await w.terminate();
  console.log(`${n} files: thread up with its list in ${(t1 - t0).toFixed(0)} ms`);
}
