/**
 * Counting the multiply-accumulates a forward pass really runs, by handing the network an `Ops`
 * object that wraps the engine's ops and adds up each call's MACs from the actual tensor shapes.
 * The convention is SPEC §2's (fvcore): Linear / conv / patch embedding and the two attention
 * products count; LayerNorm, softmax, GELU, additions and max pooling do not.
 */
import type * as tf from "@tensorflow/tfjs";
import { engineOps, type Ops } from "../../src/model/net.js";

export interface FlopsTrace {
  /** Total MACs of everything run through the ops. */
  macs: number;
  /** MACs by op name. */
  byOp: Record<string, number>;
  /** Number of calls by op name. */
  calls: Record<string, number>;
}

/** An Ops object that counts into `trace` and then calls `base`. */
export function countingOps(trace: FlopsTrace, base: Ops = engineOps): Ops {
  const add = (op: string, macs: number) => {
    trace.macs += macs;
    trace.byOp[op] = (trace.byOp[op] ?? 0) + macs;
    trace.calls[op] = (trace.calls[op] ?? 0) + 1;
  };
  return {
    // [rows, in] · [in, out]
    linear: (x, w, b, residual) => {
      add("linear", (x.size / w.shape[0]) * w.shape[0] * w.shape[1]);
      return base.linear(x, w, b, residual);
    },
    // one output pixel = a (k·k·Cin)-long dot product per output channel
    conv2d: (x, w, b, k, s, p) => {
      const y = base.conv2d(x, w, b, k, s, p);
      add("conv2d", y.size * w.shape[0]);
      return y;
    },
    // q·kᵀ and A·v: 2·B·N²·D
    selfAttention: (qkv, heads) => {
      const [B, N, D3] = qkv.shape;
      add("selfAttention", 2 * B * N * N * (D3 / 3));
      return base.selfAttention(qkv, heads);
    },
    // A·v: B·N²·D
    applyAttention: (attn, v, heads) => {
      const [B, N, D] = v.shape;
      add("applyAttention", B * N * N * D);
      return base.applyAttention(attn, v, heads);
    },
    layerNorm: (x, g, b, eps) => {
      add("layerNorm", 0);
      return base.layerNorm(x, g, b, eps);
    },
    gelu: (x) => {
      add("gelu", 0);
      return base.gelu(x);
    },
    patchify: (x, p) => {
      add("patchify", 0);
      return base.patchify(x, p);
    },
    maxPool1d: (x, k, s) => {
      add("maxPool1d", 0);
      return base.maxPool1d(x, k, s);
    },
  };
}

/**
 * Run `fn` with counting ops and return what it returned plus the trace. Example:
 * `traceFlops((ops) => model.forward(x, { ops }))` — divide `macs` by the batch size for per-image MACs.
 */
export function traceFlops<T>(fn: (ops: Ops) => T, base: Ops = engineOps): { result: T; trace: FlopsTrace } {
  const trace: FlopsTrace = { macs: 0, byOp: {}, calls: {} };
  const result = fn(countingOps(trace, base));
  return { result, trace };
}

/** Convenience: per-image MACs of one forward pass of `forward` on a batch `x`. */
export function tracedMacsPerImage(forward: (x: tf.Tensor4D, ops: Ops) => tf.Tensor, x: tf.Tensor4D): number {
  const { result, trace } = traceFlops((ops) => forward(x, ops));
  result.dispose();
  return trace.macs / x.shape[0];
}
