/**
 * Parameter specifications: the one list of every learnable tensor of a model or supernet, with its
 * stable name, its internal shape and layout, and how it is initialised. Models create their variables
 * from these lists; the weights files (src/weights) validate names and shapes and convert layouts from
 * the same lists, so the three can never disagree.
 *
 * Internal layouts (src/engine/ops.ts): Linear weight [in, out]; Conv weight as a matrix
 * [k·k·Cin, Cout] with rows in (kh, kw, cin) order; the patch embedding is such a conv with k = p.
 *
 * Initialisation after timm's ViT: truncated normal (std 0.02, cut at ±2 std) for Linear / conv /
 * patch weights, position embeddings and the class token; zeros for biases; LayerNorm scale 1 and
 * shift 0. Values are drawn from the seeded Rng in spec order into Float32Arrays, so the same seed
 * gives bit-identical weights on every backend.
 */
import * as tf from "@tensorflow/tfjs";
import { type StageGeometry, stageGeometry } from "../config/geometry.js";
import type { LayerKind, Pool } from "../config/schema.js";
import { Rng } from "../util/rng.js";

/** How an internal tensor maps to its PyTorch layout in a weights file. */
export type Layout =
  | { kind: "plain" }
  /** internal [in, out] ↔ PyTorch [out, in] */
  | { kind: "linear" }
  /** internal [k·k·cin, cout] rows (kh, kw, cin) ↔ PyTorch [cout, cin, k, k] */
  | { kind: "conv"; k: number; cin: number };

export type Init = "trunc" | "zeros" | "ones";

export interface ParamSpec {
  name: string;
  /** Internal shape. */
  shape: number[];
  init: Init;
  layout: Layout;
}

/** What the stem, pools and head need to know: a ModelConfig and a SpaceConfig both fit. */
export interface NetDesc {
  image: { size: number; channels: number };
  patchSize: number;
  numClasses: number;
  mlpRatio: number;
  classToken: boolean;
  stages: ReadonlyArray<{ pool?: Pool; dim: number; heads: number }>;
}

export const INIT_STD = 0.02;
const PLAIN: Layout = { kind: "plain" };
const LINEAR: Layout = { kind: "linear" };

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function linearSpecs(prefix: string, inDim: number, outDim: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [inDim, outDim], init: "trunc", layout: LINEAR },
    { name: `${prefix}.bias`, shape: [outDim], init: "zeros", layout: PLAIN },
  ];
}

function convSpecs(prefix: string, k: number, cin: number, cout: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [k * k * cin, cout], init: "trunc", layout: { kind: "conv", k, cin } },
    { name: `${prefix}.bias`, shape: [cout], init: "zeros", layout: PLAIN },
  ];
}

function normSpecs(prefix: string, dim: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [dim], init: "ones", layout: PLAIN },
    { name: `${prefix}.bias`, shape: [dim], init: "zeros", layout: PLAIN },
  ];
}

/**
 * One transformer layer under `prefix` (ending in "."): norm1, attn.qkv (attn) or attn.v (reuse),
 * attn.proj, norm2, mlp.fc1, mlp.fc2 — the SPEC §4 names relative to a block.
 */
export function blockSpecs(prefix: string, kind: LayerKind, dim: number, mlpRatio: number): ParamSpec[] {
  const hidden = Math.round(mlpRatio * dim);
  return [
    ...normSpecs(`${prefix}norm1`, dim),
    ...(kind === "attn"
      ? linearSpecs(`${prefix}attn.qkv`, dim, 3 * dim)
      : linearSpecs(`${prefix}attn.v`, dim, dim)),
    ...linearSpecs(`${prefix}attn.proj`, dim, dim),
    ...normSpecs(`${prefix}norm2`, dim),
    ...linearSpecs(`${prefix}mlp.fc1`, dim, hidden),
    ...linearSpecs(`${prefix}mlp.fc2`, hidden, dim),
  ];
}

/** Patch embedding, class token, first position embedding. */
export function stemSpecs(net: NetDesc, geometry: readonly StageGeometry[]): ParamSpec[] {
  const D = net.stages[0].dim;
  const cls = net.classToken ? 1 : 0;
  return [
    ...convSpecs("patch_embed.proj", net.patchSize, net.image.channels, D),
    ...(net.classToken
      ? [{ name: "cls_token", shape: [1, 1, D], init: "trunc" as const, layout: PLAIN }]
      : []),
    { name: "pos_embed", shape: [1, geometry[0].tokensIn + cls, D], init: "trunc", layout: PLAIN },
  ];
}

/** The pool in front of stage `g.index` (its Linear or Conv, and its new position embedding). */
export function poolSpecs(pool: Pool, g: StageGeometry): ParamSpec[] {
  const s = g.index;
  const specs: ParamSpec[] = [];
  if (pool.type === "linear-max1d") specs.push(...linearSpecs(`stages.${s}.pool.proj`, g.dimIn, g.dim));
  if (pool.type === "conv2d") specs.push(...convSpecs(`stages.${s}.pool.proj`, pool.kernel, g.dimIn, g.dim));
  if (pool.posEmbed) {
    specs.push({ name: `stages.${s}.pos_embed`, shape: [1, g.seqLen, g.dim], init: "trunc", layout: PLAIN });
  }
  return specs;
}

export function headSpecs(net: NetDesc): ParamSpec[] {
  const D = net.stages[net.stages.length - 1].dim;
  return [...normSpecs("norm", D), ...linearSpecs("head", D, net.numClasses)];
}

/**
 * Everything but the blocks, in file order: stem, then for each stage its pool and `blocksOf(s)`,
 * then the head. Models and the supernet differ only in `blocksOf`.
 */
export function netSpecs(net: NetDesc, blocksOf: (s: number, g: StageGeometry) => ParamSpec[]): ParamSpec[] {
  const geometry = stageGeometry(net);
  const specs = stemSpecs(net, geometry);
  net.stages.forEach((stage, s) => {
    if (stage.pool) specs.push(...poolSpecs(stage.pool, geometry[s]));
    specs.push(...blocksOf(s, geometry[s]));
  });
  specs.push(...headSpecs(net));
  return specs;
}

/** Truncated normal: N(0, std²) redrawn until within ±2 std. */
export function truncNormal(rng: Rng, n: number, std = INIT_STD): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = rng.normal();
    while (z < -2 || z > 2) z = rng.normal();
    out[i] = z * std;
  }
  return out;
}

/** Initial values of one spec (draws from `rng` only for "trunc"). */
export function initValues(spec: ParamSpec, rng: Rng): Float32Array {
  const n = shapeSize(spec.shape);
  if (spec.init === "trunc") return truncNormal(rng, n);
  return new Float32Array(n).fill(spec.init === "ones" ? 1 : 0);
}

/** Where a network's initial values come from. */
export type ParamSource =
  | { seed: number }
  /** Internal layouts, keyed by spec name; every spec must be present with the right size, no extras. */
  | { weights: ReadonlyMap<string, Float32Array | tf.Tensor> };

let nextNetId = 0;

/**
 * Create one tf.Variable per spec, keyed by spec name. tfjs variable names must be unique in the
 * process (optimizers key their state by them), so each network gets a prefix `psvit<k>/`.
 */
export function createVariables(specs: readonly ParamSpec[], source: ParamSource): Map<string, tf.Variable> {
  const tag = `psvit${nextNetId++}/`;
  if ("weights" in source) checkWeightNames(specs, source.weights);
  const rng = "seed" in source ? new Rng(source.seed) : null;
  const vars = new Map<string, tf.Variable>();
  try {
    for (const spec of specs) {
      let t: tf.Tensor;
      if (rng) {
        t = tf.tensor(initValues(spec, rng), spec.shape, "float32");
      } else {
        const w = (source as { weights: ReadonlyMap<string, Float32Array | tf.Tensor> }).weights.get(
          spec.name,
        )!;
        const n = w instanceof Float32Array ? w.length : w.size;
        if (n !== shapeSize(spec.shape)) {
          throw new Error(
            `createVariables: ${spec.name} has ${n} values, expected shape [${spec.shape}] (${shapeSize(spec.shape)})`,
          );
        }
        t = w instanceof Float32Array ? tf.tensor(w, spec.shape, "float32") : w.reshape(spec.shape);
      }
      // the variable takes its own reference to t's data; t itself (never the caller's tensor) goes
      vars.set(spec.name, tf.variable(t, true, tag + spec.name));
      t.dispose();
    }
  } catch (e) {
    for (const v of vars.values()) v.dispose();
    throw e;
  }
  return vars;
}

function checkWeightNames(specs: readonly ParamSpec[], weights: ReadonlyMap<string, unknown>): void {
  const expected = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !weights.has(s.name)).map((s) => s.name);
  const extra = [...weights.keys()].filter((k) => !expected.has(k));
  if (missing.length || extra.length) {
    throw new Error(
      `createVariables: weights do not match the parameter list` +
        (missing.length
          ? `; missing ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}`
          : "") +
        (extra.length ? `; unexpected ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}` : ""),
    );
  }
}
