#!/usr/bin/env node
// Kernels of one training step (tf.profile: counts are deterministic, times are load-dependent), by
// kernel name; then the wall time of a few steps.
//   npm run build && node bench/kernels.mjs [ARCH=BBSSII-BBSSII-BBSSII]
//   env FWD=1 (a forward pass instead of a training step), DETAIL=BatchMatMul,Transpose (per-shape breakdown of those kernels), STEPS=3,
//   PSVIT_FAST=0 (the engine's fast paths off: the plain tfjs formulation, for before/after counts)
// Note: "unnamed scope" is a tf.customGrad wrapper; its time includes the kernels inside it.
import { stepSetup } from "./step-setup.mjs";

const arch = process.argv[2] ?? "BBSSII-BBSSII-BBSSII";
const { tf, trainStep, model, x, labels, opt, vars } = await stepSetup(arch, ({ wk, bmm }) => {
  if (process.env.PSVIT_FAST === "0") {
    wk.setEngineFlags({ fastKernels: false, bmm: false, linear: false });
    bmm.setWideWeightGrad(false);
  }
});
const fwd = process.env.FWD === "1";
const step = async () => {
  if (fwd) tf.tidy(() => void model.forward(x).dataSync());
  else await trainStep(model, opt, x, labels, 1e-4, vars);
};
for (let i = 0; i < 2; i++) await step();
const prof = await tf.profile(step);
const by = new Map();
let total = 0;
for (const k of prof.kernels) {
  const e = by.get(k.name) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += k.kernelTimeMs;
  if (k.name !== "unnamed scope") total += k.kernelTimeMs;
  by.set(k.name, e);
}
const free = ["Reshape", "Identity", "unnamed scope"].reduce((s, n) => s + (by.get(n)?.n ?? 0), 0);
console.log(
  `${arch}: ${prof.kernels.length} kernel calls per step (${prof.kernels.length - free} without Reshape, ` +
    `Identity and customGrad scopes); kernel time ${total.toFixed(0)} ms`,
);
for (const [n, e] of [...by].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(n.padEnd(28), String(e.n).padStart(5), e.ms.toFixed(1).padStart(8));
}
if (process.env.DETAIL) {
  const names = process.env.DETAIL.split(",");
  const agg = new Map();
  for (const k of prof.kernels) {
    if (!names.includes(k.name)) continue;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`;
    const e = agg.get(key) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += k.kernelTimeMs;
    agg.set(key, e);
  }
  for (const [n, e] of [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 60)) {
    console.log(e.ms.toFixed(1).padStart(7), String(e.n).padStart(4), n);
  }
}
const ts = [];
for (let i = 0; i < Number(process.env.STEPS ?? 3); i++) {
  const t0 = performance.now();
  step();
  ts.push(performance.now() - t0);
}
console.log(fwd ? "forward ms" : "step ms", ts.map((t) => t.toFixed(0)).join(" "));
