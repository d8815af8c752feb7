/**
 * The models the deployment tests export: Fashion-MNIST-shaped (32×32 grey, 10 classes, the
 * dataset's normalisation), one per pool type, with and without class token, each with `attn` and
 * `reuse` layers; and how a test writes one with random weights.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ModelConfig } from "../../src/config/schema.js";
import { HvtModel } from "../../src/model/hvt.js";
import { saveModelWeights } from "../../src/weights/io.js";
import { model } from "../model/fixtures.js";
import { randomizeWeights } from "../weights/torch-helpers.js";

export const FMNIST_TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

const fmnist = (classToken: boolean) => ({
  image: { size: 32, channels: 1 },
  patchSize: 4,
  numClasses: 10,
  mlpRatio: 2,
  classToken,
  preprocess: { mean: [0.2861], std: [0.353] },
});

const first = { dim: 16, heads: 2, layers: ["attn", "reuse"] };

/** Every pool type; max1d and linear-max1d with and without class token (conv2d cannot have one). */
export const ONNX_CASES: ModelConfig[] = [
  model(
    "onnx-conv2d",
    [
      first,
      {
        pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1, posEmbed: true },
        dim: 24,
        heads: 4,
        layers: ["attn", "reuse", "attn"],
      },
      { pool: { type: "conv2d", kernel: 2, stride: 2 }, dim: 32, heads: 4, layers: [] },
    ],
    fmnist(false),
  ),
  model(
    "onnx-max1d",
    [
      first,
      {
        pool: { type: "max1d", kernel: 3, stride: 2, posEmbed: true },
        dim: 16,
        heads: 4,
        layers: ["attn", "reuse"],
      },
    ],
    fmnist(false),
  ),
  model(
    "onnx-max1d-cls",
    [
      first,
      {
        pool: { type: "max1d", kernel: 2, stride: 2 },
        dim: 16,
        heads: 2,
        layers: ["attn", "reuse", "reuse"],
      },
    ],
    fmnist(true),
  ),
  model(
    "onnx-linear-max1d",
    [first, { pool: { type: "linear-max1d", kernel: 3, stride: 2 }, dim: 24, heads: 3, layers: ["attn"] }],
    fmnist(false),
  ),
  model(
    "onnx-linear-max1d-cls",
    [
      first,
      {
        pool: { type: "linear-max1d", kernel: 3, stride: 2, posEmbed: true },
        dim: 24,
        heads: 3,
        layers: ["attn", "reuse"],
      },
      { pool: { type: "max1d", kernel: 2, stride: 1 }, dim: 24, heads: 2, layers: ["attn"] },
    ],
    fmnist(true),
  ),
];

/** Write `config` (NAME.model.json) and random weights (NAME.safetensors) to `dir`. */
export async function writeRandomModel(
  dir: string,
  config: ModelConfig,
  seed: number,
): Promise<{ config: string; weights: string }> {
  const files = {
    config: join(dir, `${config.name}.model.json`),
    weights: join(dir, `${config.name}.safetensors`),
  };
  writeFileSync(files.config, `${JSON.stringify(config, null, 2)}\n`);
  const m = HvtModel.create(config, { seed });
  try {
    randomizeWeights(m, seed);
    await saveModelWeights(files.weights, config, m);
  } finally {
    m.dispose();
  }
  return files;
}
