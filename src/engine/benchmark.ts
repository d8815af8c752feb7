/**
 * Training-step and forward throughput of a model on the current backend: random normal images, random
 * labels, softmax cross-entropy, forward + backward + AdamW. Medians over `steps` timed repetitions after
 * `warmup` untimed ones. Used by `psvit bench` and bench/compare.mjs.
 */
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "./adamw.js";

/** What the benchmark needs of a model (src/model/hvt.ts's HvtModel fits). */
export interface BenchModel {
  forward(x: tf.Tensor4D): tf.Tensor2D;
  variables(): Map<string, tf.Variable>;
}

export interface BenchOptions {
  batch: number;
  /** [size, size, channels] of one image. */
  image: [number, number, number];
  numClasses: number;
  /** Timed repetitions of each measurement (default 10). */
  steps?: number;
  /** Untimed repetitions first (default 2). */
  warmup?: number;
  /** Learning rate of the AdamW steps (default 1e-4: small, the numbers are what matters). */
  lr?: number;
  seed?: number;
  /** Called after every timed repetition (progress). */
  onStep?: (what: "train" | "forward", i: number, ms: number) => void;
}

export interface BenchResult {
  batch: number;
  trainMs: number[];
  forwardMs: number[];
  trainMedianMs: number;
  forwardMedianMs: number;
  trainImgS: number;
  forwardImgS: number;
  /** Peak resident set of the process so far, MB (includes the wasm heap). */
  peakRssMb: number;
  /** Tensors alive after the run minus before (0 = no leak). */
  leakedTensors: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Peak RSS of this process in MB (getrusage maxrss). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Softmax cross-entropy of logits [B, C] against integer labels, averaged over the batch. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
  });
}

/**
 * One SGD-style step: loss, gradients of every variable, AdamW update. Returns the loss value. All
 * temporaries are disposed.
 */
export async function trainStep(
  model: BenchModel,
  opt: AdamW,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  lr: number,
  vars: Map<string, tf.Variable> = model.variables(),
): Promise<number> {
  const byTfName = new Map<string, string>();
  for (const [name, v] of vars) byTfName.set(v.name, name);
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x), labels), [...vars.values()]);
  const named = new Map<string, tf.Tensor>();
  for (const [tfName, g] of Object.entries(grads)) named.set(byTfName.get(tfName) ?? tfName, g);
  opt.step(named, vars, lr);
  const loss = ((await value.data()) as Float32Array)[0];
  value.dispose();
  for (const g of named.values()) g.dispose();
  return loss;
}

export async function benchmarkModel(model: BenchModel, opts: BenchOptions): Promise<BenchResult> {
  const steps = opts.steps ?? 10;
  const warmup = opts.warmup ?? 2;
  const lr = opts.lr ?? 1e-4;
  const [S, , C] = opts.image;
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([opts.batch, S, S, C], 0, 1, "float32", opts.seed ?? 1) as tf.Tensor4D;
  const labels = tf.tidy(
    () =>
      tf
        .randomUniform([opts.batch], 0, opts.numClasses, "float32", (opts.seed ?? 1) + 1)
        .floor()
        .cast("int32") as tf.Tensor1D,
  );
  const opt = new AdamW({ weightDecay: 0.05 });
  const vars = model.variables();
  const trainMs: number[] = [];
  const forwardMs: number[] = [];
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      await trainStep(model, opt, x, labels, lr, vars);
      const dt = performance.now() - t0;
      if (i >= warmup) {
        trainMs.push(dt);
        opts.onStep?.("train", i - warmup, dt);
      }
    }
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      const out = tf.tidy(() => model.forward(x));
      await out.data();
      out.dispose();
      const dt = performance.now() - t0;
      if (i >= warmup) {
        forwardMs.push(dt);
        opts.onStep?.("forward", i - warmup, dt);
      }
    }
  } finally {
    opt.dispose();
    x.dispose();
    labels.dispose();
  }
  const trainMedianMs = median(trainMs);
  const forwardMedianMs = median(forwardMs);
  return {
    batch: opts.batch,
    trainMs,
    forwardMs,
    trainMedianMs,
    forwardMedianMs,
    trainImgS: (opts.batch * 1000) / trainMedianMs,
    forwardImgS: (opts.batch * 1000) / forwardMedianMs,
    peakRssMb: peakRssMb(),
    leakedTensors: tf.memory().numTensors - before,
  };
}
