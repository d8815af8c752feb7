/** Subsets and the seeded, stratified validation carve-out. Pure. */
import { UsageError } from "../errors.js";
import { derivedRng, permutation, RNG_TAG } from "./seed.js";
import type { Dataset, LabelArray } from "./types.js";
import { imageBytes } from "./types.js";

/** The images at `indices` (in that order) as a new Dataset. */
export function subset(ds: Dataset, indices: ArrayLike<number>, source = ds.source): Dataset {
  const per = imageBytes(ds);
  const images = new Uint8Array(indices.length * per);
  const labels: LabelArray =
    ds.labels instanceof Int32Array
      ? new Int32Array(indices.length)
      : ds.labels instanceof Uint16Array
        ? new Uint16Array(indices.length)
        : new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    images.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = ds.labels[i];
  }
  return { ...ds, images, labels, n: indices.length, source };
}

/** Images per class. */
export function classCounts(ds: { labels: ArrayLike<number>; numClasses: number }): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < ds.labels.length; i++) counts[ds.labels[i]]++;
  return counts;
}

/**
 * How many of each class go to validation so that the total is `total`: proportional to the class
 * counts, rounded by largest remainder (ties to the lower class index).
 */
export function stratifiedQuota(counts: number[], total: number): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((c) => (c * total) / n);
  const quota = exact.map(Math.floor);
  let left = total - quota.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    if (quota[i] < counts[i]) {
      quota[i]++;
      left--;
    }
  }
  return quota;
}

export interface SplitOptions {
  seed: number;
  /** Fraction of the training set held out for validation (default 0.1). */
  valFraction?: number;
  /** Exact number held out (overrides valFraction). */
  valSize?: number;
}

/** The validation size these options ask for, out of n. Throws UsageError when it makes no sense. */
export function valCount(n: number, opts: SplitOptions): number {
  if (opts.valSize !== undefined) {
    if (!Number.isInteger(opts.valSize) || opts.valSize < 1 || opts.valSize >= n) {
      throw new UsageError(
        `--val-size must be an integer in [1, ${n - 1}] for ${n} training images, got ${opts.valSize}`,
      );
    }
    return opts.valSize;
  }
  const f = opts.valFraction ?? 0.1;
  if (!(f > 0 && f < 1)) throw new UsageError(`--val-fraction must be in (0, 1), got ${f}`);
  const k = Math.round(n * f);
  if (k < 1 || k >= n) throw new UsageError(`--val-fraction ${f} of ${n} images leaves an empty split`);
  return k;
}

/**
 * Which images of a labelled set go to validation: stratified by class, chosen with a generator
 * seeded from (seed, "split", class). Both index lists keep the original order. Shared by in-memory
 * data (splitTrainVal) and image folders, which carve their index (src/data/stream/split.ts).
 */
export function carveIndices(
  labels: ArrayLike<number>,
  numClasses: number,
  opts: SplitOptions,
): { train: Int32Array; val: Int32Array } {
  const n = labels.length;
  const total = valCount(n, opts);
  const counts = classCounts({ labels, numClasses });
  const quota = stratifiedQuota(counts, total);
  const byClass: number[][] = counts.map(() => []);
  for (let i = 0; i < n; i++) byClass[labels[i]].push(i);
  const isVal = new Uint8Array(n);
  for (let c = 0; c < byClass.length; c++) {
    const members = byClass[c];
    if (members.length === 0) continue;
    const perm = permutation(members.length, derivedRng([opts.seed, RNG_TAG.split, c]));
    for (let k = 0; k < quota[c]; k++) isVal[members[perm[k]]] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) (isVal[i] ? val : train).push(i);
  return { train: Int32Array.from(train), val: Int32Array.from(val) };
}

/** Carve a validation set out of `ds` (carveIndices). */
export function splitTrainVal(ds: Dataset, opts: SplitOptions): { train: Dataset; val: Dataset } {
  const { train, val } = carveIndices(ds.labels, ds.numClasses, opts);
  return { train: subset(ds, train), val: subset(ds, val) };
}
