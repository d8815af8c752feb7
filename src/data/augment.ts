/**
 * Training-only augmentation on typed arrays: random crop with zero padding, then a horizontal
 * flip. Defaults depend on the data: digits (MNIST, raw IDX) are never flipped (a mirrored 2 or 7
 * is not a digit); Fashion-MNIST, CIFAR and photo folders are flipped with probability 0.5 (clothes
 * and natural scenes are left-right symmetric in distribution).
 */
import { UsageError } from "../errors.js";
import { buildLut, prepareBatch } from "./kernels.js";
import { derivedState, RNG_TAG } from "./seed.js";
import type { AugmentOptions, Dataset, Preprocess } from "./types.js";

export type DataKind =
  | "embedded"
  | "fashion-mnist"
  | "mnist"
  | "idx"
  | "cifar10"
  | "cifar100"
  | "cifar100-coarse"
  | "folder";

export const NO_AUGMENT: AugmentOptions = { cropPadding: 0, flipProb: 0 };

/**
 * Default augmentation for a data kind at input size `size`: crop padding 2 for 28/32-pixel
 * greyscale digits and clothes (8% of the side), round(size/8) otherwise (4 at 32, as for CIFAR).
 */
export function defaultAugment(kind: DataKind, size: number): AugmentOptions {
  switch (kind) {
    case "mnist":
    case "idx":
      return { cropPadding: 2, flipProb: 0 };
    case "embedded":
    case "fashion-mnist":
      return { cropPadding: 2, flipProb: 0.5 };
    case "folder":
      // streamed photos: ImageNet's RandomResizedCrop and flip (timm / torchvision defaults)
      return {
        cropPadding: 0,
        flipProb: 0.5,
        randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
      };
    default:
      return { cropPadding: Math.max(1, Math.round(size / 8)), flipProb: 0.5 };
  }
}

/** Merge user overrides into defaults and validate. */
export function augmentOptions(base: AugmentOptions, over: Partial<AugmentOptions> = {}): AugmentOptions {
  const out = { ...base, ...over };
  if (!Number.isInteger(out.cropPadding) || out.cropPadding < 0) {
    throw new UsageError(`augmentation crop padding must be an integer >= 0, got ${out.cropPadding}`);
  }
  if (!(out.flipProb >= 0 && out.flipProb <= 1)) {
    throw new UsageError(`augmentation flip probability must be in [0, 1], got ${out.flipProb}`);
  }
  const rrc = out.randomResizedCrop;
  if (rrc) {
    const [s0, s1] = rrc.scale;
    const [r0, r1] = rrc.ratio;
    if (!(s0 > 0 && s0 <= s1 && s1 <= 1))
      throw new UsageError(`randomResizedCrop.scale must be 0 < min <= max <= 1, got [${rrc.scale}]`);
    if (!(r0 > 0 && r0 <= r1))
      throw new UsageError(`randomResizedCrop.ratio must be 0 < min <= max, got [${rrc.ratio}]`);
  }
  return out;
}

/**
 * Augment and normalise the images at `indices` into a fresh Float32Array (NHWC) — the same kernel
 * the batch stream uses. `rngWords` seeds the augmentation ([seed, epoch, batch] coordinates); null
 * or `aug` = NO_AUGMENT gives plain normalisation.
 */
export function augmentBatch(
  ds: Dataset,
  indices: ArrayLike<number>,
  pre: Preprocess,
  aug: AugmentOptions,
  rngWords: readonly number[] | null,
): { x: Float32Array; y: Int32Array } {
  const per = ds.height * ds.width * ds.channels;
  const x = new Float32Array(indices.length * per);
  const y = new Int32Array(indices.length);
  const lut = buildLut(pre.mean, pre.std, ds.channels);
  const active = aug.cropPadding > 0 || aug.flipProb > 0;
  const rng =
    rngWords && active
      ? derivedState([...rngWords.slice(0, 1), RNG_TAG.augment, ...rngWords.slice(1)])
      : null;
  prepareBatch(
    ds.images,
    ds.labels,
    ds.height,
    ds.width,
    ds.channels,
    indices,
    lut,
    aug.cropPadding,
    aug.flipProb,
    rng,
    x,
    y,
  );
  return { x, y };
}
