/** Small configs and helpers shared by the model and weights tests. */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig, SpaceConfig } from "../../src/config/schema.js";
import { parseModelConfig, parseSpaceConfig } from "../../src/config/validate.js";
import { Rng } from "../../src/util/rng.js";

export async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
  await tf.ready();
}

type Stage = ModelConfig["stages"][number];

export function model(
  name: string,
  stages: unknown[],
  over: Partial<Omit<ModelConfig, "stages">> = {},
): ModelConfig {
  return parseModelConfig({
    kind: "psvit.model",
    version: 1,
    name,
    image: { size: 16, channels: 3 },
    patchSize: 4,
    numClasses: 5,
    mlpRatio: 2,
    classToken: false,
    ...over,
    stages: stages as Stage[],
  });
}

/** HVT: max1d pools, dim unchanged, no class token; a reuse layer and a zero-layer stage. */
export const HVT_MAX1D = model("t-max1d", [
  { dim: 16, heads: 2, layers: ["attn", "reuse"] },
  { pool: { type: "max1d", kernel: 3, stride: 2, posEmbed: true }, dim: 16, heads: 2, layers: [] },
  { pool: { type: "max1d", kernel: 2, stride: 2 }, dim: 16, heads: 4, layers: ["attn", "reuse", "reuse"] },
]);

/** max1d with a class token. */
export const HVT_MAX1D_CLS = model(
  "t-max1d-cls",
  [
    { dim: 12, heads: 3, layers: ["attn"] },
    {
      pool: { type: "max1d", kernel: 3, stride: 2, posEmbed: true },
      dim: 12,
      heads: 2,
      layers: ["attn", "reuse"],
    },
  ],
  { classToken: true, image: { size: 16, channels: 1 } },
);

/** PSViT-1D: linear-max1d pools with class token. */
export const PSVIT_1D = model(
  "t-1d",
  [
    { dim: 8, heads: 2, layers: ["attn", "reuse"] },
    {
      pool: { type: "linear-max1d", kernel: 3, stride: 2, posEmbed: true },
      dim: 16,
      heads: 4,
      layers: ["attn"],
    },
    { pool: { type: "linear-max1d", kernel: 3, stride: 2 }, dim: 24, heads: 2, layers: [] },
  ],
  { classToken: true, image: { size: 16, channels: 1 }, mlpRatio: 4 },
);

/** linear-max1d without class token, widening then narrowing. */
export const LINMAX_NOCLS = model("t-linmax", [
  { dim: 8, heads: 2, layers: ["attn"] },
  {
    pool: { type: "linear-max1d", kernel: 2, stride: 2, posEmbed: true },
    dim: 16,
    heads: 2,
    layers: ["attn", "reuse"],
  },
  { pool: { type: "linear-max1d", kernel: 3, stride: 1 }, dim: 8, heads: 1, layers: ["attn"] },
]);

/** PSViT-2D: conv2d pools, no class token. */
export const PSVIT_2D = model("t-2d", [
  { dim: 8, heads: 2, layers: [] },
  {
    pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1, posEmbed: true },
    dim: 16,
    heads: 2,
    layers: ["attn", "reuse"],
  },
  { pool: { type: "conv2d", kernel: 2, stride: 1 }, dim: 12, heads: 3, layers: ["attn"] },
]);

export const ALL_MODELS = [HVT_MAX1D, HVT_MAX1D_CLS, PSVIT_1D, LINMAX_NOCLS, PSVIT_2D];

export function space(
  name: string,
  stages: unknown[],
  over: Partial<Omit<SpaceConfig, "stages">> = {},
): SpaceConfig {
  return parseSpaceConfig({
    kind: "psvit.space",
    version: 1,
    name,
    image: { size: 16, channels: 1 },
    patchSize: 4,
    numClasses: 4,
    mlpRatio: 2,
    classToken: false,
    ...over,
    stages,
  });
}

export const SPACE_2D = space("s-2d", [
  { dim: 8, heads: 2, cells: 2 },
  { pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1 }, dim: 16, heads: 4, cells: 3 },
]);

export const SPACE_1D = space(
  "s-1d",
  [
    { dim: 8, heads: 2, cells: 3 },
    { pool: { type: "linear-max1d", kernel: 3, stride: 2, posEmbed: true }, dim: 12, heads: 3, cells: 2 },
  ],
  { classToken: true },
);

/** Deterministic standard-normal input [B, size, size, channels]. */
export function randomInput(
  cfg: { image: { size: number; channels: number } },
  batch: number,
  seed = 1,
): tf.Tensor4D {
  const { size, channels } = cfg.image;
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: batch * size * size * channels }, () => rng.normal());
  return tf.tensor4d(data, [batch, size, size, channels]);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
