/**
 * Training recipes (`psvit.recipe` v1): how a supernet or a fixed model is trained. Validated like the
 * model and space formats, with errors that name the file and the JSON path. Pure.
 *
 * The defaults follow DeiT's recipe scaled down to a 2-core CPU: AdamW with decoupled weight decay
 * (none on norms, biases, position embeddings and the class token), linear warm-up then cosine decay
 * per step, label smoothing 0.1, gradient clipping by global norm.
 */
import { z } from "zod";
import { readJsonFile } from "./load.js";
import { throwIssues, zodIssues } from "./validate.js";

const posInt = z.number().int().positive();
const fraction = z.number().min(0).max(1);

export const RecipeSchema = z
  .strictObject({
    $schema: z.string().optional().describe("editor hint; ignored"),
    kind: z.literal("psvit.recipe"),
    version: z.literal(1),
    name: z.string().min(1),
    epochs: z
      .number()
      .positive()
      .describe(
        "passes over the training split; a fraction trains that share of one epoch (a short schedule)",
      ),
    batchSize: posInt,
    evalBatchSize: posInt.default(256),
    optimizer: z.strictObject({
      type: z.literal("adamw"),
      lr: z.number().positive().describe("peak learning rate (after warm-up)"),
      betas: z.tuple([fraction, fraction]).default([0.9, 0.999]),
      eps: z.number().positive().default(1e-8),
      weightDecay: z.number().min(0).describe("decoupled weight decay (AdamW)"),
    }),
    schedule: z.strictObject({
      type: z.literal("cosine"),
      warmupEpochs: z
        .number()
        .min(0)
        .describe("linear warm-up from warmupStartLr to lr, in epochs (may be fractional)"),
      warmupStartLr: z.number().min(0).default(1e-6),
      minLr: z.number().min(0).default(1e-5),
    }),
    labelSmoothing: z.number().min(0).lt(1).default(0.1),
    clipGradNorm: z
      .number()
      .positive()
      .nullable()
      .default(5)
      .describe("clip gradients to this global L2 norm; null: off"),
    augment: z
      .strictObject({
        cropPadding: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("random crop after zero-padding by this many pixels"),
        flipProb: fraction.optional().describe("probability of a horizontal flip"),
        randomResizedCrop: z
          .strictObject({
            scale: z.tuple([z.number().positive().max(1), z.number().positive().max(1)]),
            ratio: z.tuple([z.number().positive(), z.number().positive()]),
          })
          .nullable()
          .optional()
          .describe(
            "image folders only: torchvision's RandomResizedCrop (area scale, aspect ratio); null: resize + centre crop. Default for folders: scale [0.08, 1], ratio [0.75, 1.333]",
          ),
      })
      .prefault({})
      .describe("overrides of the data's default training augmentation (docs/DATA.md)"),
    checkpoint: z
      .strictObject({
        everySteps: posInt
          .nullable()
          .default(null)
          .describe("also checkpoint every N steps (always at each epoch end)"),
        keep: posInt.default(3).describe("checkpoints kept"),
      })
      .prefault({}),
    logEverySteps: posInt.default(20),
  })
  .describe("psvit.recipe v1: how to train a supernet or a model");

export type Recipe = z.output<typeof RecipeSchema>;

export function parseRecipe(raw: unknown, file?: string): Recipe {
  const parsed = RecipeSchema.safeParse(raw);
  if (!parsed.success) throwIssues(zodIssues(parsed.error), file);
  const r = parsed.data;
  if (r.schedule.minLr > r.optimizer.lr) {
    throwIssues(
      [
        {
          path: ["schedule", "minLr"],
          message: `minLr ${r.schedule.minLr} is above optimizer.lr ${r.optimizer.lr}`,
        },
      ],
      file,
    );
  }
  return r;
}

export function loadRecipe(file: string): Recipe {
  return parseRecipe(readJsonFile(file), file);
}
