/**
 * The tensor operations psvit's models are made of. Models call only these (plus trivial tf ops such as
 * add/reshape), so that how each op is formulated for speed on a backend (wasm's fast 2D matMul path,
 * custom gradients, im2col) is decided here and nowhere else.
 *
 * Layout conventions (internal; weights files use PyTorch layouts, see src/weights):
 * - activations: images NHWC; token sequences [B, N, D].
 * - Linear weight [in, out] so the forward product is a plain, untransposed 2D matMul.
 * - Conv weight as a matrix [k·k·Cin, Cout], rows in (kh, kw, cin) order (the im2col patch order).
 *
 * These are the fast formulations (docs/ENGINE.md): every product of forward and backward is either a
 * plain rank-2 matMul (XNNPACK on wasm; bmm.ts replaces tfjs's matMul gradient accordingly) or an
 * attention product through `bmm`; LayerNorm and GELU have hand-written gradients; window ops use only
 * kernels that wasm has, with gradients (no stridedSlice, no gather, no Conv2DBackpropFilter). The plain
 * formulation they are tested against is test/oracles/reference.ts (same signatures).
 */
import * as tf from "@tensorflow/tfjs";
import { bmm, registerFastMatMulGrad, weightGrad } from "./bmm.js";
import {
  customGradNeeded,
  engineFlags,
  runFused,
  wasmAttentionAvailable,
  wasmFastKernels,
  wasmLinearAvailable,
  wasmSimdWeightGradAvailable,
} from "./wasm-kernels.js";

registerFastMatMulGrad();

function assertRank(op: string, x: tf.Tensor, rank: number, what = "x"): void {
  if (x.rank !== rank) {
    throw new Error(`${op}: expected ${what} of rank ${rank}, got shape [${x.shape.join(", ")}]`);
  }
}

/**
 * op(a) · op(b) (+ bias) (+ res, a residual of the output's size) on the SIMD kernel (ta: a given as
 * [K, rows]; tb: b given as [P, K]).
 */
function simdMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  tb: boolean,
  ta = false,
  bias?: tf.Tensor,
  res?: tf.Tensor,
): tf.Tensor2D {
  const inputs: Record<string, tf.Tensor> = { a, b };
  if (bias) inputs.bias = bias;
  if (res) inputs.res = res;
  return runFused("PsvitBmm", inputs, { ta, tb }) as tf.Tensor2D;
}

/**
 * wasm with the SIMD module: x·W and dX = dY·Wᵀ on the SIMD kernel (4×8 register tiles; faster than
 * XNNPACK's per-call weight packing for these shapes — K = in ≤ a few hundred, many rows), and the weight
 * gradient Xᵀ·dY (K = rows, long) too, X read transposed in place (no transpose kernel, no packing);
 * with the `simdWeightGrad` flag off, on XNNPACK via bmm.ts's weight-gradient form.
 */
const linearSimdGrads = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => {
  const dc = dy as tf.Tensor2D;
  const dw = wasmSimdWeightGradAvailable()
    ? simdMatMul(x, dc, false, true)
    : weightGrad(x as tf.Tensor2D, dc);
  return [simdMatMul(dc, w, true), dw];
};

const linearSimd = tf.customGrad((x, w, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
  return {
    value: simdMatMul(x as tf.Tensor, w as tf.Tensor, false),
    gradFunc: (dy, saved) => linearSimdGrads(saved[0], saved[1], dy as tf.Tensor),
  };
}) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** The same with the bias added inside the product kernel; its gradient is dY's column sum. */
const linearSimdBias = tf.customGrad((x, w, b, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
  return {
    value: simdMatMul(x as tf.Tensor, w as tf.Tensor, false, false, b as tf.Tensor),
    gradFunc: (dy, saved) => [
      ...linearSimdGrads(saved[0], saved[1], dy as tf.Tensor),
      (dy as tf.Tensor).sum(0),
    ],
  };
}) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * r + x·w + b with the residual added as the product's last K block is stored (no Add kernel, no
 * extra pass over the output); r's gradient is dY itself.
 */
const linearSimdBiasRes = tf.customGrad((x, w, b, r, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
  return {
    value: simdMatMul(x as tf.Tensor, w as tf.Tensor, false, false, b as tf.Tensor, r as tf.Tensor),
    gradFunc: (dy, saved) => {
      const d = dy as tf.Tensor;
      return [...linearSimdGrads(saved[0], saved[1], d), d.sum(0), d.clone()];
    },
  };
}) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, r: tf.Tensor2D) => tf.Tensor2D;

/**
 * x [..., in] · w [in, out] (+ b [out]) → [..., out], issued as one 2D matMul; with `residual`
 * ([..., out]) the result is residual + x·w + b (a pre-norm layer's skip connection: on wasm one kernel).
 */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, residual?: tf.Tensor): tf.Tensor {
  const [inDim, outDim] = w.shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(
      `linear: x has ${x.shape[x.rank - 1]} features (shape [${x.shape}]), weight expects ${inDim}`,
    );
  }
  const outShape = [...lead, outDim];
  if (residual && (residual.rank !== outShape.length || residual.shape.some((n, i) => n !== outShape[i]))) {
    throw new Error(
      `linear: expected a residual of shape [${outShape}] (the output's), got [${residual.shape}]`,
    );
  }
  return tf.tidy(() => {
    const rows = x.size / inDim;
    const x2 = x.reshape([rows, inDim]) as tf.Tensor2D;
    if (wasmLinearAvailable() && x.dtype === "float32") {
      const fuseRes = residual !== undefined && residual.dtype === "float32" && engineFlags.fusedResidual;
      if (!customGradNeeded()) {
        const y = simdMatMul(x2, w, false, false, b, fuseRes ? residual.reshape([rows, outDim]) : undefined);
        return residual && !fuseRes ? tf.add(residual, y.reshape(outShape)) : y.reshape(outShape);
      }
      if (b && residual && fuseRes) {
        return linearSimdBiasRes(x2, w, b, residual.reshape([rows, outDim]) as tf.Tensor2D).reshape(outShape);
      }
      const y = (b ? linearSimdBias(x2, w, b) : linearSimd(x2, w)).reshape(outShape);
      return residual ? tf.add(residual, y) : y;
    }
    let y: tf.Tensor = tf.matMul(x2, w);
    if (b) y = y.add(b);
    y = y.reshape(outShape);
    return residual ? tf.add(residual, y) : y;
  });
}

type LnFn = (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor;
const lnCache = new Map<number, LnFn>();

function layerNormFn(eps: number): LnFn {
  let f = lnCache.get(eps);
  if (!f) {
    f = tf.customGrad((x, gamma, beta, save) => {
      const X = x as tf.Tensor;
      // each row's first value taken off before the mean (exact where a row's values lie within a
      // factor 2 of each other): a large mean with a tiny spread, 1e3 ± 1e-2, otherwise lost 1% of σ
      // in the float32 sum of the mean; the gradient below needs only x̂ and rstd
      const first = X.slice(new Array(X.rank).fill(0), [...X.shape.slice(0, -1), 1]);
      const xs = X.sub(first);
      const xc = xs.sub(xs.mean(-1, true));
      const rstd = tf.rsqrt(xc.square().mean(-1, true).add(eps));
      const xhat = xc.mul(rstd);
      (save as tf.GradSaveFunc)([xhat, rstd, gamma as tf.Tensor]);
      return {
        value: xhat.mul(gamma as tf.Tensor).add(beta as tf.Tensor),
        gradFunc: (dy, saved) => {
          const [xh, rs, g] = saved;
          const D = xh.shape[xh.rank - 1];
          const dyt = dy as tf.Tensor;
          const dxh = dyt.mul(g);
          // dx = rstd · (dxh − mean(dxh) − xhat · mean(dxh · xhat))
          const dx = dxh
            .sub(dxh.mean(-1, true))
            .sub(xh.mul(dxh.mul(xh).mean(-1, true)))
            .mul(rs);
          const rows = (t: tf.Tensor) => t.reshape([t.size / D, D]);
          return [dx, rows(dyt.mul(xh)).sum(0), rows(dyt).sum(0)];
        },
      };
    }) as unknown as LnFn;
    lnCache.set(eps, f);
  }
  return f;
}

const lnFusedCache = new Map<number, LnFn>();

/** wasm: one fused kernel forward (y, mean, rstd) and one backward (dx, dγ, dβ); see wasm/fused.ts. */
function layerNormFusedFn(eps: number): LnFn {
  let f = lnFusedCache.get(eps);
  if (!f) {
    f = tf.customGrad((x, gamma, beta, save) => {
      const [y, mean, rstd] = runFused(
        "PsvitLayerNorm",
        { x: x as tf.Tensor, gamma: gamma as tf.Tensor, beta: beta as tf.Tensor },
        { eps },
      ) as tf.Tensor[];
      (save as tf.GradSaveFunc)([x as tf.Tensor, gamma as tf.Tensor, mean, rstd]);
      return {
        value: y,
        gradFunc: (dy, saved) => {
          const [sx, g, m, r] = saved;
          return runFused("PsvitLayerNormGrad", {
            dy: dy as tf.Tensor,
            x: sx,
            gamma: g,
            mean: m,
            rstd: r,
          }) as tf.Tensor[];
        },
      };
    }) as unknown as LnFn;
    lnFusedCache.set(eps, f);
  }
  return f;
}

/** LayerNorm over the last axis with scale and shift (biased variance, as PyTorch). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-6): tf.Tensor {
  if (wasmFastKernels() && x.dtype === "float32") {
    if (!customGradNeeded()) {
      const [y, mean, rstd] = runFused("PsvitLayerNorm", { x, gamma, beta }, { eps }) as tf.Tensor[];
      mean.dispose();
      rstd.dispose();
      return y;
    }
    return layerNormFusedFn(eps)(x, gamma, beta);
  }
  return layerNormFn(eps)(x, gamma, beta);
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

const geluFn = tf.customGrad((x, save) => {
  const X = x as tf.Tensor;
  const cdf = tf.erf(X.mul(Math.SQRT1_2)).add(1).mul(0.5); // Φ(x)
  (save as tf.GradSaveFunc)([X, cdf]);
  return {
    value: X.mul(cdf),
    // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)
    gradFunc: (dy, saved) => {
      const [sx, scdf] = saved;
      const pdf = tf.exp(sx.square().mul(-0.5)).mul(INV_SQRT_2PI);
      return (dy as tf.Tensor).mul(scdf.add(sx.mul(pdf)));
    },
  };
}) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * wasm: one fused kernel forward (wasm/fused.ts). When gradients are being recorded it also returns the
 * derivative Φ(x) + x·φ(x), so backward is a single multiply; otherwise only y is computed.
 */
const geluFusedFn = tf.customGrad((x, save) => {
  const [y, d] = runFused("PsvitGeluTrain", { x: x as tf.Tensor }) as tf.Tensor[];
  (save as tf.GradSaveFunc)([d]);
  return {
    value: y,
    gradFunc: (dy, saved) => (dy as tf.Tensor).mul(saved[0]),
  };
}) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Exact GELU: 0.5·x·(1 + erf(x/√2)) (erf, not tanh: wasm's tanh is slow; no tf.pow). */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (wasmFastKernels() && x.dtype === "float32") {
    return customGradNeeded() ? geluFusedFn(x) : (runFused("PsvitGelu", { x }) as tf.Tensor);
  }
  return geluFn(x);
}

/** wasm: softmax over the last axis as one fused kernel forward and one backward (wasm/fused.ts). */
const softmaxFused = tf.customGrad((x, save) => {
  const y = runFused("PsvitSoftmax", { x: x as tf.Tensor }) as tf.Tensor;
  (save as tf.GradSaveFunc)([y]);
  return {
    value: y,
    gradFunc: (dy, saved) => runFused("PsvitSoftmaxGrad", { dy: dy as tf.Tensor, y: saved[0] }) as tf.Tensor,
  };
}) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Softmax over the last axis. */
export function softmax(x: tf.Tensor): tf.Tensor {
  if (wasmFastKernels() && x.dtype === "float32") {
    return customGradNeeded() ? softmaxFused(x) : (runFused("PsvitSoftmax", { x }) as tf.Tensor);
  }
  return tf.softmax(x);
}

/**
 * x [B, N, T·h·d] → T tensors [B·h, N, d], the first multiplied by `scale`; on wasm one kernel
 * (gradient: the merge kernel), elsewhere a rank-4 transpose and slices.
 */
function splitHeads(x: tf.Tensor3D, T: number, heads: number, scale: number): tf.Tensor3D[] {
  const [B, N, W] = x.shape;
  const d = W / (T * heads);
  if (wasmFastKernels() && x.dtype === "float32") {
    const out = runFused("PsvitHeadsSplit", { x }, { T, heads, scale }) as tf.Tensor3D | tf.Tensor3D[];
    return Array.isArray(out) ? out : [out]; // tfjs returns a lone output unwrapped
  }
  const G = B * heads;
  // [B, N, T·h, d] → [B, T·h, N, d] (rank 4: wasm's Transpose and Slice are slow above rank 4)
  const parts = x
    .reshape([B, N, T * heads, d])
    .transpose([0, 2, 1, 3])
    .reshape([B, T, heads, N * d]);
  return Array.from({ length: T }, (_, t) => {
    const p = parts.slice([0, t, 0, 0], [B, 1, heads, N * d]).reshape([G, N, d]) as tf.Tensor3D;
    return t === 0 && scale !== 1 ? (p.mul(scale) as tf.Tensor3D) : p;
  });
}

/** [B·h, N, d] → [B, N, h·d] (heads concatenated per token); on wasm one kernel. */
function mergeHeads(x: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [G, N, d] = x.shape;
  const B = G / heads;
  if (wasmFastKernels() && x.dtype === "float32") {
    return runFused("PsvitHeadsMerge", { x0: x }, { T: 1, heads, scale: 1 }) as tf.Tensor3D;
  }
  return x
    .reshape([B, heads, N, d])
    .transpose([0, 2, 1, 3])
    .reshape([B, N, heads * d]) as tf.Tensor3D;
}

/** Attention probabilities of one layer: [B, heads, N, N] (the layout reuse layers receive). */
export type AttentionMap = tf.Tensor4D;

/**
 * Multi-head self-attention from fused qkv [B, N, 3D] (q rows, then k, then v; heads contiguous):
 * returns the heads' outputs concatenated [B, N, D] (before the output projection) and the
 * attention probabilities, for a following `reuse` layer.
 */
export function selfAttention(qkv: tf.Tensor3D, heads: number): { out: tf.Tensor3D; attn: AttentionMap } {
  const [B, N, D3] = qkv.shape;
  const D = D3 / 3;
  const d = D / heads;
  if (!Number.isInteger(d))
    throw new Error(`selfAttention: qkv width ${D3} does not split into 3 × ${heads} heads`);
  if (!customGradNeeded() && wasmAttentionAvailable()) {
    const [out, probs] = runFused("PsvitAttention", { x: qkv }, { heads }) as tf.Tensor[];
    return { out: out as tf.Tensor3D, attn: probs as AttentionMap };
  }
  return tf.tidy(() => {
    // q, k, v as [B·h, N, d]; q pre-scaled by 1/√d (N·d multiplies instead of N·N)
    const [q, k, v] = splitHeads(qkv, 3, heads, 1 / Math.sqrt(d));
    const probs = softmax(bmm(q, k, false, true)) as tf.Tensor3D; // [G, N, N]
    const out = mergeHeads(bmm(probs, v), heads); // [B, N, D]
    return { out, attn: probs.reshape([B, heads, N, N]) as AttentionMap };
  });
}

/** A `reuse` layer's attention: the given probabilities applied to v [B, N, D] → [B, N, D]. */
export function applyAttention(attn: AttentionMap, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [B, N, D] = v.shape;
  if (D % heads !== 0) throw new Error(`applyAttention: v width ${D} does not split into ${heads} heads`);
  const [Ba, h, Na] = attn.shape;
  if (Ba !== B || h !== heads || Na !== N) {
    throw new Error(
      `applyAttention: attention map [${attn.shape}] does not fit v [${v.shape}] with ${heads} heads`,
    );
  }
  if (!customGradNeeded() && wasmAttentionAvailable()) {
    return runFused("PsvitAttention", { x: v, probs: attn }, { heads }) as tf.Tensor3D;
  }
  return tf.tidy(() => {
    const G = B * heads;
    const [vh] = splitHeads(v, 1, heads, 1);
    return mergeHeads(bmm(attn.reshape([G, N, N]) as tf.Tensor3D, vh), heads);
  });
}

/** Non-overlapping p×p patches of NHWC images, flattened in (kh, kw, c) order: [B, (H/p)·(W/p), p·p·C]. */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor3D {
  assertRank("patchify", x, 4);
  const [B, H, W, C] = x.shape;
  if (H % p !== 0 || W % p !== 0) throw new Error(`patchify: image ${H}×${W} is not divisible by patch ${p}`);
  // on wasm: the im2col kernel with stride = kernel = p, no padding (same (ph, pw, c) order; one gather
  // instead of a rank-4 Transpose, whose stock wasm loop costs ≈ 3 ns per element)
  if (wasmFastKernels() && x.dtype === "float32") {
    return tf.tidy(() => im2col(x, p, p, 0).reshape([B, (H / p) * (W / p), p * p * C]) as tf.Tensor3D);
  }
  return tf.tidy(
    () =>
      x
        .reshape([(B * H) / p, p, W / p, p * C]) // rank 4: wasm's Transpose is slow above
        .transpose([0, 2, 1, 3])
        .reshape([B, (H / p) * (W / p), p * p * C]) as tf.Tensor3D,
  );
}

/**
 * The 0/1 matrix [k·k·Ho·Wo, H·W] that picks, for window offset (i, j) and output pixel (oy, ox), the
 * input pixel (s·oy + i − p, s·ox + j − p) (a zero row where that falls in the padding). Cached.
 */
const selectionCache = new Map<string, Float32Array>();
function selectionMatrix(H: number, W: number, k: number, s: number, p: number, Ho: number, Wo: number) {
  const key = `${H},${W},${k},${s},${p}`;
  let m = selectionCache.get(key);
  if (!m) {
    m = new Float32Array(k * k * Ho * Wo * H * W);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        for (let oy = 0; oy < Ho; oy++) {
          for (let ox = 0; ox < Wo; ox++) {
            const y = s * oy + i - p;
            const x = s * ox + j - p;
            if (y < 0 || y >= H || x < 0 || x >= W) continue;
            const row = ((i * k + j) * Ho + oy) * Wo + ox;
            m[row * H * W + y * W + x] = 1;
          }
        }
      }
    }
    selectionCache.set(key, m);
  }
  return m;
}

/** Grids up to this many pixels use the selection-matrix im2col (one XNNPACK matMul). */
export const IM2COL_MATMUL_MAX_PIXELS = 256;

const im2colCache = new Map<string, (x: tf.Tensor4D) => tf.Tensor4D>();

/** wasm: one gather kernel forward, one scatter-add kernel backward (wasm/fused.ts). */
function im2colFusedFn(k: number, s: number, p: number, H: number, W: number) {
  const key = `${k},${s},${p},${H},${W}`;
  let f = im2colCache.get(key);
  if (!f) {
    f = tf.customGrad((x) => ({
      value: runFused("PsvitIm2col", { x: x as tf.Tensor }, { k, s, p }) as tf.Tensor,
      gradFunc: (dy) => runFused("PsvitCol2im", { dy: dy as tf.Tensor }, { k, s, p, H, W }) as tf.Tensor,
    })) as unknown as (x: tf.Tensor4D) => tf.Tensor4D;
    im2colCache.set(key, f);
  }
  return f;
}

/**
 * im2col: every k×k window (stride s, zero padding p) of NHWC x as a row in (kh, kw, c) order:
 * [B, Ho, Wo, k·k·C]. On wasm one fused kernel; elsewhere a selection matMul (small grids) or slices.
 */
export function im2col(x: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  assertRank("im2col", x, 4);
  const [B, H, W, C] = x.shape;
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`im2col: kernel ${k} on ${H}×${W} (padding ${p}) leaves no output`);
  if (wasmFastKernels() && x.dtype === "float32") {
    if (!customGradNeeded()) return runFused("PsvitIm2col", { x }, { k, s, p }) as tf.Tensor4D;
    return im2colFusedFn(k, s, p, H, W)(x);
  }
  if (H * W <= IM2COL_MATMUL_MAX_PIXELS) {
    // Small grids (the token grids of PSViT-2D pools): ONE plain matMul with a 0/1 selection matrix,
    // [k²·Ho·Wo, H·W] · [H·W, B·C] (padding = zero rows), whose gradient is one more plain matMul.
    // wasm's strided Slice / Concat run as JS loops and cost far more than these few MFLOPs.
    return tf.tidy(() => {
      const sel = tf.tensor2d(selectionMatrix(H, W, k, s, p, Ho, Wo), [k * k * Ho * Wo, H * W]);
      const xs = x
        .reshape([B, H * W, C])
        .transpose([1, 0, 2])
        .reshape([H * W, B * C]);
      return tf
        .matMul(sel, xs)
        .reshape([k * k, Ho * Wo, B, C])
        .transpose([2, 1, 0, 3])
        .reshape([B, Ho, Wo, k * k * C]) as tf.Tensor4D;
    });
  }
  // Space-to-depth view: pad (or crop) to [B, s·Hq, s·Wq, C], seen as [B, Hq, s, Wq, s, C]; window
  // offset i = s·a + r reads rows a … a+Ho−1 of phase r: a plain slice (gradient: pad).
  const Hq = Math.floor((k - 1) / s) + Ho;
  const Wq = Math.floor((k - 1) / s) + Wo;
  return tf.tidy(() => {
    const padB = Math.max(0, s * Hq - H - p);
    const padR = Math.max(0, s * Wq - W - p);
    let xp: tf.Tensor4D =
      p > 0 || padB > 0 || padR > 0
        ? x.pad([
            [0, 0],
            [p, padB],
            [p, padR],
            [0, 0],
          ])
        : x;
    if (xp.shape[1] !== s * Hq || xp.shape[2] !== s * Wq) xp = xp.slice([0, 0, 0, 0], [B, s * Hq, s * Wq, C]);
    // rank ≤ 4 only: wasm's Slice and Transpose are slow above rank 4
    const rowsView = xp.reshape([B, Hq, s, Wq * s * C]);
    const cols: tf.Tensor[] = [];
    for (let i = 0; i < k; i++) {
      const rows = rowsView
        .slice([0, Math.floor(i / s), i % s, 0], [B, Ho, 1, Wq * s * C])
        .reshape([B * Ho, Wq, s * C]);
      for (let j = 0; j < k; j++) {
        cols.push(rows.slice([0, Math.floor(j / s), (j % s) * C], [B * Ho, Wo, C]).reshape([B, Ho, Wo, C]));
      }
    }
    return (cols.length === 1 ? cols[0] : tf.concat(cols, 3)) as tf.Tensor4D;
  });
}

/** Conv2d as im2col + one 2D matMul; w [k·k·Cin, Cout] in (kh, kw, cin) row order. */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor2D,
  b: tf.Tensor1D | undefined,
  k: number,
  s: number,
  p: number,
): tf.Tensor4D {
  const [, , , C] = x.shape;
  if (w.shape[0] !== k * k * C) {
    throw new Error(`conv2d: weight rows ${w.shape[0]} != k·k·Cin = ${k}·${k}·${C}`);
  }
  return tf.tidy(() => linear(im2col(x, k, s, p), w, b) as tf.Tensor4D);
}

/** Max over windows of the token axis: x [B, N, D], kernel k, stride s, no padding → [B, No, D]. */
export function maxPool1d(x: tf.Tensor3D, k: number, s: number): tf.Tensor3D {
  assertRank("maxPool1d", x, 3);
  const [B, N, D] = x.shape;
  const No = Math.floor((N - k) / s) + 1;
  if (No < 1) throw new Error(`maxPool1d: kernel ${k} on ${N} tokens leaves none`);
  // Same space-to-depth view as im2col: window offset j = s·a + r is a plain slice of phase r. (wasm's
  // MaxPoolGrad gives wrong gradients for a k×1 window, so no tf.maxPool.) Ties: the first window
  // element gets the gradient (tf.maximum's rule).
  const Nq = Math.floor((k - 1) / s) + No;
  return tf.tidy(() => {
    const padEnd = Math.max(0, s * Nq - N);
    let xp: tf.Tensor3D =
      padEnd > 0
        ? x.pad([
            [0, 0],
            [0, padEnd],
            [0, 0],
          ])
        : x;
    if (xp.shape[1] !== s * Nq) xp = xp.slice([0, 0, 0], [B, s * Nq, D]);
    const xr = xp.reshape([B, Nq, s, D]);
    let out: tf.Tensor | null = null;
    for (let j = 0; j < k; j++) {
      const w = xr.slice([0, Math.floor(j / s), j % s, 0], [B, No, 1, D]).reshape([B, No, D]);
      out = out === null ? w : tf.maximum(out, w);
    }
    return out as tf.Tensor3D;
  });
}
