/**
 * The kernels of src/engine/wasm/ (overrides.ts, fused.ts) on the wasm backend: the overridden stock
 * kernels (Identity, Slice, Sum, Mean, Transpose) give exactly the stock results, the fused AdamW equals
 * the tfjs formulation, with the SIMD module and with its JavaScript fallback; the engine flags.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdamW } from "../../src/engine/adamw.js";
import { asAxisSwap, engineFlags, setEngineFlags, wasmSimdLoaded } from "../../src/engine/wasm-kernels.js";
import { expectClose, randn, useBackend } from "./helpers.js";

beforeAll(async () => {
  await useBackend("wasm");
});

afterAll(async () => {
  setEngineFlags({ fastKernels: true, simd: true });
  await tf.setBackend("cpu");
});

/** f's output data with the stock kernels and with ours. */
function both(
  f: () => tf.Tensor,
): [Float32Array | Int32Array, Float32Array | Int32Array, number[], number[]] {
  setEngineFlags({ fastKernels: false });
  const a = tf.tidy(f);
  setEngineFlags({ fastKernels: true });
  const b = tf.tidy(f);
  const out: [Float32Array | Int32Array, Float32Array | Int32Array, number[], number[]] = [
    a.dataSync() as Float32Array,
    b.dataSync() as Float32Array,
    a.shape,
    b.shape,
  ];
  a.dispose();
  b.dispose();
  return out;
}

const t = (shape: number[], seed: number) => tf.tensor(randn(shape, seed).data, shape);

describe("wasm kernels", () => {
  it("the SIMD module loads on the single-threaded build", () => {
    expect(wasmSimdLoaded()).toBe(true);
  });

  it("engine flags: the shipped defaults; one setter that changes only what it is given, refuses the unknown", () => {
    const { kernelThreads, ...rest } = engineFlags; // kernelThreads: initBackend's (PSVIT_WASM_THREADS)
    expect(kernelThreads).toBeGreaterThanOrEqual(1);
    expect(rest).toEqual({
      fastKernels: true,
      simd: true,
      fma: process.env.PSVIT_WASM_FMA !== "0",
      bmmThreads: true,
      bmm: true,
      linear: true,
      simdWeightGrad: true,
      packB: true,
      packA: true,
      fusedResidual: true,
      fusedAttention: true,
      inferenceBypass: true,
      transposeOverride: false,
    });
    const before = { ...engineFlags };
    try {
      setEngineFlags({ packA: false, linear: false });
      expect({ ...engineFlags }).toEqual({ ...before, packA: false, linear: false });
    } finally {
      setEngineFlags({ packA: true, linear: true });
    }
    expect(() => setEngineFlags({ packC: false } as never)).toThrow(/unknown flag "packC"/);
    expect(() => setEngineFlags({ packA: 0 } as never)).toThrow(/packA must be a boolean/);
    expect(() => setEngineFlags({ kernelThreads: 0 })).toThrow(/positive integer/);
    expect({ ...engineFlags }).toEqual(before); // a refused patch changes nothing
  });

  it("asAxisSwap recognises swaps of adjacent axis groups only", () => {
    expect(asAxisSwap([4, 5], [1, 0])).toEqual([1, 4, 5, 1]);
    expect(asAxisSwap([2, 3, 4, 5], [0, 2, 1, 3])).toEqual([2, 3, 4, 5]);
    expect(asAxisSwap([2, 3, 4], [1, 2, 0])).toEqual([1, 2, 12, 1]);
    expect(asAxisSwap([2, 3, 4], [2, 0, 1])).toEqual([1, 6, 4, 1]);
    expect(asAxisSwap([2, 3, 4], [2, 1, 0])).toBeNull();
    expect(asAxisSwap([2, 3, 4], [0, 1, 2])).toBeNull();
    expect(asAxisSwap([2, 3, 4, 5], [1, 0, 3, 2])).toBeNull();
  });

  for (const simd of [true, false]) {
    describe(simd ? "SIMD module" : "JavaScript fallback", () => {
      beforeAll(() => setEngineFlags({ simd }));
      afterAll(() => setEngineFlags({ simd: true }));

      it("Transpose (override, off by default) = stock, every permutation of rank 2–4 (odd sizes)", () => {
        setEngineFlags({ transposeOverride: true });
        const perms: Record<number, number[][]> = {
          2: [[1, 0]],
          3: [
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
          ],
          4: [
            [0, 2, 1, 3],
            [0, 1, 3, 2],
            [0, 3, 1, 2],
            [1, 2, 3, 0],
            [3, 0, 1, 2],
            [2, 3, 0, 1],
            [3, 2, 1, 0],
          ],
        };
        const shapes: Record<number, number[]> = { 2: [37, 22], 3: [5, 9, 11], 4: [3, 5, 6, 7] };
        for (const rank of [2, 3, 4]) {
          for (const perm of perms[rank]) {
            const x = t(shapes[rank], rank);
            const [a, b, sa, sb] = both(() => tf.transpose(x, perm));
            expect(sb).toEqual(sa);
            expect(Array.from(b)).toEqual(Array.from(a));
            x.dispose();
          }
        }
        // large enough for the 32×32 blocks, with 4×4 tails
        const big = t([130, 67], 9);
        const [a, b] = both(() => tf.transpose(big));
        expect(Array.from(b)).toEqual(Array.from(a));
        big.dispose();
        setEngineFlags({ transposeOverride: false });
      });

      it("Sum over leading axes = stock (keepDims on and off), other axes untouched", () => {
        const x = t([6, 5, 7], 3);
        for (const axis of [0, [0, 1], 1, 2, [1, 2], [0, 2], -1]) {
          for (const keepDims of [false, true]) {
            const [a, b, sa, sb] = both(() => tf.sum(x, axis, keepDims));
            expect(sb).toEqual(sa);
            expectClose(b as Float32Array, a as Float32Array, 1e-5, 1e-5, `sum ${axis} ${keepDims}`);
          }
        }
        x.dispose();
      });

      it("Mean over a contiguous group of axes = stock (keepDims on and off), other axes untouched", () => {
        const x = t([6, 5, 7, 3], 4);
        for (const axis of [1, [1, 2], 0, [0, 1], 3, [2, 3], [0, 2], -2]) {
          for (const keepDims of [false, true]) {
            const [a, b, sa, sb] = both(() => tf.mean(x, axis, keepDims));
            expect(sb).toEqual(sa);
            expectClose(b as Float32Array, a as Float32Array, 1e-6, 1e-6, `mean ${axis} ${keepDims}`);
          }
        }
        x.dispose();
      });

      it("LayerNorm and GELU kernels leave no tensors behind", () => {
        const x = t([4, 6, 8], 5);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const g = tf.grads((y: tf.Tensor) => y.square().sum())([x]);
          g[0].dataSync();
        });
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
      });

      it("AdamW fused = tfjs formulation over 4 steps (decayed and not decayed)", async () => {
        const run = async (fused: boolean) => {
          setEngineFlags({ fastKernels: fused });
          const w = tf.tidy(() => tf.variable(t([7, 9], 20), true, `wk-w-${fused}-${simd}`));
          const b = tf.tidy(() => tf.variable(t([9], 21), true, `wk-b-${fused}-${simd}`));
          const vars = new Map<string, tf.Variable>([
            ["w", w],
            ["b", b],
          ]);
          const opt = new AdamW({ weightDecay: 0.05 });
          for (let s = 0; s < 4; s++) {
            const grads = new Map<string, tf.Tensor>([
              ["w", t([7, 9], 30 + s)],
              ["b", t([9], 40 + s)],
            ]);
            opt.step(grads, vars, 1e-2);
            for (const g of grads.values()) g.dispose();
          }
          const st = await opt.getState();
          const out = [w.dataSync(), b.dataSync(), st.vars.w.m, st.vars.w.v, st.vars.b.m, st.vars.b.v].map(
            (a) => Float32Array.from(a as Float32Array),
          );
          opt.dispose();
          w.dispose();
          b.dispose();
          setEngineFlags({ fastKernels: true });
          return out;
        };
        const before = tf.memory().numTensors;
        const plain = await run(false);
        const fused = await run(true);
        expect(tf.memory().numTensors).toBe(before);
        fused.forEach((f, i) => {
          expectClose(f, plain[i], 1e-6, 1e-5, `adamw output ${i}`);
        });
      });
    });
  }

  it("Slice = stock, rank 1–4, float32 and int32", () => {
    const x4 = t([3, 4, 5, 6], 11);
    const xi = tf.tidy(() => t([5, 40], 12).mul(100).cast("int32"));
    const cases: [tf.Tensor, number[], number[]][] = [
      [x4, [1, 0, 2, 1], [2, 3, 2, 4]],
      [x4, [0, 1, 0, 0], [3, 1, 5, 6]],
      [x4.reshape([12, 30]), [2, 3], [5, 27]],
      [x4.reshape([360]), [17], [100]],
      [x4.reshape([6, 10, 6]), [1, 2, 3], [4, 5, 2]],
      [xi, [1, 2], [3, 37]],
    ];
    for (const [x, begin, size] of cases) {
      const [a, b, sa, sb] = both(() => tf.slice(x, begin, size));
      expect(sb).toEqual(sa);
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    x4.dispose();
    xi.dispose();
  });

  it("Identity shares the buffer: a clone outlives its source", () => {
    const x = t([3, 4], 13);
    const want = Array.from(x.dataSync());
    const c = tf.clone(x);
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual(want);
    c.dispose();
  });
});
