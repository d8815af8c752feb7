#!/usr/bin/env node
// Interleaved A/B of one training step (or forward pass) in ONE process: the engine's fast paths off
// (A) and on (B), alternating, medians. Machine load hits both sides alike.
//   npm run build && node bench/ab-step.mjs [all|kernels|simd|bmm|linear|wgrad] [rounds=9]
//   env ARCH=BBSSII-BBSSII-BBSSII (fmnist-2d path), FWD=1 (forward pass instead of a training step)
// what: all = everything below; kernels = wasm-kernels.ts (overrides + fused kernels); simd = SIMD
// module vs its JavaScript fallback; bmm = SIMD batched product vs depthwise formulation; linear =
// linear's products on the SIMD kernel vs XNNPACK; wgrad = the (dCᵀ·A)ᵀ weight-gradient form.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const { initBackend } = await import(`${root}/dist/engine/backend.js`);
const { AdamW } = await import(`${root}/dist/engine/adamw.js`);
const { trainStep } = await import(`${root}/dist/engine/benchmark.js`);
const { loadSpaceConfig } = await import(`${root}/dist/config/load.js`);
const { materialize, parseArch } = await import(`${root}/dist/space/arch.js`);
const { HvtModel } = await import(`${root}/dist/model/hvt.js`);
const bmm = await import(`${root}/dist/engine/bmm.js`);
const wk = await import(`${root}/dist/engine/wasm-kernels.js`);
const tf = await import("@tensorflow/tfjs");

const what = process.argv[2] ?? "all";
const rounds = Number(process.argv[3] ?? 9);
const arch = process.env.ARCH ?? "BBSSII-BBSSII-BBSSII";
const fwd = process.env.FWD === "1";
await initBackend("wasm", { log: false });
const cfg = materialize(loadSpaceConfig(`${root}/search-spaces/fmnist-2d.json`), parseArch(arch));
const model = HvtModel.create(cfg, { seed: 0 });
const x = tf.randomNormal([64, 32, 32, 1], 0, 1, "float32", 1);
const labels = tf.tidy(() => tf.randomUniform([64], 0, 10, "float32", 2).floor().cast("int32"));
const opt = new AdamW({ weightDecay: 0.05 });
const vars = model.variables();

const set = (on) => {
  if (what === "all" || what === "kernels") wk.setWasmFastKernels(on);
  if (what === "all" || what === "wgrad") bmm.setWideWeightGrad(on);
  if (what === "all" || what === "bmm") wk.setWasmBmm(on);
  if (what === "all" || what === "linear") wk.setWasmLinear(on);
  if (what === "simd") wk.setWasmSimdKernels(on);
};
const run = () => {
  const t0 = performance.now();
  if (fwd) {
    tf.tidy(() => {
      model.forward(x).dataSync();
    });
  } else {
    trainStep(model, opt, x, labels, 1e-4, vars);
  }
  return performance.now() - t0;
};
for (const on of [false, true]) {
  set(on);
  run();
  run();
}
const A = [];
const B = [];
for (let r = 0; r < rounds; r++) {
  set(false);
  A.push(run());
  set(true);
  B.push(run());
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (xs) => xs.map((t) => t.toFixed(0)).join(" ");
console.log(
  `${arch} ${fwd ? "forward" : "train"} ${what}: off ${med(A).toFixed(0)} ms, on ${med(B).toFixed(0)} ms, ` +
    `${(med(A) / med(B)).toFixed(2)}× (off ${ms(A)} | on ${ms(B)})`,
);
