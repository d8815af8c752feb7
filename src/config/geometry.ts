/**
 * Token geometry: how many tokens each stage sees. `poolTokens` is the one function in psvit that
 * decides the token count after a pool; the validator, the FLOPs counter, the models and the weight
 * shapes all ask it. Pure.
 */
import type { Pool } from "./schema.js";

/** Patch tokens (the class token is not counted here) and, while they still form one, their grid. */
export interface TokenGeometry {
  /** Number of patch tokens. */
  n: number;
  /** [rows, cols] of the token grid in row-major order; null once a 1D pool has flattened it. */
  grid: [number, number] | null;
}

/** Output length of a 1D or 2D window op: floor((len + 2·pad − k) / s) + 1 (may be ≤ 0: invalid). */
export function windowOut(len: number, kernel: number, stride: number, padding = 0): number {
  return Math.floor((len + 2 * padding - kernel) / stride) + 1;
}

/** Tokens after the patch embedding: an (size/p) × (size/p) grid. */
export function patchGeometry(imageSize: number, patchSize: number): TokenGeometry {
  const side = Math.floor(imageSize / patchSize);
  return { n: side * side, grid: [side, side] };
}

/**
 * Tokens after `pool`. max1d and linear-max1d pool the patch-token sequence (the class token is never
 * pooled) and leave no grid; conv2d needs a grid and yields a new one. A result with n ≤ 0 (or a
 * conv2d without a grid: n = NaN) is invalid; the validator turns that into a message.
 */
export function poolTokens(pool: Pool, input: TokenGeometry): TokenGeometry {
  switch (pool.type) {
    case "max1d":
    case "linear-max1d":
      return { n: windowOut(input.n, pool.kernel, pool.stride), grid: null };
    case "conv2d": {
      if (input.grid === null) return { n: Number.NaN, grid: null };
      const [H, W] = input.grid;
      const Ho = windowOut(H, pool.kernel, pool.stride, pool.padding);
      const Wo = windowOut(W, pool.kernel, pool.stride, pool.padding);
      return { n: Ho > 0 && Wo > 0 ? Ho * Wo : Math.min(Ho, Wo), grid: [Ho, Wo] };
    }
  }
}

/** What every stage sees, for models and spaces alike (they share `image`, `patchSize`, `stages[].pool/dim`). */
export interface StageGeometry {
  index: number;
  /** Width coming in (the previous stage's dim, or the patch-embedding dim for stage 0). */
  dimIn: number;
  dim: number;
  /** Patch tokens coming in (before this stage's pool). */
  tokensIn: number;
  /** Patch tokens inside the stage (after its pool). */
  tokens: number;
  grid: [number, number] | null;
  /** Sequence length inside the stage: tokens plus the class token if any. */
  seqLen: number;
}

export interface GeometryInput {
  image: { size: number };
  patchSize: number;
  classToken: boolean;
  stages: ReadonlyArray<{ pool?: Pool; dim: number }>;
}

export function stageGeometry(cfg: GeometryInput): StageGeometry[] {
  let geo = patchGeometry(cfg.image.size, cfg.patchSize);
  const out: StageGeometry[] = [];
  const cls = cfg.classToken ? 1 : 0;
  cfg.stages.forEach((stage, index) => {
    const tokensIn = geo.n;
    const dimIn = index === 0 ? stage.dim : cfg.stages[index - 1].dim;
    if (stage.pool) geo = poolTokens(stage.pool, geo);
    out.push({ index, dimIn, dim: stage.dim, tokensIn, tokens: geo.n, grid: geo.grid, seqLen: geo.n + cls });
  });
  return out;
}
