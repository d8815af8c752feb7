/**
 * Every kernel of the engine against the reference ops on hostile inputs: huge magnitudes, a large mean
 * with a tiny variance, very negative and −∞ logits, long rows, short rows (fewer than two 4-lane groups)
 * and values near the limits of the fast approximations (exp's clamp at −87, GELU's erf clamp at ±4√2).
 *
 * Where the reference is finite the fast op must be finite, and its error against a float64 evaluation
 * may exceed the float32 reference's own error only by a small tolerance. Each property runs on the
 * relaxed-SIMD module, the plain SIMD module and the JavaScript fallbacks.
 *
 * The first test is the input that turned training NaN at step 103 (the pipeline's export retrained with
 * the default recipe): a softmax row of 4 scores 88 apart; the SIMD kernel took the max of rows shorter
 * than 8 from their first element only, and e^(x − max) overflowed.
 */
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdamW } from "../../src/engine/adamw.js";
import * as fast from "../../src/engine/ops.js";
import { setEngineFlags } from "../../src/engine/wasm-kernels.js";
import { crossEntropy } from "../../src/train/loss.js";
import * as ref from "../oracles/reference.js";
import { randn, useBackend, valueAndGrads } from "./helpers.js";
import { gelu64, layerNorm64, layerNormGrads64, linear64, softmax64, violation } from "./truth64.js";

/** The row of PsvitSoftmax's input [2048, 4] (an attention map of stage 3) at step 103 of that run. */
const STEP_103_ROW = [-56.483802795410156, -3.483482599258423, -15.006564140319824, 31.95035171508789];

type Arr = Float32Array;
interface T {
  shape: number[];
  data: Arr;
}

const f32 = (shape: number[], xs: ArrayLike<number>): T => ({ shape, data: Float32Array.from(xs) });

/** Run f on a backend with these inputs; output values, and gradients of Σ out⊙r when asked. */
async function runOn(
  backend: "cpu" | "wasm",
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: T[],
  grads: boolean,
): Promise<{ value: Arr; grads: Arr[] }> {
  await tf.setBackend(backend);
  return valueAndGrads(f, inputs, grads);
}

// ------------------------------------------------------------------ hostile generators

/** Rows of N scores of one hostile kind. */
const softmaxRows = fc
  .record({
    rows: fc.integer({ min: 1, max: 4 }),
    N: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 60, max: 70 }), fc.constant(1500)),
    kind: fc.constantFrom("spread", "huge", "negative", "neginf", "offset", "clamp"),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ rows, N, kind, seed }) => {
    const z = randn([rows * N], seed).data;
    const x = new Float32Array(rows * N);
    for (let i = 0; i < x.length; i++) {
      const v = z[i];
      x[i] =
        kind === "spread" // scores 100s apart, the max anywhere in the row
          ? v * 60
          : kind === "huge"
            ? v * 1e30
            : kind === "negative" // very negative logits, one near 0 per row
              ? -1e30 * Math.abs(v) - 1e20
              : kind === "neginf"
                ? v > 0.5
                  ? Number.NEGATIVE_INFINITY
                  : v
                : kind === "offset" // a large common offset
                  ? 1e6 + v
                  : -87 + v * 2; // around exp's clamp
    }
    // every row keeps one finite, largest-in-its-row score somewhere other than index 0
    for (let r = 0; r < rows; r++) {
      const at = r * N + ((seed + r) % N);
      if (!Number.isFinite(x[at]) || kind === "negative") x[at] = kind === "negative" ? 0 : 1;
    }
    return { shape: [rows, N], x };
  });

const lnRows = fc
  .record({
    rows: fc.integer({ min: 1, max: 5 }),
    D: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 40, max: 200 })),
    kind: fc.constantFrom("meanTinyVar", "huge", "tiny", "constant"),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ rows, D, kind, seed }) => {
    const z = randn([rows * D], seed).data;
    const x = Float32Array.from(z, (v) =>
      kind === "meanTinyVar"
        ? 1e4 + v * 0.05
        : kind === "huge"
          ? v * 1e15
          : kind === "tiny"
            ? v * 1e-20
            : 3.5,
    );
    return { shape: [rows, D], x, g: randn([D], seed + 1).data, b: randn([D], seed + 2).data };
  });

const geluInputs = fc
  .record({
    n: fc.integer({ min: 1, max: 80 }),
    kind: fc.constantFrom("clamp", "huge", "expLimit", "tiny"),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ n, kind, seed }) => {
    const z = randn([n], seed).data;
    const x = Float32Array.from(z, (v) =>
      kind === "clamp" // around erf's clamp at x/√2 = ±4
        ? Math.sign(v) * 4 * Math.SQRT2 + v * 0.05
        : kind === "huge"
          ? v * 1e30
          : kind === "expLimit" // e^{−x²/2} near its underflow
            ? Math.sign(v) * (13.2 + Math.abs(v))
            : v * 1e-30,
    );
    return { shape: [n], x };
  });

const linearInputs = fc
  .record({
    M: fc.integer({ min: 1, max: 40 }),
    K: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 500, max: 600 })),
    P: fc.integer({ min: 1, max: 50 }),
    scale: fc.constantFrom(1e-15, 1, 1e15),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ M, K, P, scale, seed }) => ({
    M,
    K,
    P,
    x: Float32Array.from(randn([M * K], seed).data, (v) => v * scale),
    w: Float32Array.from(randn([K * P], seed + 1).data, (v) => v * scale),
    b: Float32Array.from(randn([P], seed + 2).data, (v) => v * scale * scale),
  }));

// ------------------------------------------------------------------ the tests

beforeAll(async () => {
  await useBackend("wasm");
  await useBackend("cpu");
});

afterAll(async () => {
  setEngineFlags({ simd: true, fastKernels: true, fma: true });
  await tf.setBackend("cpu");
});

describe("softmax: the input of step 103 (regression)", () => {
  for (const [name, simd, fma] of [
    ["relaxed SIMD", true, true],
    ["plain SIMD", true, false],
    ["JavaScript", false, true],
  ] as const) {
    it(`${name}: a row of 4 scores 88 apart, alone and in a [2048, 4] map`, async () => {
      setEngineFlags({ simd, fma });
      const rows = 2048;
      const x = new Float32Array(rows * 4);
      for (let r = 0; r < rows; r++) x.set(r === 1234 ? STEP_103_ROW : [0.1, -0.2, 0.3, 0.05], r * 4);
      const truth = softmax64(x, 4);
      for (const input of [f32([1, 4], STEP_103_ROW), f32([rows, 4], x)]) {
        const got = await runOn("wasm", (t) => fast.softmax(t), [input], true);
        const want = await runOn("cpu", (t) => ref.softmax(t), [input], true);
        const t = input.data.length === 4 ? softmax64(input.data, 4) : truth;
        expect(violation(got.value, want.value, t, 1e-6, 1e-5)).toBeNull();
        expect(violation(got.grads[0], want.grads[0], want.grads[0], 1e-6, 1e-4)).toBeNull();
      }
      // the same scores as an attention map of 4 tokens (inference kernel and the training path)
      const qkv = new Float32Array(3 * 4 * 3);
      // one head, d = 3: q·kᵀ/√3 of token 0 against the 4 keys = the row above
      const q0 = [1, 0, 0];
      qkv.set(q0, 0);
      for (let n = 0; n < 4; n++) qkv.set([STEP_103_ROW[n] * Math.sqrt(3), 0, 0], n * 9 + 3);
      for (let n = 0; n < 4; n++) qkv.set([n, 1, -n], n * 9 + 6);
      const input = f32([1, 4, 9], qkv);
      const got = await runOn("wasm", (t) => fast.selfAttention(t as tf.Tensor3D, 1).out, [input], false);
      const want = await runOn("cpu", (t) => ref.selfAttention(t as tf.Tensor3D, 1).out, [input], false);
      expect(violation(got.value, want.value, want.value, 1e-4, 1e-4)).toBeNull();
      expect(got.value.every(Number.isFinite)).toBe(true);
    });
  }
});

describe("layerNorm's stock-op formulation (cpu, webgpu, wasm without its kernels): a large mean", () => {
  // the mean of 48 values near 1e3 summed in float32 was off by ~1e-4, 1% of σ = 1e-2, and every
  // normalised value with it (webgpu showed it first: its reduction order differs from cpu's)
  it("1e3 ± 1e-2 and 1e4 ± 5e-2 rows: value and gradients within 1e-3 of the float64 truth", async () => {
    await tf.setBackend("cpu");
    for (const [mean, sd, seed] of [
      [1e3, 1e-2, 8],
      [1e4, 5e-2, 9],
      [-3e3, 2e-2, 10],
    ]) {
      const D = 48;
      const x = Float32Array.from(randn([4 * D], seed).data, (v) => mean + sd * v);
      const g = randn([D], seed + 1).data;
      const b = randn([D], seed + 2).data;
      const got = valueAndGrads(
        (a, gg, bb) => fast.layerNorm(a, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-6),
        [f32([4, D], x), f32([D], g), f32([D], b)],
      );
      // against the truth alone (the reference, the same formulation on cpu, shares its error)
      const within = (a: Arr, t: Float64Array, tol: number) =>
        violation(a, Float32Array.from(t), t, tol, 1e-3);
      const truth = layerNormGrads64(x, g, D, 1e-6);
      const big = (t: Float64Array) => t.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const errors = [
        within(got.value, layerNorm64(x, g, b, D, 1e-6), 1e-3),
        ...truth.map((t, i) => within(got.grads[i], t, 1e-3 * Math.max(1, big(t)))),
      ].filter((e) => e);
      expect(errors.join("; "), `mean ${mean}, σ ${sd}`).toBe("");
    }
  });
});

const variants = [
  ["relaxed SIMD", true, true],
  ["plain SIMD", true, false],
  ["JavaScript fallbacks", false, true],
] as const;

for (const [name, simd, fma] of variants) {
  describe(`hostile inputs, ${name}: fast ops = reference`, () => {
    beforeAll(() => {
      setEngineFlags({ simd, fma });
    });
    const params = { numRuns: 30, seed: 20261201 };

    it("softmax: wide spreads, huge and very negative scores, −∞, large offsets, exp's clamp", async () => {
      await fc.assert(
        fc.asyncProperty(softmaxRows, async ({ shape, x }) => {
          const input = f32(shape, x);
          const got = await runOn("wasm", (t) => fast.softmax(t), [input], true);
          const want = await runOn("cpu", (t) => ref.softmax(t), [input], true);
          const v = violation(got.value, want.value, softmax64(x, shape[1]), 1e-6, 1e-5);
          const g = violation(got.grads[0], want.grads[0], want.grads[0], 1e-6, 1e-4);
          if (v || g) throw new Error(`value ${v}; grad ${g}`);
        }),
        params,
      );
    });

    it("attention: scores far apart over short and odd token counts, in inference and training", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 19 }),
          fc.integer({ min: 1, max: 3 }),
          fc.constantFrom(30, 300),
          fc.integer({ min: 1, max: 1e6 }),
          async (N, heads, scale, seed) => {
            const d = 4;
            const D = heads * d;
            const input = f32(
              [2, N, 3 * D],
              Float32Array.from(randn([2 * N * 3 * D], seed).data, (v) => v * Math.sqrt(scale)),
            );
            const f = (impl: typeof fast | typeof ref) => (t: tf.Tensor) =>
              impl.selfAttention(t as tf.Tensor3D, heads).out;
            const got = await runOn("wasm", f(fast), [input], true); // gradients: the training kernels
            const inf = await runOn("wasm", f(fast), [input], false); // no tape: the fused inference kernel
            const want = await runOn("cpu", f(ref), [input], true);
            const tol = 1e-3 * scale; // scores of ±scale·d: float32 rounding of the logits dominates
            const v = violation(got.value, want.value, want.value, tol, 1e-3);
            const vi = violation(inf.value, want.value, want.value, tol, 1e-3);
            const g = violation(got.grads[0], want.grads[0], want.grads[0], tol * 10, 1e-2);
            if (v || vi || g) throw new Error(`value ${v}; inference ${vi}; grad ${g}`);
          },
        ),
        { numRuns: 20, seed: 20261202 },
      );
    });

    it("layerNorm: a large mean with a tiny variance, huge and tiny magnitudes, constant rows", async () => {
      await fc.assert(
        fc.asyncProperty(lnRows, async ({ shape, x, g, b }) => {
          const D = shape[1];
          const inputs = [f32(shape, x), f32([D], g), f32([D], b)];
          const fn = (impl: typeof fast | typeof ref) => (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
            impl.layerNorm(a, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-6);
          const got = await runOn("wasm", fn(fast), inputs, true);
          const want = await runOn("cpu", fn(ref), inputs, true);
          const v = violation(got.value, want.value, layerNorm64(x, g, b, D, 1e-6), 1e-4, 1e-4);
          // gradients w.r.t. x scale as 1/σ: tolerances relative to the true gradient's size
          const truth = layerNormGrads64(x, g, D, 1e-6);
          const gr = want.grads.map((w, i) => {
            const big = truth[i].reduce((m, a) => Math.max(m, Math.abs(a)), 0);
            return violation(got.grads[i], w, truth[i], 1e-4 * Math.max(1, big), 1e-3);
          });
          if (v || gr.some((e) => e)) throw new Error(`value ${v}; grads ${gr}`);
        }),
        params,
      );
    });

    it("gelu: around erf's clamp, huge, near e^{−x²/2}'s underflow, tiny", async () => {
      await fc.assert(
        fc.asyncProperty(geluInputs, async ({ shape, x }) => {
          const input = f32(shape, x);
          const got = await runOn("wasm", (t) => fast.gelu(t), [input], true);
          const inf = await runOn("wasm", (t) => fast.gelu(t), [input], false);
          const want = await runOn("cpu", (t) => ref.gelu(t), [input], true);
          const truth = gelu64(x);
          const v = violation(got.value, want.value, truth, 1e-6, 1e-5);
          const vi = violation(inf.value, want.value, truth, 1e-6, 1e-5);
          const g = violation(got.grads[0], want.grads[0], want.grads[0], 1e-5, 1e-4);
          if (v || vi || g) throw new Error(`value ${v}; inference ${vi}; grad ${g}`);
        }),
        params,
      );
    });

    it("linear: magnitudes 1e-15 to 1e15 (products up to 1e32), long and short K", async () => {
      await fc.assert(
        fc.asyncProperty(linearInputs, async ({ M, K, P, x, w, b }) => {
          const inputs = [f32([M, K], x), f32([K, P], w), f32([P], b)];
          const fn = (impl: typeof fast | typeof ref) => (a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
            impl.linear(a, ww as tf.Tensor2D, bb as tf.Tensor1D);
          const got = await runOn("wasm", fn(fast), inputs, true);
          const want = await runOn("cpu", fn(ref), inputs, true);
          const truth = linear64(x, w, b, K, P);
          const mag = truth.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
          const v = violation(got.value, want.value, truth, 1e-5 * mag * Math.sqrt(K), 1e-4);
          const gr = want.grads.map((ww, i) => {
            const gm = ww.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
            return violation(got.grads[i], ww, ww, 1e-5 * gm * Math.sqrt(M * K), 1e-4);
          });
          if (v || gr.some((e) => e)) throw new Error(`value ${v}; grads ${gr}`);
        }),
        { numRuns: 15, seed: 20261203 },
      );
    });

    it("cross-entropy: very negative and huge logits, label smoothing", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 8 }),
          fc.constantFrom(1e3, 1e30),
          fc.integer({ min: 1, max: 1e6 }),
          async (B, scale, seed) => {
            const K = 10;
            const logits = f32(
              [B, K],
              Float32Array.from(randn([B * K], seed).data, (v) => v * scale),
            );
            const labels = Int32Array.from({ length: B }, (_, i) => (seed + i) % K);
            const loss = async (backend: "cpu" | "wasm") => {
              await tf.setBackend(backend);
              return tf.tidy(() => {
                const l = tf.tensor2d(logits.data, [B, K]);
                const y = tf.tensor1d(labels, "int32");
                const g = tf.grad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, y, 0.1))(l);
                return {
                  v: crossEntropy(l, y, 0.1).dataSync()[0],
                  g: Float32Array.from(g.dataSync() as Arr),
                };
              });
            };
            const got = await loss("wasm");
            const want = await loss("cpu");
            if (!Number.isFinite(got.v) || Math.abs(got.v - want.v) > 1e-4 * Math.max(1, Math.abs(want.v)))
              throw new Error(`loss ${got.v} vs ${want.v}`);
            const g = violation(got.g, want.g, want.g, 1e-5, 1e-4);
            if (g) throw new Error(`grad ${g}`);
          },
        ),
        params,
      );
    });

    it("AdamW: huge, tiny and zero gradients give the tfjs formulation's update", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 40 }),
          fc.constantFrom(0, 1e-30, 1e-3, 1e15),
          fc.integer({ min: 1, max: 1e6 }),
          async (n, scale, seed) => {
            await tf.setBackend("wasm");
            const p0 = randn([n], seed).data;
            const gs = [0, 1, 2].map((s) =>
              Float32Array.from(randn([n], seed + 10 + s).data, (v) => v * scale),
            );
            const run = (fused: boolean) =>
              tf.tidy(() => {
                setEngineFlags({ fastKernels: fused }); // off: the tfjs formulation of the update
                const v = tf.variable(tf.tensor1d(p0), true, `w${seed}${fused}`);
                const opt = new AdamW({ weightDecay: 0.05 });
                const vars = new Map([["w", v]]);
                for (const g of gs) opt.step(new Map([["w", tf.tensor1d(g)]]), vars, 1e-3);
                const out = Float32Array.from(v.dataSync() as Arr);
                opt.dispose();
                v.dispose();
                return out;
              });
            const a = run(true);
            const b = run(false);
            setEngineFlags({ fastKernels: true });
            const e = violation(a, b, b, 1e-6, 1e-5);
            if (e) throw new Error(e);
          },
        ),
        params,
      );
    });
  });
}
