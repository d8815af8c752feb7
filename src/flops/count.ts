/**
 * Exact FLOPs and params of a model config (SPEC §2). FLOPs are multiply-accumulates (fvcore / HVT /
 * DeiT convention): patch embedding, every Linear and Conv, and the two attention products q·kᵀ and
 * A·v. LayerNorm, softmax, GELU, additions and max pooling cost nothing. Params count every learnable
 * scalar. All results are exact integers (checked: they stay below 2^53). Pure.
 */
import { type StageGeometry, stageGeometry } from "../config/geometry.js";
import type { LayerKind, ModelConfig, Pool } from "../config/schema.js";

export interface Cost {
  flops: number;
  params: number;
}

export interface LayerCost extends Cost {
  kind: LayerKind;
}

export interface StageCost extends Cost {
  index: number;
  /** Patch tokens in the stage (after its pool). */
  tokens: number;
  /** Sequence length the layers see (tokens + class token). */
  seqLen: number;
  grid: [number, number] | null;
  dim: number;
  heads: number;
  /** The pool in front of the stage (its Linear/Conv and its new position embedding), if any. */
  pool: (Cost & { type: Pool["type"] }) | null;
  layers: LayerCost[];
}

export interface ModelCost extends Cost {
  /** Patch embedding, class token and the first position embedding. */
  embed: Cost;
  stages: StageCost[];
  /** Final LayerNorm and the classifier. */
  head: Cost;
}

/** An `attn` layer over N tokens of width D: (4 + 2r)·N·D² + 2·N²·D MACs. */
export function attnLayerCost(N: number, D: number, mlpRatio: number): Cost {
  const hidden = mlpRatio * D;
  return {
    flops: 4 * N * D * D + 2 * N * D * hidden + 2 * N * N * D,
    // qkv (3D² + 3D) + proj (D² + D) + fc1 (D·rD + rD) + fc2 (rD·D + D) + two LayerNorms (4D)
    params: 3 * D * D + 3 * D + D * D + D + 2 * D * hidden + hidden + D + 4 * D,
  };
}

/** A `reuse` layer: (2 + 2r)·N·D² + N²·D MACs (v and proj, the MLP, and A·v only). */
export function reuseLayerCost(N: number, D: number, mlpRatio: number): Cost {
  const hidden = mlpRatio * D;
  return {
    flops: 2 * N * D * D + 2 * N * D * hidden + N * N * D,
    // v (D² + D) + proj (D² + D) + MLP + two LayerNorms
    params: 2 * D * D + 2 * D + 2 * D * hidden + hidden + D + 4 * D,
  };
}

export function layerCost(kind: LayerKind, N: number, D: number, mlpRatio: number): LayerCost {
  const c = kind === "attn" ? attnLayerCost(N, D, mlpRatio) : reuseLayerCost(N, D, mlpRatio);
  return { kind, ...c };
}

/** Cost of the pool in front of a stage, including its new position embedding. */
export function poolCost(pool: Pool, g: StageGeometry, classToken: boolean): Cost {
  const cls = classToken ? 1 : 0;
  const pos = pool.posEmbed ? g.seqLen * g.dim : 0;
  switch (pool.type) {
    case "max1d":
      return { flops: 0, params: pos };
    case "linear-max1d":
      // the Linear runs on every token coming in, the class token too
      return { flops: (g.tokensIn + cls) * g.dimIn * g.dim, params: g.dimIn * g.dim + g.dim + pos };
    case "conv2d": {
      const k2 = pool.kernel * pool.kernel;
      return { flops: g.tokens * g.dim * g.dimIn * k2, params: g.dim * g.dimIn * k2 + g.dim + pos };
    }
  }
}

function sum(costs: Cost[]): Cost {
  let flops = 0;
  let params = 0;
  for (const c of costs) {
    flops += c.flops;
    params += c.params;
  }
  return { flops, params };
}

/** Patch embedding + class token + first position embedding. */
export function embedCost(cfg: Pick<ModelConfig, "image" | "patchSize" | "classToken">, dim: number): Cost {
  const side = Math.floor(cfg.image.size / cfg.patchSize);
  const N0 = side * side;
  const fanIn = cfg.image.channels * cfg.patchSize * cfg.patchSize;
  const cls = cfg.classToken ? 1 : 0;
  return { flops: N0 * dim * fanIn, params: dim * fanIn + dim + cls * dim + (N0 + cls) * dim };
}

/** Final LayerNorm + Linear classifier. */
export function headCost(dim: number, numClasses: number): Cost {
  return { flops: dim * numClasses, params: 2 * dim + dim * numClasses + numClasses };
}

/** The full breakdown. `cfg` must be valid (see config/validate.ts). */
export function countModel(cfg: ModelConfig): ModelCost {
  const geometry = stageGeometry(cfg);
  const embed = embedCost(cfg, cfg.stages[0].dim);
  const stages: StageCost[] = cfg.stages.map((stage, s) => {
    const g = geometry[s];
    const pool = stage.pool ? { type: stage.pool.type, ...poolCost(stage.pool, g, cfg.classToken) } : null;
    const layers = stage.layers.map((kind) => layerCost(kind, g.seqLen, g.dim, cfg.mlpRatio));
    const total = sum([...(pool ? [pool] : []), ...layers]);
    return {
      index: s,
      tokens: g.tokens,
      seqLen: g.seqLen,
      grid: g.grid,
      dim: stage.dim,
      heads: stage.heads,
      pool,
      layers,
      ...total,
    };
  });
  const head = headCost(cfg.stages[cfg.stages.length - 1].dim, cfg.numClasses);
  const total = sum([embed, ...stages, head]);
  if (!Number.isSafeInteger(total.flops) || !Number.isSafeInteger(total.params)) {
    throw new RangeError(`countModel: totals exceed 2^53 (flops ${total.flops}, params ${total.params})`);
  }
  return { ...total, embed, stages, head };
}
