#!/usr/bin/env node
/**
 * One side of bench/interleave.mjs: builds a psvit model from a model config (same data and step as
 * `psvit bench`: random normal images, random labels, cross-entropy, AdamW), prints "ready", then
 * answers one line per command on stdin: "train" or "fwd" runs one step and prints its milliseconds
 * (timed here, so the pipe is not in the figure); "quit" prints {"peak_rss_mb"} and exits.
 *
 *   node bench/psvit-worker.mjs MODEL.json [--batch 64] [--threads 1] [--backend wasm]
 */
import readline from "node:readline";
import { argv as args, opt, root } from "./args.mjs";

const { initBackend } = await import(`${root}/dist/engine/backend.js`);
const { AdamW } = await import(`${root}/dist/engine/adamw.js`);
const { trainStep, peakRssMb } = await import(`${root}/dist/engine/benchmark.js`);
const { modelFromFile } = await import(`${root}/dist/config/model-file.js`);
const { HvtModel } = await import(`${root}/dist/model/hvt.js`);
const tf = await import("@tensorflow/tfjs");

const batch = Number(opt("batch", "64"));
await initBackend(opt("backend", "wasm"), { threads: Number(opt("threads", "1")), log: false });
const cfg = modelFromFile(args[0]);
const model = HvtModel.create(cfg, { seed: 0 });
const { size, channels } = cfg.image;
const x = tf.randomNormal([batch, size, size, channels], 0, 1, "float32", 1);
const labels = tf.tidy(() =>
  tf.randomUniform([batch], 0, cfg.numClasses, "float32", 2).floor().cast("int32"),
);
const opt_ = new AdamW({ weightDecay: 0.05 });
const vars = model.variables();
const steps = {
  train: () => trainStep(model, opt_, x, labels, 1e-4, vars),
  fwd: () => tf.tidy(() => void model.forward(x).dataSync()),
};
for (const f of Object.values(steps)) for (let i = 0; i < 2; i++) await f();
const start = tf.memory().numTensors;
process.stdout.write("ready\n");
for await (const line of readline.createInterface({ input: process.stdin })) {
  const cmd = line.trim();
  if (cmd === "quit") {
    const leaked = tf.memory().numTensors - start;
    process.stdout.write(
      `${JSON.stringify({ peak_rss_mb: Math.round(peakRssMb()), leaked_tensors: leaked })}\n`,
    );
    process.exit(0);
  }
  const f = steps[cmd];
  if (!f) {
    process.stdout.write(`error unknown command ${JSON.stringify(cmd)}\n`);
    continue;
  }
  const t0 = performance.now();
  await f();
  process.stdout.write(`${(performance.now() - t0).toFixed(3)}\n`);
}
