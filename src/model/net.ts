/**
 * The forward pass shared by the HVT model and the supernet: stem (patch embedding, class token,
 * position embedding), stages (pool, then a list of transformer blocks), head. A network is "stem +
 * per-stage block lists + head"; the model's block lists are fixed, the supernet builds them from an
 * architecture on each call. Every tensor op goes through an `Ops` object (the engine's by default)
 * so FLOPs can be traced by counting the calls (see trace.ts).
 *
 * Maths: SPEC §1 (pre-norm layers, LayerNorm eps 1e-6, exact GELU, reuse = previous attention map).
 */
import * as tf from "@tensorflow/tfjs";
import { type StageGeometry, stageGeometry } from "../config/geometry.js";
import type { LayerKind, Pool } from "../config/schema.js";
import * as engine from "../engine/ops.js";
import type { NetDesc } from "./params.js";

/** The engine ops a network calls. */
export type Ops = Pick<
  typeof engine,
  "linear" | "layerNorm" | "gelu" | "selfAttention" | "applyAttention" | "patchify" | "conv2d" | "maxPool1d"
>;

export const engineOps: Ops = engine;

export const LN_EPS = 1e-6;

export interface ForwardOptions {
  /** Replace the engine ops (FLOPs tracing, experiments). Default: src/engine/ops.ts. */
  ops?: Ops;
}

/** A block to run: its parameter prefix (ending in ".") and its kind. */
export interface BlockRef {
  prefix: string;
  kind: LayerKind;
}

/** Looks a parameter up by name; throws on a missing one (a bug, not a user error). */
export type ParamLookup = (name: string) => tf.Tensor;

export function lookupIn(vars: ReadonlyMap<string, tf.Tensor>): ParamLookup {
  return (name) => {
    const v = vars.get(name);
    if (!v) throw new Error(`network: no parameter named ${name}`);
    return v;
  };
}

function shapeText(t: tf.Tensor): string {
  return `[${t.shape.join(", ")}]`;
}

/** Patch embedding → [B, N0(+1), D1] with class token in front and pos_embed added. */
export function stemForward(P: ParamLookup, net: NetDesc, x: tf.Tensor4D, ops: Ops): tf.Tensor3D {
  if (x.rank !== 4)
    throw new Error(`network input: expected NHWC images of rank 4, got shape ${shapeText(x)}`);
  const [B, H, W, C] = x.shape;
  const { size, channels } = net.image;
  if (H !== size || W !== size || C !== channels) {
    throw new Error(
      `network input: expected [B, ${size}, ${size}, ${channels}] (image.size ${size}, ${channels} channel(s)), got ${shapeText(x)}`,
    );
  }
  const patches = ops.patchify(x, net.patchSize); // [B, N0, p·p·C]
  let t = ops.linear(
    patches,
    P("patch_embed.proj.weight") as tf.Tensor2D,
    P("patch_embed.proj.bias") as tf.Tensor1D,
  ) as tf.Tensor3D;
  if (net.classToken) {
    const cls = tf.tile(P("cls_token"), [B, 1, 1]) as tf.Tensor3D;
    t = tf.concat([cls, t], 1);
  }
  return tf.add(t, P("pos_embed"));
}

/** Max over windows of the patch tokens only; the class token (if any) stays in front untouched. */
function maxPoolPatchTokens(
  x: tf.Tensor3D,
  k: number,
  s: number,
  classToken: boolean,
  ops: Ops,
): tf.Tensor3D {
  if (!classToken) return ops.maxPool1d(x, k, s);
  const [B, N, D] = x.shape;
  const cls = tf.slice(x, [0, 0, 0], [B, 1, D]);
  const patches = tf.slice(x, [0, 1, 0], [B, N - 1, D]);
  return tf.concat([cls, ops.maxPool1d(patches, k, s)], 1);
}

/**
 * The pool in front of stage `g.index`: max1d / linear-max1d / conv2d, then the optional new
 * pos_embed. `gridIn` is the previous stage's token grid (conv2d needs it).
 */
export function poolForward(
  P: ParamLookup,
  pool: Pool,
  g: StageGeometry,
  gridIn: [number, number] | null,
  classToken: boolean,
  x: tf.Tensor3D,
  ops: Ops,
): tf.Tensor3D {
  const s = g.index;
  const [B, N, Din] = x.shape;
  let y: tf.Tensor3D;
  switch (pool.type) {
    case "max1d":
      y = maxPoolPatchTokens(x, pool.kernel, pool.stride, classToken, ops);
      break;
    case "linear-max1d": {
      const h = ops.linear(
        x,
        P(`stages.${s}.pool.proj.weight`) as tf.Tensor2D,
        P(`stages.${s}.pool.proj.bias`) as tf.Tensor1D,
      ) as tf.Tensor3D;
      y = maxPoolPatchTokens(h, pool.kernel, pool.stride, classToken, ops);
      break;
    }
    case "conv2d": {
      if (classToken || gridIn === null || gridIn[0] * gridIn[1] !== N) {
        throw new Error(
          `stages[${s}] conv2d pool: needs a token grid without class token; got ${N} tokens, grid ${gridIn ? gridIn.join("×") : "none"}`,
        );
      }
      const [H, W] = gridIn;
      const grid = tf.reshape(x, [B, H, W, Din]) as tf.Tensor4D; // row-major token order
      const out = ops.conv2d(
        grid,
        P(`stages.${s}.pool.proj.weight`) as tf.Tensor2D,
        P(`stages.${s}.pool.proj.bias`) as tf.Tensor1D,
        pool.kernel,
        pool.stride,
        pool.padding,
      );
      const [, Ho, Wo, Dout] = out.shape;
      y = tf.reshape(out, [B, Ho * Wo, Dout]);
      break;
    }
  }
  if (y.shape[1] !== g.seqLen || y.shape[2] !== g.dim) {
    throw new Error(
      `stages[${s}] ${pool.type} pool: expected [B, ${g.seqLen}, ${g.dim}] after pooling, got ${shapeText(y)}`,
    );
  }
  if (pool.posEmbed) y = tf.add(y, P(`stages.${s}.pos_embed`));
  return y;
}

/**
 * One transformer layer (SPEC §1). `attn` computes its attention map; `reuse` applies `prevAttn` (the
 * map of the layer before it) to its own values. Returns the new tokens and the map the next layer
 * may reuse.
 */
export function blockForward(
  P: ParamLookup,
  ref: BlockRef,
  heads: number,
  x: tf.Tensor3D,
  prevAttn: engine.AttentionMap | null,
  ops: Ops,
): { x: tf.Tensor3D; attn: engine.AttentionMap } {
  const p = ref.prefix;
  // residual: the skip connection, added inside the product (residual + t·W + b)
  const lin = (name: string, t: tf.Tensor, residual?: tf.Tensor3D) =>
    ops.linear(t, P(`${p}${name}.weight`) as tf.Tensor2D, P(`${p}${name}.bias`) as tf.Tensor1D, residual);
  const norm = (name: string, t: tf.Tensor) =>
    ops.layerNorm(t, P(`${p}${name}.weight`) as tf.Tensor1D, P(`${p}${name}.bias`) as tf.Tensor1D, LN_EPS);

  const h = norm("norm1", x);
  let mixed: tf.Tensor3D;
  let attn: engine.AttentionMap;
  if (ref.kind === "attn") {
    ({ out: mixed, attn } = ops.selfAttention(lin("attn.qkv", h) as tf.Tensor3D, heads));
  } else {
    if (prevAttn === null) throw new Error(`${p}: a "reuse" layer needs the previous layer's attention map`);
    attn = prevAttn;
    mixed = ops.applyAttention(attn, lin("attn.v", h) as tf.Tensor3D, heads);
  }
  let y = lin("attn.proj", mixed, x) as tf.Tensor3D;
  y = lin("mlp.fc2", ops.gelu(lin("mlp.fc1", norm("norm2", y))), y) as tf.Tensor3D;
  return { x: y, attn };
}

/** LN → class token or mean over tokens → Linear: [B, numClasses]. */
export function headForward(P: ParamLookup, net: NetDesc, x: tf.Tensor3D, ops: Ops): tf.Tensor2D {
  const [B, , D] = x.shape;
  const h = ops.layerNorm(x, P("norm.weight") as tf.Tensor1D, P("norm.bias") as tf.Tensor1D, LN_EPS);
  const pooled = net.classToken ? tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, D]), [B, D]) : tf.mean(h, 1);
  return ops.linear(pooled, P("head.weight") as tf.Tensor2D, P("head.bias") as tf.Tensor1D) as tf.Tensor2D;
}

/** Precomputed per-network facts. */
export interface NetPlan {
  net: NetDesc;
  geometry: StageGeometry[];
}

export function planNet(net: NetDesc): NetPlan {
  return { net, geometry: stageGeometry(net) };
}

/**
 * The whole forward pass: stem, then for every stage its pool and `blocks[s]` in order, then head.
 * Runs inside tf.tidy; returns logits [B, numClasses].
 */
export function forwardNet(
  P: ParamLookup,
  plan: NetPlan,
  blocks: ReadonlyArray<ReadonlyArray<BlockRef>>,
  x: tf.Tensor4D,
  ops: Ops = engineOps,
): tf.Tensor2D {
  const { net, geometry } = plan;
  if (blocks.length !== net.stages.length) {
    throw new Error(`network: ${blocks.length} block lists for ${net.stages.length} stages`);
  }
  return tf.tidy(() => {
    let t = stemForward(P, net, x, ops);
    net.stages.forEach((stage, s) => {
      if (stage.pool) {
        t = poolForward(P, stage.pool, geometry[s], geometry[s - 1].grid, net.classToken, t, ops);
      }
      let attn: engine.AttentionMap | null = null;
      // a scope per block: its intermediates are freed when it ends (tensors a gradient needs are kept
      // by the tape), so a forward pass holds one block's activations at a time, not every block's
      for (const ref of blocks[s]) {
        const prev: engine.AttentionMap | null = attn;
        const input: tf.Tensor3D = t;
        const out: { x: tf.Tensor3D; attn: engine.AttentionMap } = tf.tidy(() =>
          blockForward(P, ref, stage.heads, input, prev, ops),
        );
        ({ x: t, attn } = out);
      }
    });
    return headForward(P, net, t, ops);
  });
}
