/**
 * A `psvit.model` config and its weights (SPEC §4 names, PyTorch layouts) as one ONNX graph
 * (opset 17), preprocessing included:
 *
 *   images  uint8 [batch, size, size, channels]  (NHWC pixels, already fitted to the input size)
 *   → (x / 255 − mean) / std → patch embedding … stages … head
 *   → logits         float32 [batch, numClasses]
 *   → probabilities  float32 [batch, numClasses]  (softmax of the logits)
 *
 * The batch dimension is symbolic. The maths is SPEC §1, op for op as src/model/net.ts: pre-norm
 * layers (LayerNormalization, eps 1e-6), exact GELU written with Erf (Gelu is opset 20), `attn`
 * computing softmax(q·kᵀ/√d) and `reuse` applying the previous layer's map, the three pools and both
 * heads. Linear weights are stored as [in, out] (PyTorch's [out, in] transposed, ready for MatMul);
 * every other initializer keeps its SPEC §4 name and PyTorch layout. Fitting an image of another size
 * to `size` (src/data/fit.ts) stays outside the graph, as it does for `psvit predict`.
 *
 * Pure: config and arrays in, bytes out; no tensors, no I/O.
 */
import { stageGeometry } from "../config/geometry.js";
import type { ModelConfig, Pool } from "../config/schema.js";
import {
  AttributeType,
  DataType,
  encodeOnnx,
  type OnnxAttribute,
  type OnnxNode,
  type OnnxTensor,
} from "./proto.js";

/** A weights tensor in PyTorch layout. */
export interface TorchTensor {
  shape: readonly number[];
  data: Float32Array;
}

const LN_EPS = 1e-6;
const INT64_MAX = 9223372036854775807n;

type Attr = number | number[] | { f: number } | { floats: number[] };

function attribute(name: string, value: Attr): OnnxAttribute {
  if (typeof value === "number") return { name, type: AttributeType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ("f" in value) return { name, type: AttributeType.FLOAT, f: value.f };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian; so are the typed arrays of every platform Node runs on
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** Collects nodes and initializers; every value gets a unique, readable name. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();
  private constants = 0;

  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  op(type: string, inputs: string[], out: string, attrs: Record<string, Attr> = {}): string {
    const output = this.fresh(out);
    this.nodes.push({
      op_type: type,
      name: `${type}:${output}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  floatInit(name: string, dims: number[], data: Float32Array, doc?: string): string {
    const n = this.fresh(name);
    this.initializers.push({
      name: n,
      dims,
      data_type: DataType.FLOAT,
      raw_data: bytesOf(data),
      doc_string: doc,
    });
    return n;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.floatInit(`const${this.constants++}`, [], new Float32Array([value]));
  }

  /** An int64 constant: a vector, or a scalar (`scalar: true`, for Gather's index). */
  ints(values: Array<number | bigint>, scalar = false): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    const n = this.fresh(`const${this.constants++}`);
    this.initializers.push({
      name: n,
      dims: scalar ? [] : [values.length],
      data_type: DataType.INT64,
      raw_data: bytesOf(data),
    });
    return n;
  }
}

/** Transpose a PyTorch Linear weight [out, in] to [in, out]. */
function transposed(t: TorchTensor): Float32Array {
  const [outDim, inDim] = t.shape;
  const d = new Float32Array(t.data.length);
  for (let o = 0; o < outDim; o++) for (let i = 0; i < inDim; i++) d[i * outDim + o] = t.data[o * inDim + i];
  return d;
}

/**
 * The ONNX graph of a model. `weights` must hold every parameter of `config` with its PyTorch shape
 * (the caller checks that: src/onnx/export.ts reads them through the weights validator).
 */
export function modelToOnnx(
  config: ModelConfig,
  weights: ReadonlyMap<string, TorchTensor>,
  producerVersion = "0",
): Uint8Array {
  const g = new GraphBuilder();
  const W = (name: string): TorchTensor => {
    const t = weights.get(name);
    if (!t) throw new Error(`modelToOnnx: no tensor named ${name}`);
    return t;
  };
  const param = (name: string) => g.floatInit(name, [...W(name).shape], W(name).data);
  const linear = (x: string, prefix: string, out: string, residual?: string): string => {
    const w = W(`${prefix}.weight`);
    const wt = g.floatInit(`${prefix}.weight`, [w.shape[1], w.shape[0]], transposed(w), "[in, out]");
    const y = g.op("Add", [g.op("MatMul", [x, wt], `${out}_mm`), param(`${prefix}.bias`)], out);
    return residual ? g.op("Add", [residual, y], `${out}_res`) : y;
  };
  const layerNorm = (x: string, prefix: string, out: string) =>
    g.op("LayerNormalization", [x, param(`${prefix}.weight`), param(`${prefix}.bias`)], out, {
      axis: -1,
      epsilon: { f: LN_EPS },
    });
  const toChannelsFirst = (x: string, out: string) => g.op("Transpose", [x], out, { perm: [0, 3, 1, 2] });
  const tokensOf = (nchw: string, dim: number, out: string) =>
    g.op("Transpose", [g.op("Reshape", [nchw, g.ints([0, dim, -1])], `${out}_flat`)], out, {
      perm: [0, 2, 1],
    });

  const { size, channels } = config.image;
  const pre = config.preprocess ?? { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
  const geometry = stageGeometry(config);
  const cls = config.classToken;

  // preprocessing: (x / 255 − mean) / std per channel, NHWC
  let x = g.op("Cast", ["images"], "pixels", { to: DataType.FLOAT });
  x = g.op("Div", [x, g.scalar(255)], "scaled");
  x = g.op("Sub", [x, g.floatInit("preprocess.mean", [channels], Float32Array.from(pre.mean))], "centred");
  x = g.op("Div", [x, g.floatInit("preprocess.std", [channels], Float32Array.from(pre.std))], "normalised");

  // stem: patch embedding (a strided Conv), class token, position embedding
  const d0 = config.stages[0].dim;
  const p = config.patchSize;
  const patches = g.op(
    "Conv",
    [toChannelsFirst(x, "normalised_nchw"), param("patch_embed.proj.weight"), param("patch_embed.proj.bias")],
    "patch_embed",
    { kernel_shape: [p, p], strides: [p, p] },
  );
  let t = tokensOf(patches, d0, "tokens");
  if (cls) {
    const batch = g.op("Shape", [t], "batch", { start: 0, end: 1 });
    const shape = g.op("Concat", [batch, g.ints([1, d0])], "cls_shape", { axis: 0 });
    const token = g.op("Expand", [param("cls_token"), shape], "cls_tokens");
    t = g.op("Concat", [token, t], "with_cls", { axis: 1 });
  }
  t = g.op("Add", [t, param("pos_embed")], "embedded");

  const maxPoolTokens = (y: string, pool: Pool, out: string): string => {
    const sequence = (v: string, o: string) => {
      const ncl = g.op("Transpose", [v], `${o}_ncl`, { perm: [0, 2, 1] });
      const pooled = g.op("MaxPool", [ncl], `${o}_pooled`, {
        kernel_shape: [pool.kernel],
        strides: [pool.stride],
      });
      return g.op("Transpose", [pooled], o, { perm: [0, 2, 1] });
    };
    if (!cls) return sequence(y, out);
    const head = g.op("Slice", [y, g.ints([0]), g.ints([1]), g.ints([1])], `${out}_cls`);
    const rest = g.op("Slice", [y, g.ints([1]), g.ints([INT64_MAX]), g.ints([1])], `${out}_patches`);
    return g.op("Concat", [head, sequence(rest, `${out}_max`)], out, { axis: 1 });
  };

  config.stages.forEach((stage, s) => {
    const geo = geometry[s];
    if (stage.pool) {
      const pool = stage.pool;
      const name = `stages.${s}.pool`;
      if (pool.type === "max1d") t = maxPoolTokens(t, pool, name);
      else if (pool.type === "linear-max1d")
        t = maxPoolTokens(linear(t, `${name}.proj`, `${name}.proj`), pool, name);
      else {
        const gridIn = geometry[s - 1].grid;
        if (!gridIn) throw new Error(`modelToOnnx: stages[${s}] conv2d pool without a token grid`);
        const grid = g.op("Reshape", [t, g.ints([0, gridIn[0], gridIn[1], geo.dimIn])], `${name}_grid`);
        const padding = pool.padding ?? 0;
        const conv = g.op(
          "Conv",
          [toChannelsFirst(grid, `${name}_nchw`), param(`${name}.proj.weight`), param(`${name}.proj.bias`)],
          `${name}.proj`,
          {
            kernel_shape: [pool.kernel, pool.kernel],
            strides: [pool.stride, pool.stride],
            pads: [padding, padding, padding, padding],
          },
        );
        t = tokensOf(conv, geo.dim, name);
      }
      if (pool.posEmbed) t = g.op("Add", [t, param(`stages.${s}.pos_embed`)], `stages.${s}.embedded`);
    }
    const D = stage.dim;
    const H = stage.heads;
    const d = D / H;
    let attn: string | null = null;
    stage.layers.forEach((kind, i) => {
      const b = `stages.${s}.blocks.${i}`;
      const h = layerNorm(t, `${b}.norm1`, `${b}.norm1`);
      let v: string;
      if (kind === "attn") {
        const qkv = linear(h, `${b}.attn.qkv`, `${b}.attn.qkv`);
        const heads = g.op(
          "Transpose",
          [g.op("Reshape", [qkv, g.ints([0, 0, 3, H, d])], `${b}.attn.qkv_split`)],
          `${b}.attn.qkv_heads`,
          { perm: [2, 0, 3, 1, 4] },
        ); // [3, B, H, N, d]
        const pick = (k: number, name: string) =>
          g.op("Gather", [heads, g.ints([k], true)], `${b}.attn.${name}`, { axis: 0 });
        const q = pick(0, "q");
        const kT = g.op("Transpose", [pick(1, "k")], `${b}.attn.kT`, { perm: [0, 1, 3, 2] });
        v = pick(2, "v");
        const scores = g.op(
          "Mul",
          [g.op("MatMul", [q, kT], `${b}.attn.qk`), g.scalar(1 / Math.sqrt(d))],
          `${b}.attn.scores`,
        );
        attn = g.op("Softmax", [scores], `${b}.attn.map`, { axis: -1 });
      } else {
        if (attn === null)
          throw new Error(`modelToOnnx: ${b} reuses an attention map, but none comes before it`);
        const vs = linear(h, `${b}.attn.v`, `${b}.attn.v_flat`);
        v = g.op(
          "Transpose",
          [g.op("Reshape", [vs, g.ints([0, 0, H, d])], `${b}.attn.v_split`)],
          `${b}.attn.v`,
          {
            perm: [0, 2, 1, 3],
          },
        );
      }
      const mixed = g.op("MatMul", [attn as string, v], `${b}.attn.mixed`); // [B, H, N, d]
      const merged = g.op(
        "Reshape",
        [g.op("Transpose", [mixed], `${b}.attn.mixed_t`, { perm: [0, 2, 1, 3] }), g.ints([0, 0, D])],
        `${b}.attn.merged`,
      );
      t = linear(merged, `${b}.attn.proj`, `${b}.attn.proj`, t);
      const u = linear(layerNorm(t, `${b}.norm2`, `${b}.norm2`), `${b}.mlp.fc1`, `${b}.mlp.fc1`);
      // exact GELU: u · ½ · (1 + erf(u / √2))
      const erf = g.op("Erf", [g.op("Mul", [u, g.scalar(Math.SQRT1_2)], `${b}.mlp.gelu_in`)], `${b}.mlp.erf`);
      const gate = g.op(
        "Mul",
        [g.op("Add", [erf, g.scalar(1)], `${b}.mlp.erf1`), g.scalar(0.5)],
        `${b}.mlp.gate`,
      );
      const act = g.op("Mul", [u, gate], `${b}.mlp.gelu`);
      t = linear(act, `${b}.mlp.fc2`, `${b}.mlp.fc2`, t);
    });
  });

  const normed = layerNorm(t, "norm", "norm");
  const pooled = cls
    ? g.op("Gather", [normed, g.ints([0], true)], "pooled", { axis: 1 })
    : g.op("ReduceMean", [normed], "pooled", { axes: [1], keepdims: 0 });
  const logits = linear(pooled, "head", "logits");
  g.op("Softmax", [logits], "probabilities", { axis: -1 });

  const K = config.numClasses;
  return encodeOnnx({
    producerVersion,
    graphName: config.name,
    doc:
      `psvit model ${config.name}: uint8 NHWC pixels [batch, ${size}, ${size}, ${channels}] in, ` +
      `logits and softmax probabilities [batch, ${K}] out; preprocessing (x / 255 − mean) / std included.`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      {
        name: "images",
        elemType: DataType.UINT8,
        dims: ["batch", size, size, channels],
        doc: "pixels 0–255, NHWC, already fitted to the model's input size",
      },
    ],
    outputs: [
      { name: "logits", elemType: DataType.FLOAT, dims: ["batch", K] },
      { name: "probabilities", elemType: DataType.FLOAT, dims: ["batch", K] },
    ],
    metadata: { "psvit.model": JSON.stringify(config) },
  });
}
