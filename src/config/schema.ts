/**
 * Structural schemas (zod) for the two config formats of SPEC §1 and §3. Structure only: cross-field
 * rules (dim % heads, where pools may stand, token counts) live in validate.ts, which runs after these.
 * Pure: no tfjs, no I/O.
 */
import { z } from "zod";

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

export const ImageSchema = z.strictObject({
  size: posInt.describe("input height = width, in pixels"),
  channels: posInt.describe("input channels (1 grey, 3 RGB)"),
});

export const PreprocessSchema = z
  .strictObject({
    mean: z.array(z.number()).min(1).describe("per-channel mean of pixels scaled to [0, 1]"),
    std: z.array(z.number().positive()).min(1).describe("per-channel standard deviation (> 0)"),
  })
  .describe("normalisation applied after scaling pixels to [0, 1]: (x - mean) / std");

const poolCommon = {
  kernel: posInt,
  stride: posInt,
  posEmbed: z
    .boolean()
    .default(false)
    .describe("add a new learnable position embedding after the pool (default false)"),
};

export const Max1dPoolSchema = z
  .strictObject({ type: z.literal("max1d"), ...poolCommon })
  .describe("HVT: 1D max pooling over the token sequence; needs dim unchanged");
export const LinearMax1dPoolSchema = z
  .strictObject({ type: z.literal("linear-max1d"), ...poolCommon })
  .describe("PSViT-1D: Linear(D_in -> D_out) on every token, then max1d over the patch tokens");
export const Conv2dPoolSchema = z
  .strictObject({
    type: z.literal("conv2d"),
    ...poolCommon,
    padding: nonNegInt.default(0),
  })
  .describe("PSViT-2D: Conv2d(D_in -> D_out) over the token grid; needs classToken false");

export const PoolSchema = z.discriminatedUnion("type", [
  Max1dPoolSchema,
  LinearMax1dPoolSchema,
  Conv2dPoolSchema,
]);

export const LayerKindSchema = z.enum(["attn", "reuse"]);

export const ModelStageSchema = z.strictObject({
  pool: PoolSchema.optional(),
  dim: posInt,
  heads: posInt,
  layers: z.array(LayerKindSchema),
});

const common = {
  $schema: z.string().optional().describe("editor hint; ignored"),
  version: z.literal(1),
  name: z.string().min(1),
  image: ImageSchema,
  patchSize: posInt,
  numClasses: posInt,
  mlpRatio: z.number().positive(),
  classToken: z.boolean(),
  preprocess: PreprocessSchema.optional(),
};

export const ModelConfigSchema = z
  .strictObject({
    kind: z.literal("psvit.model"),
    ...common,
    stages: z.array(ModelStageSchema).min(1),
  })
  .describe("psvit.model v1: a concrete hierarchical vision transformer (SPEC §1)");

export const SpaceStageSchema = z.strictObject({
  pool: PoolSchema.optional(),
  dim: posInt,
  heads: posInt,
  cells: posInt.describe("number of cells; each chooses B (basic), S (shared pair) or I (identity)"),
});

export const SpaceConfigSchema = z
  .strictObject({
    kind: z.literal("psvit.space"),
    ...common,
    stages: z.array(SpaceStageSchema).min(1),
  })
  .describe("psvit.space v1: a PSViT search space (SPEC §3)");

export type Pool = z.output<typeof PoolSchema>;
export type PoolType = Pool["type"];
export type LayerKind = z.output<typeof LayerKindSchema>;
export type ModelStage = z.output<typeof ModelStageSchema>;
export type ModelConfig = z.output<typeof ModelConfigSchema>;
export type SpaceStage = z.output<typeof SpaceStageSchema>;
export type SpaceConfig = z.output<typeof SpaceConfigSchema>;
export type Preprocess = z.output<typeof PreprocessSchema>;
/** The fields a model and a space share (everything but `kind` and `stages`). */
export type CommonConfig = Omit<ModelConfig, "kind" | "stages">;
