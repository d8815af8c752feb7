/**
 * The fast ops (src/engine/ops.ts) against the reference formulation (test/oracles/reference.ts, run on
 * the cpu backend) in value and gradient, on the cpu and wasm backends; conv2d against tf.conv2d. The
 * cases are in ./op-cases.ts (the webgpu backend runs them too: ./webgpu-real.test.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bmm, setBmmStrategy, setWideWeightGrad } from "../../src/engine/bmm.js";
import * as fast from "../../src/engine/ops.js";
import { setEngineFlags, wasmScratchFloats, wasmSimdFlavour } from "../../src/engine/wasm-kernels.js";
import { expectClose, type Input, type Result, randn, useBackend, valueAndGrads } from "./helpers.js";
import { cases } from "./op-cases.js";

const refResults = new Map<string, Result>();

beforeAll(async () => {
  await useBackend("cpu");
  for (const c of cases) refResults.set(c.name, valueAndGrads(c.ref, c.inputs));
});

afterAll(async () => {
  setBmmStrategy(undefined);
  await tf.setBackend("cpu");
});

/**
 * bmm(a, b, ta, tb) for [G, M, K]·[G, K, P] with each operand given plain or transposed equals
 * tf.matMul in value, and its gradients are the (transposed) gradients of tf.matMul.
 */
function expectBmmLikeMatMul([G, M, K, P]: number[], seed: number, label: string): void {
  const a = randn([G, M, K], seed);
  const b = randn([G, K, P], seed + 1);
  const T = (x: Input, s: number[]) => ({
    shape: s,
    data: tf.tidy(() => tf.tensor(x.data, x.shape).transpose([0, 2, 1]).dataSync() as Float32Array),
  });
  const aT = T(a, [G, K, M]);
  const bT = T(b, [G, P, K]);
  const stock = valueAndGrads((x, y) => tf.matMul(x, y), [a, b]);
  const runs: [boolean, boolean, Input, Input][] = [
    [false, false, a, b],
    [false, true, a, bT],
    [true, false, aT, b],
    [true, true, aT, bT],
  ];
  for (const [ta, tb, x, y] of runs) {
    const got = valueAndGrads((p, q) => bmm(p as tf.Tensor3D, q as tf.Tensor3D, ta, tb), [x, y]);
    const what = `${label} ${ta}/${tb}`;
    expectClose(got.value, stock.value, 1e-4, 1e-4, `${what} value`);
    // gradients w.r.t. the transposed operand are the transposed gradients
    const ga = ta ? T({ shape: [G, M, K], data: stock.grads[0] }, [G, K, M]).data : stock.grads[0];
    const gb = tb ? T({ shape: [G, K, P], data: stock.grads[1] }, [G, P, K]).data : stock.grads[1];
    expectClose(got.grads[0], ga, 1e-4, 1e-4, `${what} grad a`);
    expectClose(got.grads[1], gb, 1e-4, 1e-4, `${what} grad b`);
  }
}

/**
 * wasm runs five ways: the default (fused kernels in the relaxed-SIMD module: fused multiply-adds,
 * weight gradients on the SIMD kernel), "wasm-nofma" (the plain SIMD build), "wasm-xnn-wgrad" (weight
 * gradients on transpose + XNNPACK), "wasm-js" (the same kernels as JavaScript loops, what runs where
 * the SIMD module cannot load) and "wasm-plain" (no custom kernels: the tfjs formulation, stock
 * kernels, stock weight-gradient form).
 */
const variants = [
  { name: "cpu", backend: "cpu", simd: true, kernels: true, fma: true, simdWgrad: true },
  { name: "wasm", backend: "wasm", simd: true, kernels: true, fma: true, simdWgrad: true },
  { name: "wasm-nofma", backend: "wasm", simd: true, kernels: true, fma: false, simdWgrad: true },
  { name: "wasm-xnn-wgrad", backend: "wasm", simd: true, kernels: true, fma: true, simdWgrad: false },
  { name: "wasm-js", backend: "wasm", simd: false, kernels: true, fma: true, simdWgrad: true },
  { name: "wasm-plain", backend: "wasm", simd: true, kernels: false, fma: true, simdWgrad: true },
] as const;

for (const variant of variants) {
  const backend = variant.backend;
  describe(`fast ops on ${variant.name} = reference`, () => {
    beforeAll(async () => {
      await useBackend(backend);
      setEngineFlags({
        simd: variant.simd,
        fastKernels: variant.kernels,
        fma: variant.fma,
        simdWeightGrad: variant.simdWgrad,
      });
      setWideWeightGrad(variant.kernels);
    });
    afterAll(() => {
      setEngineFlags({ simd: true, fastKernels: true, fma: true, simdWeightGrad: true });
      setWideWeightGrad(true);
    });
    if (backend === "wasm" && variant.simd && variant.kernels) {
      it("runs the SIMD build it asks for (Node 20: relaxed SIMD behind a V8 flag psvit sets)", () => {
        expect(wasmSimdFlavour()).toBe(variant.fma ? "relaxed" : "plain");
      });
    }
    for (const c of cases) {
      it(c.name, () => {
        const want = refResults.get(c.name)!;
        const got = valueAndGrads(c.fast, c.inputs);
        expect(got.shape).toEqual(want.shape);
        const atol = c.atol ?? 1e-4;
        expectClose(got.value, want.value, atol, 1e-4, `${c.name} value`);
        got.grads.forEach((g, i) => {
          expectClose(g, want.grads[i], atol, 1e-4, `${c.name} grad ${i}`);
        });
        // the value through the training path too (customGrad wrappers: A&S GELU, split attention)
        setEngineFlags({ inferenceBypass: false });
        try {
          const trainPath = valueAndGrads(c.fast, c.inputs, false);
          expectClose(trainPath.value, want.value, atol, 1e-4, `${c.name} value, training path`);
        } finally {
          setEngineFlags({ inferenceBypass: true });
        }
      });
    }

    it("the replaced rank-2 matMul gradient equals tfjs's formulas, every transpose combination", () => {
      const a = randn([4, 6], 40);
      const b = randn([6, 5], 41);
      const dy = randn([4, 5], 42);
      tf.tidy(() => {
        const A = tf.tensor2d(a.data, [4, 6]);
        const Bm = tf.tensor2d(b.data, [6, 5]);
        const dY = tf.tensor2d(dy.data, [4, 5]);
        // stock BatchMatMul gradient of C = A·B: dA = matMul(dY, B, false, true), dB = matMul(A, dY, true, false)
        const wantA = tf.matMul(dY, Bm, false, true).dataSync() as Float32Array;
        const wantB = tf.matMul(A, dY, true, false).dataSync() as Float32Array;
        const combos: [boolean, boolean, tf.Tensor2D, tf.Tensor2D][] = [
          [false, false, A, Bm],
          [false, true, A, Bm.transpose()],
          [true, false, A.transpose(), Bm],
          [true, true, A.transpose(), Bm.transpose()],
        ];
        for (const [ta, tb, x, y] of combos) {
          const [gx, gy] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb).mul(dY).sum())([
            x,
            y,
          ]);
          const ga = ta ? gx.transpose() : gx;
          const gb = tb ? gy.transpose() : gy;
          expectClose(ga.dataSync() as Float32Array, wantA, 1e-5, 1e-5, `${ta}/${tb} dA`);
          expectClose(gb.dataSync() as Float32Array, wantB, 1e-5, 1e-5, `${ta}/${tb} dB`);
        }
      });
    });

    it("bmm: both formulations, every transpose combination, value and gradient", () => {
      for (const strategy of ["matmul", "depthwise", "simd"] as const) {
        setBmmStrategy(strategy);
        expectBmmLikeMatMul([3, 16, 5, 7], 30, strategy);
      }
      setBmmStrategy(undefined);
    });

    it("bmm: odd sizes (4×8 tile tails), every transpose combination, SIMD kernel on and off", () => {
      for (const on of [true, false]) {
        setEngineFlags({ bmm: on });
        expectBmmLikeMatMul([2, 7, 9, 13], 45, on ? "simd" : "stock");
      }
      setEngineFlags({ bmm: true });
    });

    it("bmm: B's panels and A's row blocks packed (large products: tails of rows, columns, K blocks), on and off", () => {
      for (const [packB, packA] of [
        [true, true],
        [true, false],
        [false, false],
      ]) {
        setEngineFlags({ packB, packA });
        const label = packB ? (packA ? "A and B packed" : "B packed") : "in place";
        // M = 37 rows (a 1-row tail), K = 600 (two K blocks), P = 51 (3 columns past the 8-panels)
        expectBmmLikeMatMul([2, 37, 600, 51], 47, label);
        // P = 64: a transposed b is packed straight from [G, P, K]
        expectBmmLikeMatMul([2, 36, 70, 64], 48, label);
        // K = 5: fewer than one 4×4 transpose of a transposed b, then its 1-row K tail
        expectBmmLikeMatMul([3, 33, 5, 50], 52, label);
      }
      setEngineFlags({ packB: true, packA: true });
    });

    if (backend === "wasm" && variant.simd && variant.kernels) {
      it("bmm: packed products share one kept scratch, grown by a larger product and reused by smaller ones", () => {
        const small: [number, number, number, number] = [1, 40, 64, 64];
        expectBmmLikeMatMul(small, 49, "small");
        const kept = wasmScratchFloats();
        // with packed A: one block of A per thread, then B's panels
        expect(kept).toBeGreaterThanOrEqual(64 * 64);
        expectBmmLikeMatMul([1, 64, 700, 256], 50, "larger");
        const grown = wasmScratchFloats();
        expect(grown).toBeGreaterThanOrEqual(700 * 256);
        // after the larger product, the smaller one runs in the grown scratch: still exact, no new buffer
        expectBmmLikeMatMul(small, 51, "small after larger");
        expect(wasmScratchFloats()).toBe(grown);
        const be = tf.backend() as unknown as { numDataIds(): number };
        const t = (x: Input) => tf.tensor(x.data, x.shape);
        const [a, w, b] = [t(randn([40, 64], 52)), t(randn([64, 64], 53)), t(randn([64], 54))] as [
          tf.Tensor2D,
          tf.Tensor2D,
          tf.Tensor1D,
        ];
        tf.tidy(() => {
          fast.linear(a, w, b);
        });
        const ids = be.numDataIds();
        for (let i = 0; i < 5; i++)
          tf.tidy(() => {
            fast.linear(a, w, b);
          });
        expect(be.numDataIds()).toBe(ids);
        tf.dispose([a, w, b]);
      });
    }
  });
}
