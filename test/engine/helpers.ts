/** Helpers for the engine tests: seeded inputs as plain arrays, and value + gradient runs on a backend. */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/engine/backend.js";

export interface Input {
  shape: number[];
  data: Float32Array;
}

/** Deterministic N(0, scale²)-ish values (Box–Muller on a small LCG). */
export function randn(shape: number[], seed: number, scale = 1): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) {
    data[i] = scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  }
  return { shape, data };
}

/** Start the wasm backend once (single-threaded unless PSVIT_WASM_THREADS says otherwise), quietly. */
export async function useBackend(name: "cpu" | "wasm"): Promise<void> {
  if (name === "wasm") await initBackend("wasm", { log: false });
  else await tf.setBackend("cpu");
}

export interface Result {
  value: Float32Array;
  shape: number[];
  grads: Float32Array[];
}

/**
 * Run `f` on the current backend: its output, and the gradients of Σ(output ⊙ R) (R fixed random
 * weights, so that every gradient path is exercised) with respect to every input.
 */
export function valueAndGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: Input[],
  withGrads = true,
): Result {
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const out = f(...xs);
    const value = out.dataSync() as Float32Array;
    const shape = out.shape.slice();
    if (!withGrads) return { value: Float32Array.from(value), shape, grads: [] };
    const r = tf.tensor(randn(out.shape, 777).data, out.shape);
    const g = tf.grads((...ys: tf.Tensor[]) =>
      f(...ys)
        .mul(r)
        .sum(),
    )(xs);
    return {
      value: Float32Array.from(value),
      shape,
      grads: g.map((t) => Float32Array.from(t.dataSync() as Float32Array)),
    };
  });
}

/**
 * `valueAndGrads` for backends whose tensors live on a device (webgpu: no dataSync on GPU-resident
 * tensors): the same output and gradients, read with `await data()`.
 */
export async function valueAndGradsAsync(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: Input[],
  withGrads = true,
): Promise<Result> {
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
  const [out, ...grads] = tf.tidy(() => {
    const y = f(...xs);
    if (!withGrads) return [y];
    const r = tf.tensor(randn(y.shape, 777).data, y.shape);
    return [
      y,
      ...tf.grads((...ys: tf.Tensor[]) =>
        f(...ys)
          .mul(r)
          .sum(),
      )(xs),
    ];
  });
  try {
    return {
      value: Float32Array.from((await out.data()) as Float32Array),
      shape: out.shape.slice(),
      grads: await Promise.all(grads.map(async (g) => Float32Array.from((await g.data()) as Float32Array))),
    };
  } finally {
    tf.dispose([...xs, out, ...grads]);
  }
}

/** Largest |a − b| / (atol + rtol·|b|) over the elements; ≤ 1 means close. */
export function closeness(a: Float32Array, b: Float32Array, atol: number, rtol = 0): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    const e = diff === 0 ? 0 : diff / (atol + rtol * Math.abs(b[i]));
    if (!(e <= worst)) worst = e; // NaN-safe: NaN becomes the worst
  }
  return worst;
}

export function expectClose(a: Float32Array, b: Float32Array, atol: number, rtol = 0, what = ""): void {
  const c = closeness(a, b, atol, rtol);
  if (!(c <= 1)) {
    let at = 0;
    let worst = -1;
    for (let i = 0; i < a.length; i++) {
      const e = Math.abs(a[i] - b[i]);
      if (e > worst || Number.isNaN(e)) {
        worst = e;
        at = i;
      }
    }
    throw new Error(`${what}: not close (${c.toFixed(2)}× tolerance); at ${at}: ${a[at]} vs ${b[at]}`);
  }
}
