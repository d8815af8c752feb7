/** Shared data-layer types. Pure: no I/O, no tfjs. */

/** Class labels, one per image. */
export type LabelArray = Uint8Array | Uint16Array | Int32Array;

/**
 * A labelled image set held in memory: `images` is N·H·W·C bytes in NHWC order (row-major rows,
 * channels interleaved), one label per image in [0, numClasses).
 */
export interface Dataset {
  images: Uint8Array;
  labels: LabelArray;
  n: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  classNames?: string[];
  /** Where the images came from (file, folder or "embedded:..."), for messages and run records. */
  source: string;
}

/** Per-channel normalisation of pixels scaled to [0, 1]: (x − mean) / std (SPEC §1 `preprocess`). */
export interface Preprocess {
  mean: number[];
  std: number[];
}

/** Training-time augmentation, applied on typed arrays while a batch is assembled. */
export interface AugmentOptions {
  /** Random crop: pad every side with `cropPadding` zero (black) pixels, then crop back to size. 0 = off. */
  cropPadding: number;
  /** Probability of a horizontal (left-right) flip. 0 = off. */
  flipProb: number;
}

/** Bytes of one image. */
export function imageBytes(ds: Pick<Dataset, "height" | "width" | "channels">): number {
  return ds.height * ds.width * ds.channels;
}
