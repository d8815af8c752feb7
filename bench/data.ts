/**
 * Data time per training step vs compute time on the tfjs wasm backend.
 *
 *   npx vite-node bench/data.ts [--steps 5] [--batch 64]
 *
 * 1. Data: a training BatchStream over the embedded Fashion-MNIST subset fitted to 32×32×1,
 *    batch 64, default augmentation (crop padding 2, flip 0.5), normalised Float32Array NHWC:
 *    ms per batch made inline (prefetch 0) and ms the caller waits with the worker (prefetch 2).
 * 2. Compute: one training step (forward + backward + Adam) of a small HVT-like ViT in plain tfjs
 *    ops on the wasm backend: 32×32×1, patch 4 (64 tokens), stages dim 64/128/256 × 2 layers,
 *    4 heads, MLP ×4, erf GELU, max-pool over tokens (k2 s2) between stages — the shape of the
 *    notes' reference model (/work/shared/notes/tfjs-wasm.md), with stock tfjs gradients.
 * 3. Both together: the step loop with the inline stream and with the worker stream, and the same
 *    with a 20 ms busy-wait standing in for compute, to show whether the worker hides data time.
 * 4. A data-heavy case for scale: synthetic 96×96×3 images, crop padding 12, 50 ms busy-wait.
 */
import { cpus, loadavg } from "node:os";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { BatchStream } from "../src/data/batch.js";
import { resolveData } from "../src/data/resolve.js";
import type { Dataset } from "../src/data/types.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const STEPS = arg("steps", 5);
const BATCH = arg("batch", 64);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin: the main thread is busy, as it is during a wasm training step
  }
}

await tf.setBackend("wasm");
await tf.ready();

// ---- a small ViT in plain tfjs ops -------------------------------------------------------------
const DIMS = [64, 128, 256];
const LAYERS = 2;
const HEADS = 4;
const TOKENS = 64;
const PATCH = 4;

type V = tf.Variable;
const params: V[] = [];
function param(shape: number[], scale = 0.02): V {
  const v = tf.variable(tf.randomNormal(shape, 0, scale, "float32", params.length + 1));
  params.push(v);
  return v;
}
function ones(shape: number[]): V {
  const v = tf.variable(tf.ones(shape));
  params.push(v);
  return v;
}
function zeros(shape: number[]): V {
  const v = tf.variable(tf.zeros(shape));
  params.push(v);
  return v;
}

interface Layer {
  ln1: [V, V];
  qkv: [V, V];
  proj: [V, V];
  ln2: [V, V];
  fc1: [V, V];
  fc2: [V, V];
}
const patchW = param([PATCH * PATCH, DIMS[0]]);
const patchB = zeros([DIMS[0]]);
const pos = param([1, TOKENS, DIMS[0]]);
const stages = DIMS.map((d, s) => ({
  expand: s > 0 ? ([param([DIMS[s - 1], d]), zeros([d])] as [V, V]) : undefined,
  layers: Array.from(
    { length: LAYERS },
    (): Layer => ({
      ln1: [ones([d]), zeros([d])],
      qkv: [param([d, 3 * d]), zeros([3 * d])],
      proj: [param([d, d]), zeros([d])],
      ln2: [ones([d]), zeros([d])],
      fc1: [param([d, 4 * d]), zeros([4 * d])],
      fc2: [param([4 * d, d]), zeros([d])],
    }),
  ),
}));
const headLn: [V, V] = [ones([DIMS[2]]), zeros([DIMS[2]])];
const head: [V, V] = [param([DIMS[2], 10]), zeros([10])];

function dense(x: tf.Tensor3D, [w, b]: [V, V]): tf.Tensor3D {
  const [B, N, D] = x.shape;
  return tf.add(tf.matMul(tf.reshape(x, [B * N, D]), w), b).reshape([B, N, w.shape[1]!]) as tf.Tensor3D;
}
function layerNorm(x: tf.Tensor3D, [g, b]: [V, V]): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), g), b);
}
function gelu(x: tf.Tensor3D): tf.Tensor3D {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}
function block(x: tf.Tensor3D, l: Layer): tf.Tensor3D {
  const [B, N, D] = x.shape;
  const dh = D / HEADS;
  const qkv = dense(layerNorm(x, l.ln1), l.qkv).reshape([B, N, 3, HEADS, dh]).transpose([2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(qkv).map((t) => t.reshape([B * HEADS, N, dh]) as tf.Tensor3D);
  const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
  const o = tf
    .matMul(attn, v)
    .reshape([B, HEADS, N, dh])
    .transpose([0, 2, 1, 3])
    .reshape([B, N, D]) as tf.Tensor3D;
  const x1 = tf.add(x, dense(o, l.proj)) as tf.Tensor3D;
  return tf.add(x1, dense(gelu(dense(layerNorm(x1, l.ln2), l.fc1)), l.fc2));
}
function forward(xb: tf.Tensor4D): tf.Tensor2D {
  const B = xb.shape[0];
  // patches: [B, 8, 4, 8, 4, 1] → [B, 64, 16] → linear
  const patches = xb
    .reshape([B, 8, PATCH, 8, PATCH])
    .transpose([0, 1, 3, 2, 4])
    .reshape([B, TOKENS, PATCH * PATCH]);
  let x = tf.add(dense(patches as tf.Tensor3D, [patchW, patchB]), pos) as tf.Tensor3D;
  stages.forEach((st, s) => {
    if (s > 0) {
      const [b, n, d] = x.shape;
      x = tf.max(x.reshape([b, n / 2, 2, d]), 2) as tf.Tensor3D; // max1d k2 s2 over tokens
      x = dense(x, st.expand!);
    }
    for (const l of st.layers) x = block(x, l);
  });
  return dense(tf.mean(layerNorm(x, headLn), 1, true) as tf.Tensor3D, head).reshape([B, 10]);
}

const optimizer = tf.train.adam(1e-3);
async function trainStep(x: Float32Array, y: Int32Array, size: number): Promise<number> {
  const loss = tf.tidy(() => {
    const xb = tf.tensor4d(x, [size, 32, 32, 1]);
    const yb = tf.oneHot(tf.tensor1d(y, "int32"), 10);
    return optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(yb, forward(xb)) as tf.Scalar,
      true,
      params,
    )!;
  });
  const v = (await loss.data())[0];
  loss.dispose();
  return v;
}

// ---- run ------------------------------------------------------------------------------------------
const resolved = await resolveData(undefined, {
  seed: 0,
  imageSize: 32,
  channels: 1,
  includeTest: false,
});
// the embedded data is held in memory
const train = resolved.train as Dataset;
const { info } = resolved;
const common = {
  batchSize: BATCH,
  seed: 0,
  preprocess: info.preprocess,
  augment: info.augment,
  dropLast: true,
};
const nParams = params.reduce((a, p) => a + p.size, 0);
console.log(
  `tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}, node ${process.version}, ${(nParams / 1e6).toFixed(2)} M params`,
);
console.log(
  `${cpus().length} CPUs, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} (others' jobs skew timings)`,
);
console.log(`data: embedded Fashion-MNIST 32x32x1, batch ${BATCH}, augment ${JSON.stringify(info.augment)}`);

// 1. data alone
{
  const s = new BatchStream(train, { ...common, prefetch: 0 });
  const t: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    s.nextSync();
    t.push(performance.now() - t0);
  }
  console.log(`data, inline:        ${median(t.slice(50)).toFixed(3)} ms/batch (median of 250)`);
  const w = new BatchStream(train, { ...common, prefetch: 2 });
  await w.next();
  const tw: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await w.next();
    tw.push(performance.now() - t0);
  }
  console.log(`data, worker, back-to-back (no compute): ${median(tw.slice(50)).toFixed(3)} ms/batch wait`);
  await w.close();
}

// 2 + 3. compute, and the step loop with each stream
async function loop(
  prefetch: number,
  steps: number,
  compute: "tfjs" | number,
  data: Dataset = train,
  augment = info.augment,
): Promise<{ step: number; wait: number }> {
  const s = new BatchStream(data, { ...common, augment, prefetch });
  const stepMs: number[] = [];
  const waitMs: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now();
    const b = await s.next();
    const t1 = performance.now();
    if (compute === "tfjs") await trainStep(b.x, b.y, b.size);
    else busyWait(compute);
    const t2 = performance.now();
    if (i >= 2) {
      stepMs.push(t2 - t0);
      waitMs.push(t1 - t0);
    }
  }
  await s.close();
  return { step: median(stepMs), wait: median(waitMs) };
}

for (const compute of [20, "tfjs"] as const) {
  const steps = compute === "tfjs" ? STEPS : 100;
  for (const prefetch of [0, 2]) {
    const r = await loop(prefetch, steps, compute);
    const label = compute === "tfjs" ? "ViT train step (wasm)" : "20 ms busy-wait";
    console.log(
      `${label.padEnd(22)} ${prefetch === 0 ? "inline" : "worker"}: step ${r.step.toFixed(1)} ms, of which data wait ${r.wait.toFixed(3)} ms ` +
        `(${((100 * r.wait) / r.step).toFixed(2)}%), median of ${steps}`,
    );
  }
}

{
  const n = 640;
  const big: Dataset = {
    images: new Uint8Array(n * 96 * 96 * 3).map((_, i) => (i * 2654435761) >>> 24),
    labels: new Uint8Array(n).map((_, i) => i % 10),
    n,
    height: 96,
    width: 96,
    channels: 3,
    numClasses: 10,
    source: "synthetic",
  };
  const pre = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  for (const prefetch of [0, 2]) {
    const s = new BatchStream(big, {
      ...common,
      preprocess: pre,
      augment: { cropPadding: 12, flipProb: 0.5 },
      prefetch,
    });
    const stepMs: number[] = [];
    const waitMs: number[] = [];
    for (let i = 0; i < 42; i++) {
      const t0 = performance.now();
      await s.next();
      const t1 = performance.now();
      busyWait(50);
      if (i >= 2) {
        stepMs.push(performance.now() - t0);
        waitMs.push(t1 - t0);
      }
    }
    await s.close();
    console.log(
      `96x96x3, 50 ms busy-wait ${prefetch === 0 ? "inline" : "worker"}: step ${median(stepMs).toFixed(1)} ms, ` +
        `of which data wait ${median(waitMs).toFixed(3)} ms, median of 40`,
    );
  }
}
