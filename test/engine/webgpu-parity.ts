/**
 * The parity cases of the webgpu backend against the cpu backend: every op case of ./op-cases.ts, the
 * hostile inputs (as in ./hostile.test.ts) that broke or could break a kernel, and the loss, each with
 * how it is judged. ./webgpu-real.test.ts runs them in CI (lavapipe); bench/gpu/check.ts runs the same
 * cases on a real GPU.
 */
import * as tf from "@tensorflow/tfjs";
import * as fast from "../../src/engine/ops.js";
import { crossEntropy } from "../../src/train/loss.js";
import * as ref from "../oracles/reference.js";
import { closeness, type Input, type Result, randn, valueAndGrads, valueAndGradsAsync } from "./helpers.js";
import { cases, type F } from "./op-cases.js";
import { layerNorm64, layerNormGrads64, softmax64, violation } from "./truth64.js";

const input = (shape: number[], xs: ArrayLike<number>): Input => ({ shape, data: Float32Array.from(xs) });
const scaled = (shape: number[], seed: number, f: (v: number, i: number) => number): Input =>
  input(shape, Array.from(randn(shape, seed).data, f));

/** Hostile inputs (as in ./hostile.test.ts), each a fast op against its reference. */
interface Hostile {
  name: string;
  inputs: Input[];
  fast: F;
  ref: F;
  atol: number;
  rtol: number;
  /**
   * The float64 truth (value, and gradients where given): then webgpu may err against it by atol +
   * rtol·|truth| + 4× the cpu reference's own error (./truth64.ts), instead of matching the reference.
   */
  truth?: (xs: Float32Array[]) => { value: Float64Array; grads?: Float64Array[] };
}

export const hostile: Hostile[] = [
  {
    // the softmax row that turned training NaN at step 103 (scores 88 apart), and a row with −∞
    name: "softmax: the step-103 row, −∞, scores 1e4 apart",
    inputs: [
      input([3, 4], [-56.4838, -3.48348, -15.0066, 31.9504, 0, -Infinity, 2, -Infinity, 1e4, -1e4, 0, 5e3]),
      randn([3, 4], 5),
    ],
    fast: (x, w) => fast.softmax(x).mul(w),
    ref: (x, w) => ref.softmax(x).mul(w),
    atol: 1e-6,
    rtol: 1e-5,
  },
  {
    name: "softmax: long rows (N = 197) of wide spread",
    inputs: [randn([2, 3, 197], 6, 30), randn([2, 3, 197], 7)],
    fast: (x, w) => fast.softmax(x).mul(w),
    ref: (x, w) => ref.softmax(x).mul(w),
    atol: 1e-6,
    rtol: 1e-4,
    truth: ([x, w]) => ({ value: Float64Array.from(softmax64(x, 197), (v, i) => v * w[i]) }),
  },
  {
    // a large mean with a tiny variance (1e3 ± 1e-2): cancellation in E[x²] − E[x]²
    // float32 itself loses 3 of its 7 digits in x − μ here: measured against the float64 truth
    name: "layerNorm: mean 1e3, σ 1e-2",
    inputs: [scaled([4, 48], 8, (v) => 1000 + 0.01 * v), randn([48], 9), randn([48], 10)],
    fast: (x, g, b) => fast.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    ref: (x, g, b) => ref.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    atol: 1e-4,
    rtol: 1e-3,
    truth: ([x, g, b]) => ({
      value: layerNorm64(x, g, b, 48, 1e-6),
      grads: layerNormGrads64(x, g, 48, 1e-6),
    }),
  },
  {
    name: "layerNorm: magnitudes 1e15, constant rows",
    inputs: [
      input(
        [3, 8],
        [...Array.from(randn([8], 11).data, (v) => v * 1e15), ...Array(8).fill(3), ...Array(8).fill(-1e6)],
      ),
      randn([8], 12),
      randn([8], 13),
    ],
    fast: (x, g, b) => fast.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    ref: (x, g, b) => ref.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    atol: 1e-4,
    rtol: 1e-3,
  },
  {
    name: "gelu: around erf's clamp (±5.7), huge (±1e30), tiny (1e-30)",
    inputs: [input([10], [-5.66, 5.66, -5.7, 5.7, -9, 9, -1e30, 1e30, 1e-30, -1e-30]), randn([10], 14)],
    fast: (x, w) => fast.gelu(x).mul(w),
    ref: (x, w) => ref.gelu(x).mul(w),
    atol: 1e-6,
    rtol: 1e-5,
  },
  {
    name: "linear: magnitudes 1e15 (products 1e30), K = 600",
    inputs: [
      scaled([8, 600], 15, (v) => v * 1e15),
      scaled([600, 5], 16, (v) => v * 1e15),
      scaled([5], 17, (v) => v * 1e30),
    ],
    fast: (x, w, b) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    ref: (x, w, b) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    atol: 1e28,
    rtol: 1e-4,
  },
];

/** The label-smoothed cross-entropy and its gradient for logits `z` (very negative and huge ones too). */
const loss = (z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, tf.tensor1d([3, 0, 9, 1], "int32"), 0.1);
const lossCases: { name: string; logits: Input }[] = [
  { name: "ordinary logits", logits: randn([4, 10], 18, 3) },
  { name: "logits ±1e3", logits: randn([4, 10], 19, 1e3) },
  { name: "logits ±1e30", logits: randn([4, 10], 20, 1e30) },
];

export interface ParityCase {
  name: string;
  /** On the cpu backend (synchronous reads). */
  reference(): Result;
  /** On the current (device) backend. */
  run(): Promise<Result>;
  /** null when `got` (device) passes against `want` (cpu), else what is wrong. */
  judge(got: Result, want: Result): string | null;
}

/** got = want within atol + rtol·|want|, same shape, finite wherever want is; null or the problem. */
function judgeClose(name: string, got: Result, want: Result, atol: number, rtol: number): string | null {
  if (got.shape.join() !== want.shape.join()) return `${name}: shape [${got.shape}] vs [${want.shape}]`;
  const pairs: [string, Float32Array, Float32Array][] = [
    ["value", got.value, want.value],
    ...got.grads.map((g, i) => [`grad ${i}`, g, want.grads[i]] as [string, Float32Array, Float32Array]),
  ];
  for (const [what, a, b] of pairs) {
    for (let i = 0; i < a.length; i++)
      if (Number.isFinite(b[i]) && !Number.isFinite(a[i]))
        return `${name} ${what}: ${a[i]} at ${i} where the cpu backend has ${b[i]}`;
    const c = closeness(a, b, atol, rtol);
    if (!(c <= 1))
      return `${name} ${what}: not close (${c.toFixed(2)}× tolerance atol ${atol}, rtol ${rtol})`;
  }
  return null;
}

/** Every parity case: op cases, hostile inputs, the label-smoothed loss. */
export function parityCases(): ParityCase[] {
  const out: ParityCase[] = [];
  for (const c of cases)
    out.push({
      name: c.name,
      reference: () => valueAndGrads(c.ref, c.inputs),
      run: () => valueAndGradsAsync(c.fast, c.inputs),
      judge: (got, want) => judgeClose(c.name, got, want, c.atol ?? 1e-4, 1e-4),
    });
  for (const c of hostile)
    out.push({
      name: c.name,
      reference: () => valueAndGrads(c.ref, c.inputs),
      run: () => valueAndGradsAsync(c.fast, c.inputs),
      judge: (got, want) => {
        if (!c.truth) return judgeClose(c.name, got, want, c.atol, c.rtol);
        const t = c.truth(c.inputs.map((i) => i.data));
        const errors = [
          violation(got.value, want.value, t.value, c.atol, c.rtol),
          ...(t.grads ?? []).map((tg, i) => {
            const big = tg.reduce((m, a) => Math.max(m, Math.abs(a)), 0); // gradients scale as 1/σ
            return violation(got.grads[i], want.grads[i], tg, c.atol * Math.max(1, big), c.rtol);
          }),
        ].filter((e) => e);
        return errors.length ? `${c.name}: ${errors.join("; ")}` : null;
      },
    });
  for (const c of lossCases) {
    const name = `cross-entropy with label smoothing: ${c.name}`;
    out.push({
      name,
      reference: () => valueAndGrads(loss, [c.logits]),
      run: () => valueAndGradsAsync(loss, [c.logits]),
      judge: (got, want) => judgeClose(name, got, want, 1e-5, 1e-4),
    });
  }
  return out;
}
