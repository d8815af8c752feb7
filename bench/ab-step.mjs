#!/usr/bin/env node
// Interleaved A/B of one training step (or forward pass) in ONE process: the engine's fast paths off
// (A) and on (B), alternating, medians. Machine load hits both sides alike.
//   npm run build && node bench/ab-step.mjs [all|kernels|simd|bmm|linear|wgrad|fma|simd-wgrad|bmm-threads|pack|pack-a|residual|bypass|attention] [rounds=9]
//   env ARCH=BBSSII-BBSSII-BBSSII (fmnist-2d path), FWD=1 (forward pass instead of a training step)
// what: all = everything below; kernels = wasm-kernels.ts (overrides + fused kernels); simd = SIMD
// module vs its JavaScript fallback; bmm = SIMD batched product vs depthwise formulation; linear =
// linear's products on the SIMD kernel vs XNNPACK; wgrad = the (dCᵀ·A)ᵀ weight-gradient form; fma = the
// relaxed-SIMD build (fused multiply-add) vs the plain SIMD build; simd-wgrad = linear's weight gradient
// on the SIMD kernel vs transpose + XNNPACK; bmm-threads = psvit's products split over helper threads
// vs the main thread alone (run with PSVIT_WASM_THREADS=2; wall time, not CPU=1); pack = B's 8-column
// panels (and A's row blocks) packed contiguously before large products vs read in place; pack-a = A's
// row blocks packed too vs B's panels alone; residual = the skip connection added inside linear's product
// vs a separate Add; bypass = inference (FWD=1) calls the fused kernels without tf.customGrad wrappers;
// attention = inference attention as one kernel per layer vs split, products, softmax, merge.
import { stepSetup } from "./step-setup.mjs";

const what = process.argv[2] ?? "all";
const rounds = Number(process.argv[3] ?? 9);
const arch = process.env.ARCH ?? "BBSSII-BBSSII-BBSSII";
const fwd = process.env.FWD === "1";
const { tf, wk, bmm, trainStep, model, x, labels, opt, vars } = await stepSetup(arch);

// each switch: the engine flags it turns off for A (src/engine/wasm/flags.ts); "all" turns off all of
// kernels, wgrad, bmm and linear together
const FLAGS = {
  kernels: ["fastKernels"],
  bmm: ["bmm"],
  linear: ["linear"],
  simd: ["simd"],
  fma: ["fma"],
  "simd-wgrad": ["simdWeightGrad"],
  "bmm-threads": ["bmmThreads"],
  pack: ["packB"],
  "pack-a": ["packA"],
  residual: ["fusedResidual"],
  bypass: ["inferenceBypass"],
  attention: ["fusedAttention"],
};
if (!["all", "wgrad"].includes(what) && !Object.hasOwn(FLAGS, what))
  throw new Error(`ab-step: unknown switch ${what}`);
const flagNames = what === "all" ? ["fastKernels", "bmm", "linear"] : (FLAGS[what] ?? []);
const set = (on) => {
  if (what === "all" || what === "wgrad") bmm.setWideWeightGrad(on);
  wk.setEngineFlags(Object.fromEntries(flagNames.map((name) => [name, on])));
};
// CPU=1: time by this process's CPU time instead of the wall clock (robust to other jobs on the machine)
const cpu = process.env.CPU === "1";
const now = () => {
  if (!cpu) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const run = async () => {
  const t0 = now();
  if (fwd) {
    tf.tidy(() => {
      model.forward(x).dataSync();
    });
  } else {
    await trainStep(model, opt, x, labels, 1e-4, vars);
  }
  return now() - t0;
};
for (const on of [false, true]) {
  set(on);
  await run();
  await run();
}
const A = [];
const B = [];
for (let r = 0; r < rounds; r++) {
  set(false);
  A.push(await run());
  set(true);
  B.push(await run());
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (xs) => xs.map((t) => t.toFixed(0)).join(" ");
console.log(
  `${arch} ${fwd ? "forward" : "train"} ${what}${cpu ? " (CPU time)" : ""}: off ${med(A).toFixed(0)} ms, on ${med(B).toFixed(0)} ms, ` +
    `${(med(A) / med(B)).toFixed(2)}× (off ${ms(A)} | on ${ms(B)})`,
);
