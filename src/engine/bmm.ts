/**
 * Fast matrix products for the wasm backend, and the matMul gradient that keeps every product on
 * XNNPACK's fast path.
 *
 * tfjs-backend-wasm runs a BatchMatMul through XNNPACK (SIMD, packed weights) only when it is a single
 * rank-2 product without transpose flags; anything with a flag or a batch dimension runs a blocked
 * scalar C++ loop (≈1–2 GFLOP/s here against ≈27 for XNNPACK). So:
 * - `registerFastMatMulGrad()` replaces tfjs's BatchMatMul gradient: for rank-2 operands it issues
 *   explicit transposes and plain products (dA = dC·Bᵀ → matMul(dC, transpose(B)), …); batched
 *   operands keep the stock formulas.
 * - `bmm(a, b, transposeA, transposeB)` is the batched product [G, M, K]·[G, K, P] → [G, M, P] used by
 *   attention. On wasm, for larger matrices, it is computed as ONE depthwise convolution, which
 *   XNNPACK runs with its GEMM micro-kernels: images [1, M, K, G] (G channels, K columns), filter
 *   [1, K, G, P] (channel multiplier P): out[m, g·P + p] = Σ_k X[g, m, k]·Y[g, k, p]. That costs one
 *   transpose per operand and one for the result, and is 1.5–3× faster than the scalar loop at
 *   M ≥ 16 (docs/ENGINE.md has the measurements). Its gradient is written with `bmm` itself (no
 *   depthwise-conv backprop kernels exist in wasm).
 */
import * as tf from "@tensorflow/tfjs";
import { customGradNeeded, runFused, wasmBmmAvailable } from "./wasm-kernels.js";

/** Smallest M (rows of the product) for which the depthwise formulation is used on wasm. */
export const DW_MIN_ROWS = 16;

let forcedStrategy: "matmul" | "depthwise" | "simd" | undefined;

/**
 * For tests and benchmarks: force a formulation for `bmm` (undefined: choose by backend and size;
 * "simd" falls back to the automatic choice where the SIMD kernel is unavailable).
 */
export function setBmmStrategy(s: "matmul" | "depthwise" | "simd" | undefined): void {
  forcedStrategy = s;
}

function useDepthwise(m: number): boolean {
  if (forcedStrategy && forcedStrategy !== "simd") return forcedStrategy === "depthwise";
  return tf.getBackend() === "wasm" && m >= DW_MIN_ROWS;
}

/** The product without gradient bookkeeping (used inside gradients). */
function bmmRaw(a: tf.Tensor3D, b: tf.Tensor3D, ta: boolean, tb: boolean): tf.Tensor3D {
  const G = a.shape[0];
  const M = ta ? a.shape[2] : a.shape[1];
  const K = ta ? a.shape[1] : a.shape[2];
  const P = tb ? b.shape[1] : b.shape[2];
  if ((!forcedStrategy || forcedStrategy === "simd") && wasmBmmAvailable())
    return runFused("PsvitBmm", { a, b }, { ta, tb }) as tf.Tensor3D;
  if (!useDepthwise(M)) return tf.matMul(a, b, ta, tb);
  return tf.tidy(() => {
    // X as [M, K, G] and Y as [K, G, P]: one transpose each, whatever the flags
    const x = tf.transpose(a, ta ? [2, 1, 0] : [1, 2, 0]).reshape([1, M, K, G]) as tf.Tensor4D;
    const y = tf.transpose(b, tb ? [2, 0, 1] : [1, 0, 2]).reshape([1, K, G, P]) as tf.Tensor4D;
    const out = tf.depthwiseConv2d(x, y, 1, "valid"); // [1, M, 1, G·P]
    return tf.transpose(out.reshape([M, G, P]), [1, 0, 2]) as tf.Tensor3D;
  });
}

type Bmm = (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;
const cache = new Map<string, Bmm>();

function differentiable(ta: boolean, tb: boolean): Bmm {
  const key = `${ta}${tb}`;
  let f = cache.get(key);
  if (!f) {
    f = tf.customGrad((a, b, save) => {
      const A = a as tf.Tensor3D;
      const B = b as tf.Tensor3D;
      (save as tf.GradSaveFunc)([A, B]);
      return {
        value: bmmRaw(A, B, ta, tb),
        gradFunc: (dy, saved) => {
          const [sa, sb] = saved as tf.Tensor3D[];
          const dc = dy as tf.Tensor3D;
          if (!ta && !tb) return [bmmRaw(dc, sb, false, true), bmmRaw(sa, dc, true, false)];
          if (!ta && tb) return [bmmRaw(dc, sb, false, false), bmmRaw(dc, sa, true, false)];
          if (ta && !tb) return [bmmRaw(sb, dc, false, true), bmmRaw(sa, dc, false, false)];
          return [bmmRaw(sb, dc, true, true), bmmRaw(dc, sa, true, true)];
        },
      };
    }) as unknown as Bmm;
    cache.set(key, f);
  }
  return f;
}

/** Batched product op(a)·op(b) of rank-3 tensors [G, M, K]·[G, K, P] → [G, M, P], differentiable. */
export function bmm(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  if (a.rank !== 3 || b.rank !== 3 || a.shape[0] !== b.shape[0]) {
    throw new Error(`bmm: expected [G, M, K] and [G, K, P], got [${a.shape}] and [${b.shape}]`);
  }
  const K = transposeA ? a.shape[1] : a.shape[2];
  const Kb = transposeB ? b.shape[2] : b.shape[1];
  if (K !== Kb) throw new Error(`bmm: inner sizes differ: [${a.shape}] and [${b.shape}]`);
  if (!customGradNeeded()) return bmmRaw(a, b, transposeA, transposeB);
  return differentiable(transposeA, transposeB)(a, b);
}

let registered = false;
let wideWeightGrad = true;

/** For A/B measurements and tests: the (dCᵀ·A)ᵀ form of narrow weight gradients (default on). */
export function setWideWeightGrad(on: boolean): void {
  wideWeightGrad = on;
}

/**
 * Aᵀ·dC for A [rows, in], dC [rows, out] (a weight gradient) as plain 2D products: XNNPACK packs the
 * right operand on every call and is slow when the product has few rows against a long K (K = batch ·
 * tokens); so when in < out, (dCᵀ·A)ᵀ: more rows, a narrower packed operand, plus one small transpose of
 * the [out, in] result.
 */
export function weightGrad(a: tf.Tensor2D, dc: tf.Tensor2D): tf.Tensor2D {
  if (wideWeightGrad && a.shape[1] < dc.shape[1])
    return tf.transpose(tf.matMul(tf.transpose(dc), a)) as tf.Tensor2D;
  return tf.matMul(tf.transpose(a), dc) as tf.Tensor2D;
}

/**
 * Replace tfjs's BatchMatMul gradient so that the gradient of a rank-2 product is two plain rank-2
 * products (XNNPACK's fast path on wasm) with explicit transposes. Batched operands keep the stock
 * formulas. Idempotent; called when ops.ts is imported.
 */
export function registerFastMatMulGrad(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ["a", "b"],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dc = dy as tf.Tensor;
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const T = (t: tf.Tensor) => (t.rank === 2 ? tf.transpose(t) : t);
      if (a.rank === 2 && b.rank === 2 && dc.rank === 2) {
        if (!transposeA && !transposeB) {
          // dB = Aᵀ·dC [in, out]: see weightGrad for the orientation
          return { a: () => tf.matMul(dc, T(b)), b: () => weightGrad(a as tf.Tensor2D, dc as tf.Tensor2D) };
        }
        if (!transposeA && transposeB) {
          return { a: () => tf.matMul(dc, b), b: () => tf.matMul(T(dc), a) };
        }
        if (transposeA && !transposeB) {
          return { a: () => tf.matMul(b, T(dc)), b: () => tf.matMul(a, dc) };
        }
        return { a: () => tf.matMul(T(b), T(dc)), b: () => tf.matMul(T(dc), T(a)) };
      }
      // batched: tfjs's own formulas
      if (!transposeA && !transposeB) {
        return { a: () => tf.matMul(dc, b, false, true), b: () => tf.matMul(a, dc, true, false) };
      }
      if (!transposeA && transposeB) {
        return { a: () => tf.matMul(dc, b, false, false), b: () => tf.matMul(dc, a, true, false) };
      }
      if (transposeA && !transposeB) {
        return { a: () => tf.matMul(b, dc, false, true), b: () => tf.matMul(a, dc, false, false) };
      }
      return { a: () => tf.matMul(b, dc, true, true), b: () => tf.matMul(dc, a, true, true) };
    },
  });
}
