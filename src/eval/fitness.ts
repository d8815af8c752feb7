/**
 * Fitness of a supernet path: top-1 accuracy on a fixed set of validation images with the supernet's
 * inherited weights (no fine-tuning; LayerNorm needs no recalibration). Every candidate of a search sees
 * the same images, in the same order, in batches.
 */
import * as tf from "@tensorflow/tfjs";
import type { SpaceConfig } from "../config/schema.js";
import { evalBatches } from "../data/batch.js";
import type { Dataset, Preprocess } from "../data/types.js";
import { Supernet } from "../model/supernet.js";
import type { Arch } from "../space/arch.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { topkHits } from "../train/loss.js";
import { Rng } from "../util/rng.js";

/** Normalised validation images, ready to cut into batches (transferable to workers). */
export interface FitnessSet {
  x: Float32Array;
  y: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
}

/**
 * The first `limit` images of a seeded permutation of `val` (all of them by default), normalised.
 * Stratification is not needed: a uniform random subset of a balanced split is balanced in expectation,
 * and the same subset serves every candidate.
 */
export function fitnessSet(val: Dataset, pre: Preprocess, seed: number, limit?: number): FitnessSet {
  const n = Math.min(limit ?? val.n, val.n);
  const order = new Rng(seed ^ 0xf17).shuffle(Array.from({ length: val.n }, (_, i) => i)).slice(0, n);
  const per = val.height * val.width * val.channels;
  const images = new Uint8Array(n * per);
  const labels = new Int32Array(n);
  order.forEach((src, dst) => {
    images.set(val.images.subarray(src * per, (src + 1) * per), dst * per);
    labels[dst] = val.labels[src];
  });
  const sub: Dataset = { ...val, n, images, labels };
  const x = new Float32Array(n * per);
  let offset = 0;
  for (const b of evalBatches(sub, 1024, pre)) {
    x.set(b.x, offset);
    offset += b.x.length;
  }
  return {
    x,
    y: labels,
    n,
    height: val.height,
    width: val.width,
    channels: val.channels,
    numClasses: val.numClasses,
  };
}

/**
 * Per-image top-1 correctness (1 = right, by the rule of `topkHits`: ties count for the label, a row
 * with a non-finite score is wrong) of any forward function on `set`, in batches: what McNemar's test
 * of two candidates on the same images needs.
 */
export async function setCorrect(
  forward: (x: tf.Tensor4D) => tf.Tensor2D,
  set: FitnessSet,
  batchSize = 250,
): Promise<Uint8Array> {
  const { height: H, width: W, channels: C, numClasses: K } = set;
  const per = H * W * C;
  const out = new Uint8Array(set.n);
  for (let start = 0; start < set.n; start += batchSize) {
    const size = Math.min(batchSize, set.n - start);
    const t = tf.tidy(() => {
      const x = tf.tensor4d(set.x.subarray(start * per, (start + size) * per), [size, H, W, C]);
      return forward(x);
    });
    // an asynchronous read: the webgpu backend has no synchronous one under Node
    const logits = (await t.data()) as Float32Array;
    t.dispose();
    for (let b = 0; b < size; b++) {
      out[start + b] = topkHits(logits.subarray(b * K, (b + 1) * K), K, [set.y[start + b]]).top1;
    }
  }
  return out;
}

/** Per-image top-1 correctness of the supernet path `arch` on `set` (see `setCorrect`). */
export function pathCorrect(
  net: Supernet,
  arch: Arch,
  set: FitnessSet,
  batchSize = 250,
): Promise<Uint8Array> {
  return setCorrect((x) => net.forward(x, arch), set, batchSize);
}

/** Top-1 accuracy of any forward function on `set`, in batches: the share of `setCorrect`'s hits. */
export async function setAccuracy(
  forward: (x: tf.Tensor4D) => tf.Tensor2D,
  set: FitnessSet,
  batchSize = 250,
): Promise<number> {
  let hits = 0;
  for (const c of await setCorrect(forward, set, batchSize)) hits += c;
  return hits / set.n;
}

/** Top-1 accuracy of the supernet path `arch` on `set`. */
export function pathAccuracy(net: Supernet, arch: Arch, set: FitnessSet, batchSize = 250): Promise<number> {
  return setAccuracy((x) => net.forward(x, arch), set, batchSize);
}

/** The supernet of a run's checkpoint. */
export async function supernetFromCheckpoint(file: string, space: SpaceConfig): Promise<Supernet> {
  const ck = await loadCheckpoint(file);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of ck.params) weights.set(name, t.data);
  return Supernet.fromWeights(space, weights);
}
