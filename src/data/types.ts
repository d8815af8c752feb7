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
  /**
   * Image folders (streamed) only: torchvision's RandomResizedCrop with this area scale and aspect
   * ratio range; null or absent: the eval transform (resize + centre crop), flipped with `flipProb`.
   */
  randomResizedCrop?: { scale: [number, number]; ratio: [number, number] } | null;
}

/** Bytes of one image. */
export function imageBytes(ds: Pick<Dataset, "height" | "width" | "channels">): number {
  return ds.height * ds.width * ds.channels;
}

/**
 * A split of an image folder that is read from disk as it is used (src/data/stream): the folder's
 * index and which of its entries belong to the split. `height`/`width`/`channels` are the model's
 * input, which every image is transformed to.
 */
export interface StreamedSplit {
  kind: "stream";
  index: import("./stream/index.js").FolderIndex;
  /** The index's name in a run directory's cache (data-index-NAME.json): folder, train, val or test. */
  indexName: string;
  /** Positions in `index.files` (a split of the folder). */
  entries: Int32Array;
  /** The labels of `entries`, in order. */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: 1 | 3;
  numClasses: number;
  classNames: string[];
  source: string;
}

/** A split held in memory or streamed from a folder. */
export type Split = Dataset | StreamedSplit;

export function isStreamed(s: Split): s is StreamedSplit {
  return (s as StreamedSplit).kind === "stream";
}
