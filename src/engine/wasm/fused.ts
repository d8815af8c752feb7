/**
 * psvit's fused kernels on wasm, which the ops of ops.ts / bmm.ts / adamw.ts call through
 * `tf.engine().runKernel` (`runFused`). Each runs on the SIMD module where it loaded, else on its
 * JavaScript fallback (fallback.ts), except `PsvitBmm` and `PsvitAttention`, whose callers check that
 * the module is there.
 *
 * - `PsvitBmm`: batched product op(a)·op(b) (+ bias) (+ residual) with 4×8 register tiles (attention
 *   products, and all of `linear`'s products, where it beats XNNPACK's per-call weight packing); on the
 *   threaded build split over helper threads (simd/helpers.ts);
 * - `PsvitAttention` (inference): a layer's whole attention in one kernel;
 * - `PsvitGelu` (inference) and `PsvitGeluTrain` → [y, Φ(x) + x·φ(x)] (backward is one multiply); Φ
 *   from erf by Abramowitz–Stegun 7.1.26 (|error| < 1e-7) in SIMD, from erfc with relative error
 *   < 1.2e-7 in the JavaScript fallback;
 * - `PsvitLayerNorm` → [y, mean − x₀, rstd] (x₀ a row's first element: sums over x − x₀ keep a large
 *   mean's precision) and `PsvitLayerNormGrad` → [dx, dγ, dβ];
 * - `PsvitAdamW`: one decoupled-decay Adam update of one variable → [p, m, v];
 * - `PsvitSoftmax` / `PsvitSoftmaxGrad`: softmax over the last axis and its gradient;
 * - `PsvitIm2col` / `PsvitCol2im`: conv2d pooling's windows as rows, and their gradient;
 * - `PsvitHeadsSplit` / `PsvitHeadsMerge`: attention's qkv → per-head q (scaled), k, v and back (each
 *   the other's gradient, registered with tf.registerGradient).
 */
import * as tf from "@tensorflow/tfjs";
import { type BmmArgs, PACK_A_FLOATS } from "../simd/helpers.js";
import {
  adamwJs,
  geluJs,
  geluWithDerivJs,
  headsJs,
  im2colJs,
  layerNormGradJs,
  layerNormJs,
  softmaxGradJs,
  softmaxJs,
} from "./fallback.js";
import { engineFlags } from "./flags.js";
import {
  BACKEND,
  bmmHelpers,
  f32,
  type HeadsGeometry,
  type Im2colGeometry,
  type KernelArgs,
  type KernelFn,
  ptr,
  type Simd,
  scratch,
  simd,
  size,
  type WasmBackend,
} from "./module.js";

/** Run one of the fused kernels (the caller checked `wasmFastKernels()`). */
export function runFused(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
) {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
}

// ---------------------------------------------------------------- GELU

function geluKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) sm.gelu(ptr(b, x), ptr(b, out), size(x.shape));
  else geluJs(f32(b, x), f32(b, out));
  return out;
}

/** GELU for training: [y, d] with d = Φ(x) + x·φ(x), so that backward is one multiply dy·d. */
function geluTrainKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const y = b.makeOutput(x.shape.slice(), "float32");
  const d = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) sm.gelu_with_deriv(ptr(b, x), ptr(b, y), ptr(b, d), size(x.shape));
  else geluWithDerivJs(f32(b, x), f32(b, y), f32(b, d));
  return [y, d];
}

// ---------------------------------------------------------------- softmax

/** Softmax over the last axis (attention probabilities): one pass per row instead of 5 kernels. */
function softmaxKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const N = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / N;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) sm.softmax(ptr(b, x), ptr(b, out), rows, N);
  else softmaxJs(f32(b, x), f32(b, out), rows, N);
  return out;
}

/** Softmax's gradient: dx = y·(dy − Σ dy·y) per row (one kernel instead of 4). */
function softmaxGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, y } = args.inputs;
  const b = args.backend as WasmBackend;
  const N = y.shape[y.shape.length - 1];
  const rows = size(y.shape) / N;
  const out = b.makeOutput(y.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) sm.softmax_grad(ptr(b, dy), ptr(b, y), ptr(b, out), rows, N);
  else softmaxGradJs(f32(b, dy), f32(b, y), f32(b, out), rows, N);
  return out;
}

// ---------------------------------------------------------------- attention's head layout

/**
 * `PsvitHeadsSplit`: x [B, N, T·h·d] → T tensors [B·h, N, d] (attrs T ≤ 3, heads, scale: group 0 is
 * multiplied by it — q by 1/√d). Its gradient is `PsvitHeadsMerge` and vice versa.
 */
function headsSplitKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x;
  const { T, heads, scale } = args.attrs as { T: number; heads: number; scale: number };
  const [B, N, W] = x.shape;
  const d = W / (T * heads);
  const be = args.backend as WasmBackend;
  const outs = Array.from({ length: T }, () => be.makeOutput([B * heads, N, d], "float32"));
  const g: HeadsGeometry = [B, N, T, heads, d, scale];
  const sm = simd(be);
  if (sm) {
    const p = outs.map((o) => ptr(be, o));
    sm.heads_split(ptr(be, x), p[0], p[1] ?? p[0], p[2] ?? p[0], ...g);
  } else {
    headsJs(
      f32(be, x),
      outs.map((o) => f32(be, o)),
      g,
      false,
    );
  }
  return outs;
}

/** `PsvitHeadsMerge`: T tensors [B·h, N, d] (inputs x0, x1, x2) → [B, N, T·h·d] (attrs T, heads, scale). */
function headsMergeKernel(args: KernelArgs): tf.TensorInfo {
  const { T, heads, scale } = args.attrs as { T: number; heads: number; scale: number };
  const ins = Array.from({ length: T }, (_, t) => args.inputs[`x${t}`]);
  const [G, N, d] = ins[0].shape;
  const B = G / heads;
  const be = args.backend as WasmBackend;
  const out = be.makeOutput([B, N, T * heads * d], "float32");
  const g: HeadsGeometry = [B, N, T, heads, d, scale];
  const sm = simd(be);
  if (sm) {
    const p = ins.map((i) => ptr(be, i));
    sm.heads_merge(p[0], p[1] ?? p[0], p[2] ?? p[0], ptr(be, out), ...g);
  } else {
    headsJs(
      f32(be, out),
      ins.map((i) => f32(be, i)),
      g,
      true,
    );
  }
  return out;
}

let headsGradsRegistered = false;

/** The two layout kernels are each other's gradient (registered once, backend-independent names). */
function registerHeadsGradients(): void {
  if (headsGradsRegistered) return;
  headsGradsRegistered = true;
  tf.registerGradient({
    kernelName: "PsvitHeadsSplit",
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dys = Array.isArray(dy) ? dy : [dy]; // one output (T = 1): a single tensor
      const inputs = Object.fromEntries(dys.map((t, i) => [`x${i}`, t]));
      return { x: () => runFused("PsvitHeadsMerge", inputs, attrs) as tf.Tensor };
    },
  });
  tf.registerGradient({
    kernelName: "PsvitHeadsMerge",
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const out = runFused("PsvitHeadsSplit", { x: dy as tf.Tensor }, attrs) as tf.Tensor | tf.Tensor[];
      const parts = Array.isArray(out) ? out : [out];
      return Object.fromEntries(parts.map((p, i) => [`x${i}`, () => p]));
    },
  });
}

// ---------------------------------------------------------------- im2col

function im2colGeometry(
  B: number,
  H: number,
  W: number,
  C: number,
  attrs: Record<string, unknown> | undefined,
): Im2colGeometry {
  const { k, s, p } = attrs as { k: number; s: number; p: number };
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  return [B, H, W, C, k, s, p, Ho, Wo];
}

/** NHWC x [B, H, W, C] → [B, Ho, Wo, k·k·C], windows in (kh, kw, c) order, zero padding. */
function im2colKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const be = args.backend as WasmBackend;
  const [B, H, W, C] = x.shape;
  const g = im2colGeometry(B, H, W, C, args.attrs);
  const [, , , , k, , , Ho, Wo] = g;
  const out = be.makeOutput([B, Ho, Wo, k * k * C], "float32");
  const sm = simd(be);
  if (sm) sm.im2col(ptr(be, x), ptr(be, out), ...g);
  else im2colJs(f32(be, x), f32(be, out), g, false);
  return out;
}

/** im2col's gradient: dcol [B, Ho, Wo, k·k·C] summed back to [B, H, W, C] (attrs H, W: the input's). */
function col2imKernel(args: KernelArgs): tf.TensorInfo {
  const dcol = args.inputs.dy;
  const be = args.backend as WasmBackend;
  const { H, W } = args.attrs as { H: number; W: number };
  const [B, , , kkc] = dcol.shape;
  const { k } = args.attrs as { k: number };
  const g = im2colGeometry(B, H, W, kkc / (k * k), args.attrs);
  const out = be.makeOutput([B, H, W, g[3]], "float32");
  const sm = simd(be);
  if (sm) sm.col2im(ptr(be, dcol), ptr(be, out), ...g);
  else im2colJs(f32(be, dcol), f32(be, out), g, true);
  return out;
}

// ---------------------------------------------------------------- LayerNorm

function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs;
  const eps = (args.attrs as { eps: number }).eps;
  const b = args.backend as WasmBackend;
  const D = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / D;
  const y = b.makeOutput(x.shape.slice(), "float32");
  const mean = b.makeOutput([rows], "float32");
  const rstd = b.makeOutput([rows], "float32");
  const sm = simd(b);
  if (sm) {
    const P = (t: tf.TensorInfo) => ptr(b, t);
    sm.layer_norm(P(x), P(gamma), P(beta), P(y), P(mean), P(rstd), rows, D, eps);
  } else {
    const v = (t: tf.TensorInfo) => f32(b, t);
    layerNormJs(v(x), v(gamma), v(beta), v(y), v(mean), v(rstd), rows, D, eps);
  }
  return [y, mean, rstd];
}

function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, rstd } = args.inputs;
  const b = args.backend as WasmBackend;
  const D = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / D;
  const dx = b.makeOutput(x.shape.slice(), "float32");
  const dg = b.makeOutput([D], "float32");
  const db = b.makeOutput([D], "float32");
  const sm = simd(b);
  if (sm) {
    const P = (t: tf.TensorInfo) => ptr(b, t);
    sm.layer_norm_grad(P(dy), P(x), P(gamma), P(mean), P(rstd), P(dx), P(dg), P(db), rows, D);
  } else {
    const v = (t: tf.TensorInfo) => f32(b, t);
    layerNormGradJs(v(dy), v(x), v(gamma), v(mean), v(rstd), v(dx), v(dg), v(db), rows, D);
  }
  return [dx, dg, db];
}

// ---------------------------------------------------------------- AdamW

interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  decay: number;
}

function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const { p, g, m, v } = args.inputs;
  const { lr, beta1, beta2, eps, bc1, bc2, decay } = args.attrs as unknown as AdamWAttrs;
  const b = args.backend as WasmBackend;
  const po = b.makeOutput(p.shape.slice(), "float32");
  const mo = b.makeOutput(p.shape.slice(), "float32");
  const vo = b.makeOutput(p.shape.slice(), "float32");
  const keep = 1 - decay;
  const step = lr / bc1;
  const isb2 = 1 / Math.sqrt(bc2);
  const sm = simd(b);
  if (sm) {
    const P = (t: tf.TensorInfo) => ptr(b, t);
    const n = size(p.shape);
    sm.adamw(P(p), P(g), P(m), P(v), P(po), P(mo), P(vo), n, keep, beta1, beta2, step, isb2, eps);
  } else {
    const V = (t: tf.TensorInfo) => f32(b, t);
    adamwJs(V(p), V(g), V(m), V(v), V(po), V(mo), V(vo), keep, beta1, beta2, step, isb2, eps);
  }
  return [po, mo, vo];
}

// ---------------------------------------------------------------- batched product

/**
 * Pack B's 8-column panels (kernels.c `pack_b`) and A's row blocks before the product when the copies
 * repay: M ≥ 32 rows use each panel, and P ≥ 48 columns (6 panels or more) reuse each packed row block;
 * with fewer columns packing loses (docs/ENGINE.md, "Round 4").
 */
const PACK_MIN_M = 32;
const PACK_MIN_P = 48;

/**
 * `PsvitBmm`: op(a)·op(b) for a [G, M, K] (or [G, K, M] with ta), b [G, K, P] (or [G, P, K] with tb) →
 * [G, M, P] (rank-2 operands: one product, → [M, P]), on the SIMD module's 4×8-tiled loop. Optional
 * inputs: `bias` [P] (broadcast over rows, loaded where the accumulators start: `linear`'s bias add costs
 * no pass of its own) and `res` (a residual of the output's size, added as the last K block is stored).
 * A transposed `a` is read with strides; products with M ≥ 32 and P ≥ 48 get b's 8-column panels
 * packed first (from a transposed b directly) and a's row blocks packed per thread; otherwise a
 * transposed `b` is first turned into [G, K, P] (one swap, G·K·P copies against G·M·K·P multiply-adds).
 */
function bmmKernel(args: KernelArgs): tf.TensorInfo {
  const { a, b: bIn, bias, res } = args.inputs;
  const { ta, tb } = args.attrs as { ta: boolean; tb: boolean };
  const be = args.backend as WasmBackend;
  const sm = simd(be) as Simd; // callers check wasmBmmAvailable() first
  const helpers = bmmHelpers();
  // rank 3 [G, ·, ·], or rank 2 (one matrix, G = 1)
  const r2 = a.shape.length === 2;
  const [G, a1, a2] = r2 ? [1, a.shape[0], a.shape[1]] : a.shape;
  const [b1, b2] = r2 ? bIn.shape : bIn.shape.slice(1);
  const M = ta ? a2 : a1;
  const K = ta ? a1 : a2;
  const P = tb ? b1 : b2;
  const out = be.makeOutput(r2 ? [M, P] : [G, M, P], "float32");
  if (G * M * P === 0) return out;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== P)) {
    throw new Error(`PsvitBmm: expected a bias of shape [${P}], got [${bias.shape.join(", ")}]`);
  }
  if (res && size(res.shape) !== G * M * P) {
    throw new Error(`PsvitBmm: expected a residual of ${G * M * P} elements, got [${res.shape.join(", ")}]`);
  }
  const P8 = P & ~7;
  const pack = engineFlags.packB && M >= PACK_MIN_M && P >= PACK_MIN_P;
  const packA = engineFlags.packA;
  // a transposed b: packed straight from [G, P, K] when it has no column tail, else swapped to [G, K, P]
  const swapped = tb && !(pack && P8 === P) ? be.makeOutput([G, K, P], "float32") : null;
  if (swapped) sm.swap_axes(ptr(be, bIn), ptr(be, swapped), G, P, K, 1);
  let bt: tf.TensorInfo | null = swapped ?? bIn;
  // packed operands in the kernels' scratch: with packed A, each thread's block of MC·KB floats for A's
  // row blocks, then B's panels
  let bp = 0;
  let aq = 0;
  if (pack) {
    const aFloats = packA ? (helpers ? helpers.threads : 1) * PACK_A_FLOATS : 0;
    const base = scratch(be, aFloats + G * K * P8);
    if (packA) aq = base;
    bp = base + 4 * aFloats;
    const fromT = tb && !swapped; // packed straight from [G, P, K]
    sm.pack_b(ptr(be, bt as tf.TensorInfo), bp, G, K, P, fromT ? 1 : 0);
    if (fromT) bt = null; // every column is in the packed panels (P8 = P)
  }
  const call: BmmArgs = [
    ptr(be, a),
    bt ? ptr(be, bt) : 0,
    ptr(be, out),
    G,
    M,
    K,
    P,
    ta ? 1 : K,
    ta ? M : 1,
    bias ? ptr(be, bias) : 0,
    bias ? 1 : 0,
    bp,
    aq,
    res ? 1 : 0,
    res ? (ptr(be, res) - ptr(be, out)) / 4 : 0,
  ];
  if (helpers && engineFlags.bmmThreads) helpers.run(sm.bmm, call);
  else sm.bmm(...call);
  if (swapped) be.disposeData(swapped.dataId);
  return out;
}

// ---------------------------------------------------------------- fused attention (inference)

/**
 * `PsvitAttention` (inference only: no gradient): inputs { x: qkv [B, N, 3·D] } → [out [B, N, D],
 * probs [B, h, N, N]] (softmax(q·kᵀ/√d), then ·v), or { x: v [B, N, D], probs } → out (a reuse layer).
 * attrs: heads. One kernel per layer (kernels.c `attention`): q, k, v read in place, heads merged on the
 * way out; the SIMD module only (callers check wasmAttentionAvailable()).
 */
function attentionKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x, probs: given } = args.inputs;
  const { heads } = args.attrs as { heads: number };
  const be = args.backend as WasmBackend;
  const sm = simd(be) as Simd;
  const compute = !given;
  const [B, N, W] = x.shape;
  const D = compute ? W / 3 : W;
  const d = D / heads;
  if (!Number.isInteger(d)) {
    throw new Error(`PsvitAttention: width ${W} does not split into ${compute ? "3 × " : ""}${heads} heads`);
  }
  if (given && (given.shape.length !== 4 || given.shape.join() !== [B, heads, N, N].join())) {
    throw new Error(`PsvitAttention: expected probs [${[B, heads, N, N]}], got [${given.shape}]`);
  }
  const out = be.makeOutput([B, N, D], "float32");
  const probs = given ?? be.makeOutput([B, heads, N, N], "float32");
  sm.attention(
    ptr(be, x),
    ptr(be, probs),
    ptr(be, out),
    scratch(be, 3 * N * d + N * N), // kernels.c attention: the packed path needs the N·N too
    B,
    N,
    heads,
    d,
    1 / Math.sqrt(d),
    compute ? 1 : 0,
  );
  return compute ? [out, probs] : out;
}

// ---------------------------------------------------------------- registration

/** psvit's own kernels on wasm: name → kernel function. */
const FUSED_KERNELS: [string, KernelFn][] = [
  ["PsvitGeluTrain", geluTrainKernel],
  ["PsvitGelu", geluKernel],
  ["PsvitLayerNorm", layerNormKernel],
  ["PsvitLayerNormGrad", layerNormGradKernel],
  ["PsvitAdamW", adamwKernel],
  ["PsvitSoftmax", softmaxKernel],
  ["PsvitIm2col", im2colKernel],
  ["PsvitHeadsSplit", headsSplitKernel],
  ["PsvitHeadsMerge", headsMergeKernel],
  ["PsvitCol2im", col2imKernel],
  ["PsvitSoftmaxGrad", softmaxGradKernel],
  ["PsvitBmm", bmmKernel],
  ["PsvitAttention", attentionKernel],
];

/** Register the fused kernels on wasm (those not registered yet) and the layout kernels' gradients. */
export function registerFusedKernels(): void {
  for (const [kernelName, f] of FUSED_KERNELS) {
    if (tf.getKernel(kernelName, BACKEND)) continue;
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: f as unknown as tf.KernelFunc });
  }
  registerHeadsGradients();
}
