// Shared by bench/ab-step.mjs and bench/kernels.mjs: the engine from dist/ (run `npm run build` first)
// and the inputs of one fmnist-2d training step: model of `arch`, a batch of 64 random images and
// labels, AdamW and the model's variables.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `configure({ wk, bmm })` runs after the backend starts and before the model is built. */
export async function stepSetup(arch, configure) {
  const { initBackend } = await import(`${root}/dist/engine/backend.js`);
  const { AdamW } = await import(`${root}/dist/engine/adamw.js`);
  const { trainStep } = await import(`${root}/dist/engine/benchmark.js`);
  const { loadSpaceConfig } = await import(`${root}/dist/config/load.js`);
  const { materialize, parseArch } = await import(`${root}/dist/space/arch.js`);
  const { HvtModel } = await import(`${root}/dist/model/hvt.js`);
  const bmm = await import(`${root}/dist/engine/bmm.js`);
  const wk = await import(`${root}/dist/engine/wasm-kernels.js`);
  const tf = await import("@tensorflow/tfjs");
  await initBackend("wasm", { log: false });
  configure?.({ wk, bmm });
  const cfg = materialize(loadSpaceConfig(`${root}/search-spaces/fmnist-2d.json`), parseArch(arch));
  const model = HvtModel.create(cfg, { seed: 0 });
  const x = tf.randomNormal([64, 32, 32, 1], 0, 1, "float32", 1);
  const labels = tf.tidy(() => tf.randomUniform([64], 0, 10, "float32", 2).floor().cast("int32"));
  const opt = new AdamW({ weightDecay: 0.05 });
  return { tf, wk, bmm, trainStep, model, x, labels, opt, vars: model.variables() };
}
