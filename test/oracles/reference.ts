/**
 * The reference formulation of src/engine/ops.ts: the plain, obviously-correct tfjs composition of every
 * op (stock autodiff, batched matMuls, moments, stock softmax). Tests compare the fast ops against these
 * in value and gradient. Strided window selection uses tf.gather (not tf.stridedSlice, which has no
 * gradient in tfjs), so gradients of im2col / conv2d / maxPool1d exist here on the cpu backend (the wasm
 * backend has no UnsortedSegmentSum, the gather gradient: compare values only there).
 * Same signatures and layouts as ops.ts.
 */
import * as tf from "@tensorflow/tfjs";

/** Indices start, start + step, … (count of them) along `axis`: a differentiable strided slice. */
function takeStrided(x: tf.Tensor, axis: number, start: number, step: number, count: number): tf.Tensor {
  const idx = tf.tensor1d(
    Array.from({ length: count }, (_, i) => start + i * step),
    "int32",
  );
  return tf.gather(x, idx, axis);
}

function assertRank(op: string, x: tf.Tensor, rank: number, what = "x"): void {
  if (x.rank !== rank) {
    throw new Error(`${op}: expected ${what} of rank ${rank}, got shape [${x.shape.join(", ")}]`);
  }
}

/** x [..., in] · w [in, out] (+ b [out]) → [..., out], issued as one 2D matMul. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D, residual?: tf.Tensor): tf.Tensor {
  const [inDim, outDim] = w.shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(
      `linear: x has ${x.shape[x.rank - 1]} features (shape [${x.shape}]), weight expects ${inDim}`,
    );
  }
  return tf.tidy(() => {
    const rows = x.size / inDim;
    let y: tf.Tensor = tf.matMul(x.reshape([rows, inDim]), w);
    if (b) y = y.add(b);
    y = y.reshape([...lead, outDim]);
    return residual ? tf.add(residual, y) : y;
  });
}

/** LayerNorm over the last axis with scale and shift. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-6): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(eps)))
      .mul(gamma)
      .add(beta);
  });
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
/** Softmax over the last axis (stock). */
export function softmax(x: tf.Tensor): tf.Tensor {
  return tf.softmax(x);
}

export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)));
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
  return tf.tidy(() => {
    const parts = qkv.reshape([B, N, 3, heads, d]).transpose([2, 0, 3, 1, 4]); // [3, B, h, N, d]
    const [q, k, v] = tf.unstack(parts, 0) as tf.Tensor4D[];
    const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(d)); // [B, h, N, N]
    const attn = tf.softmax(scores) as tf.Tensor4D;
    const out = tf.matMul(attn, v).transpose([0, 2, 1, 3]).reshape([B, N, D]) as tf.Tensor3D;
    return { out, attn };
  });
}

/** A `reuse` layer's attention: the given probabilities applied to v [B, N, D] → [B, N, D]. */
export function applyAttention(attn: AttentionMap, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [B, N, D] = v.shape;
  const d = D / heads;
  const [Ba, h, Na] = attn.shape;
  if (Ba !== B || h !== heads || Na !== N) {
    throw new Error(
      `applyAttention: attention map [${attn.shape}] does not fit v [${v.shape}] with ${heads} heads`,
    );
  }
  return tf.tidy(() => {
    const vh = v.reshape([B, N, heads, d]).transpose([0, 2, 1, 3]); // [B, h, N, d]
    return tf.matMul(attn, vh).transpose([0, 2, 1, 3]).reshape([B, N, D]) as tf.Tensor3D;
  });
}

/** Non-overlapping p×p patches of NHWC images, flattened in (kh, kw, c) order: [B, (H/p)·(W/p), p·p·C]. */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor3D {
  assertRank("patchify", x, 4);
  const [B, H, W, C] = x.shape;
  if (H % p !== 0 || W % p !== 0) throw new Error(`patchify: image ${H}×${W} is not divisible by patch ${p}`);
  return tf.tidy(
    () =>
      x
        .reshape([B, H / p, p, W / p, p, C])
        .transpose([0, 1, 3, 2, 4, 5])
        .reshape([B, (H / p) * (W / p), p * p * C]) as tf.Tensor3D,
  );
}

/**
 * im2col: every k×k window (stride s, zero padding p) of NHWC x as a row in (kh, kw, c) order:
 * [B, Ho, Wo, k·k·C].
 */
export function im2col(x: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  assertRank("im2col", x, 4);
  const [, H, W] = x.shape;
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  return tf.tidy(() => {
    const xp =
      p > 0
        ? x.pad([
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ])
        : x;
    const cols: tf.Tensor4D[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        cols.push(takeStrided(takeStrided(xp, 1, i, s, Ho), 2, j, s, Wo) as tf.Tensor4D);
      }
    }
    return tf.concat(cols, 3);
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
  const N = x.shape[1];
  const No = Math.floor((N - k) / s) + 1;
  if (No < 1) throw new Error(`maxPool1d: kernel ${k} on ${N} tokens leaves none`);
  return tf.tidy(() => {
    let out: tf.Tensor3D | null = null;
    for (let j = 0; j < k; j++) {
      const sl = takeStrided(x, 1, j, s, No) as tf.Tensor3D;
      out = out === null ? sl : (tf.maximum(out, sl) as tf.Tensor3D);
    }
    return out!;
  });
}
