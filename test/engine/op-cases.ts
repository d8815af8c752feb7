/**
 * The op cases the engine's ops are checked on: each a fast op (src/engine/ops.ts) and its reference
 * formulation (test/oracles/reference.ts, or stock tfjs), with inputs that reach every code path of the
 * wasm kernels (tile tails, packed operands, K blocks, slice paths). test/engine/ops.test.ts runs them on
 * cpu and every wasm variant, test/engine/webgpu-real.test.ts on the webgpu backend.
 */
import * as tf from "@tensorflow/tfjs";
import * as fast from "../../src/engine/ops.js";
import * as ref from "../oracles/reference.js";
import { type Input, randn } from "./helpers.js";

export type F = (...xs: tf.Tensor[]) => tf.Tensor;
type Impl = Pick<typeof fast, "selfAttention" | "applyAttention">;

export interface Case {
  name: string;
  inputs: Input[];
  fast: F;
  ref: F;
  /** Gradients to compare (default: all inputs). */
  atol?: number;
}

const attnOut =
  (impl: Impl, heads: number): F =>
  (qkv) =>
    impl.selfAttention(qkv as tf.Tensor3D, heads).out;
const attnMap =
  (impl: Impl, heads: number): F =>
  (qkv) =>
    impl.selfAttention(qkv as tf.Tensor3D, heads).attn;
const shared =
  (impl: Impl, heads: number): F =>
  (qkv, v) =>
    impl.applyAttention(impl.selfAttention(qkv as tf.Tensor3D, heads).attn, v as tf.Tensor3D, heads);

/** tf.conv2d with the (kh, kw, cin)-row weight matrix reshaped to [k, k, Cin, Cout]. */
const tfConv =
  (k: number, s: number, p: number): F =>
  (x, w, b) => {
    const C = x.shape[3] as number;
    const filt = w.reshape([k, k, C, w.shape[1] as number]) as tf.Tensor4D;
    const xp = x.pad([
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]) as tf.Tensor4D;
    return tf.conv2d(xp, filt, s, "valid").add(b);
  };

export const cases: Case[] = [
  {
    name: "linear",
    inputs: [randn([2, 5, 7], 1), randn([7, 3], 2), randn([3], 3)],
    fast: (x, w, b) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    ref: (x, w, b) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
  },
  {
    // rows of 19 (4-lane tails) and a wide range of scores; weighted so the gradient is not zero
    name: "softmax (last axis), N=19",
    inputs: [randn([3, 5, 19], 50, 4), randn([3, 5, 19], 51)],
    fast: (x, w) => fast.softmax(x).mul(w),
    ref: (x, w) => ref.softmax(x).mul(w),
  },
  {
    name: "softmax (last axis), N=64",
    inputs: [randn([2, 4, 64], 52, 2), randn([2, 4, 64], 53)],
    fast: (x, w) => fast.softmax(x).mul(w),
    ref: (x, w) => ref.softmax(x).mul(w),
  },
  {
    name: "layerNorm",
    inputs: [randn([2, 5, 8], 4, 3), randn([8], 5), randn([8], 6)],
    fast: (x, g, b) => fast.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    ref: (x, g, b) => ref.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
  },
  {
    name: "gelu",
    inputs: [randn([3, 50], 7, 2)],
    fast: (x) => fast.gelu(x),
    ref: (x) => ref.gelu(x),
  },
  {
    name: "gelu, wide range (|x| up to ≈ 20)",
    inputs: [randn([7, 61], 35, 6)],
    fast: (x) => fast.gelu(x),
    ref: (x) => ref.gelu(x),
  },
  {
    name: "layerNorm, 48 features, odd row count",
    inputs: [randn([3, 7, 48], 36, 2), randn([48], 37), randn([48], 38)],
    fast: (x, g, b) => fast.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
    ref: (x, g, b) => ref.layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-6),
  },
  {
    name: "linear + residual",
    inputs: [randn([2, 5, 7], 54), randn([7, 3], 55), randn([3], 56), randn([2, 5, 3], 57)],
    fast: (x, w, b, r) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D, r),
    ref: (x, w, b, r) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D, r),
  },
  {
    // 40 rows · K = 600 · P = 27: packed operands, two K blocks (the residual joins the last one's
    // store), column and row tails
    name: "linear + residual, long K, packed",
    inputs: [randn([2, 20, 600], 58), randn([600, 27], 59), randn([27], 60), randn([2, 20, 27], 61)],
    fast: (x, w, b, r) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D, r),
    ref: (x, w, b, r) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D, r),
    atol: 3e-4,
  },
  {
    name: "linear, in < out (narrow weight gradient form)",
    inputs: [randn([3, 11, 5], 39), randn([5, 13], 40), randn([13], 41)],
    fast: (x, w, b) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    ref: (x, w, b) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
  },
  {
    // weight gradient with K = 4·150 = 600 rows: two K blocks of the SIMD kernel (512, 88) that
    // accumulate into the output, and 4×8-tile tails in both of its dimensions (in 10, out 13)
    name: "linear, long K (weight gradient over K blocks)",
    inputs: [randn([4, 150, 10], 47), randn([10, 13], 48), randn([13], 49)],
    fast: (x, w, b) => fast.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    ref: (x, w, b) => ref.linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
    atol: 3e-4,
  },
  {
    name: "selfAttention out (N=19, 3 heads, d=6: tile tails)",
    inputs: [randn([2, 19, 3 * 18], 42)],
    fast: attnOut(fast, 3),
    ref: attnOut(ref, 3),
  },
  {
    name: "selfAttention + applyAttention (N=4, 2 heads, d=12)",
    inputs: [randn([3, 4, 3 * 24], 43), randn([3, 4, 24], 44)],
    fast: shared(fast, 2),
    ref: shared(ref, 2),
  },
  {
    // N and d multiples of 8: the inference kernel's packed path (the cases above and below take the other)
    name: "selfAttention out (N=24, 3 heads, d=16: packed operands)",
    inputs: [randn([2, 24, 3 * 48], 90)],
    fast: attnOut(fast, 3),
    ref: attnOut(ref, 3),
  },
  {
    name: "selfAttention + applyAttention (N=16, 2 heads, d=8: packed operands)",
    inputs: [randn([2, 16, 3 * 16], 91), randn([2, 16, 16], 92)],
    fast: shared(fast, 2),
    ref: shared(ref, 2),
  },
  {
    name: "selfAttention out (N=16, 2 heads)",
    inputs: [randn([2, 16, 3 * 8], 8)],
    fast: attnOut(fast, 2),
    ref: attnOut(ref, 2),
  },
  {
    name: "selfAttention map (N=5, 3 heads)",
    inputs: [randn([2, 5, 3 * 12], 9)],
    fast: attnMap(fast, 3),
    ref: attnMap(ref, 3),
  },
  {
    name: "selfAttention + applyAttention (reuse)",
    inputs: [randn([2, 16, 3 * 8], 10), randn([2, 16, 8], 11)],
    fast: shared(fast, 2),
    ref: shared(ref, 2),
  },
  {
    name: "patchify",
    inputs: [randn([2, 8, 8, 3], 12)],
    fast: (x) => fast.patchify(x as tf.Tensor4D, 4),
    ref: (x) => ref.patchify(x as tf.Tensor4D, 4),
  },
  {
    name: "im2col k3 s2 p1",
    inputs: [randn([2, 8, 8, 3], 13)],
    fast: (x) => fast.im2col(x as tf.Tensor4D, 3, 2, 1),
    ref: (x) => ref.im2col(x as tf.Tensor4D, 3, 2, 1),
  },
  {
    name: "im2col k3 s2 p1 odd grid",
    inputs: [randn([1, 7, 5, 2], 14)],
    fast: (x) => fast.im2col(x as tf.Tensor4D, 3, 2, 1),
    ref: (x) => ref.im2col(x as tf.Tensor4D, 3, 2, 1),
  },
  {
    name: "im2col k3 s2 p1 large grid (slice path)",
    inputs: [randn([1, 17, 16, 2], 29)],
    fast: (x) => fast.im2col(x as tf.Tensor4D, 3, 2, 1),
    ref: (x) => ref.im2col(x as tf.Tensor4D, 3, 2, 1),
  },
  {
    name: "conv2d k3 s2 p1 large grid (slice path) = tf.conv2d",
    inputs: [randn([1, 16, 17, 2], 32), randn([3 * 3 * 2, 3], 33, 0.3), randn([3], 34)],
    fast: (x, w, b) => fast.conv2d(x as tf.Tensor4D, w as tf.Tensor2D, b as tf.Tensor1D, 3, 2, 1),
    ref: tfConv(3, 2, 1),
    atol: 1e-5,
  },
  {
    name: "im2col k2 s1 p0",
    inputs: [randn([1, 4, 4, 2], 15)],
    fast: (x) => fast.im2col(x as tf.Tensor4D, 2, 1, 0),
    ref: (x) => ref.im2col(x as tf.Tensor4D, 2, 1, 0),
  },
  {
    name: "conv2d k3 s2 p1 = tf.conv2d",
    inputs: [randn([2, 8, 8, 4], 16), randn([3 * 3 * 4, 6], 17, 0.3), randn([6], 18)],
    fast: (x, w, b) => fast.conv2d(x as tf.Tensor4D, w as tf.Tensor2D, b as tf.Tensor1D, 3, 2, 1),
    ref: tfConv(3, 2, 1),
    atol: 1e-5,
  },
  {
    name: "conv2d k3 s2 p1 odd grid = tf.conv2d",
    inputs: [randn([1, 5, 7, 3], 19), randn([3 * 3 * 3, 4], 20, 0.3), randn([4], 21)],
    fast: (x, w, b) => fast.conv2d(x as tf.Tensor4D, w as tf.Tensor2D, b as tf.Tensor1D, 3, 2, 1),
    ref: tfConv(3, 2, 1),
    atol: 1e-5,
  },
  {
    name: "conv2d k2 s2 p0 = tf.conv2d",
    inputs: [randn([2, 4, 4, 3], 22), randn([2 * 2 * 3, 5], 23, 0.3), randn([5], 24)],
    fast: (x, w, b) => fast.conv2d(x as tf.Tensor4D, w as tf.Tensor2D, b as tf.Tensor1D, 2, 2, 0),
    ref: tfConv(2, 2, 0),
    atol: 1e-5,
  },
  {
    name: "maxPool1d k3 s2",
    inputs: [randn([2, 15, 4], 25)],
    fast: (x) => fast.maxPool1d(x as tf.Tensor3D, 3, 2),
    ref: (x) => ref.maxPool1d(x as tf.Tensor3D, 3, 2),
  },
  {
    name: "maxPool1d k3 s2, no padding needed",
    inputs: [randn([2, 16, 3], 26)],
    fast: (x) => fast.maxPool1d(x as tf.Tensor3D, 3, 2),
    ref: (x) => ref.maxPool1d(x as tf.Tensor3D, 3, 2),
  },
  {
    name: "maxPool1d k2 s2, tail cropped",
    inputs: [randn([2, 5, 3], 27)],
    fast: (x) => fast.maxPool1d(x as tf.Tensor3D, 2, 2),
    ref: (x) => ref.maxPool1d(x as tf.Tensor3D, 2, 2),
  },
  {
    name: "maxPool1d k4 s1",
    inputs: [randn([1, 9, 2], 28)],
    fast: (x) => fast.maxPool1d(x as tf.Tensor3D, 4, 1),
    ref: (x) => ref.maxPool1d(x as tf.Tensor3D, 4, 1),
  },
];
