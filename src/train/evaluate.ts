/**
 * Evaluation of a forward function on a dataset: top-1, top-5 and mean cross-entropy (no smoothing), in
 * fixed order with no augmentation, so every candidate of a search sees the same images.
 */
import * as tf from "@tensorflow/tfjs";
import { evalBatches } from "../data/batch.js";
import { type Dataset, isStreamed, type Preprocess, type Split } from "../data/types.js";
import { DataError } from "../errors.js";
import { crossEntropy, topkHits } from "./loss.js";

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  n: number;
}

export type Forward = (x: tf.Tensor4D) => tf.Tensor2D;

/** Eval batches of a split: in memory, or streamed from its folder (eval transform, bounded memory). */
async function* splitBatches(ds: Split, batchSize: number, pre: Preprocess, skipBadImages = false) {
  if (!isStreamed(ds)) {
    yield* evalBatches(ds, batchSize, pre);
    return;
  }
  const { FolderBatchStream } = await import("../data/stream/folder-stream.js");
  const stream = new FolderBatchStream(ds.index, {
    batchSize,
    seed: 0,
    size: ds.height,
    channels: ds.channels,
    preprocess: pre,
    shuffle: false,
    crop: null,
    subset: ds.entries,
    skipBadImages,
  });
  try {
    yield* stream.pass();
  } finally {
    await stream.close();
  }
}

/** Evaluate `forward` on the first `limit` images of `ds` (all by default). */
export async function evaluate(
  forward: Forward,
  ds: Split,
  pre: Preprocess,
  batchSize: number,
  limit?: number,
  opts: { skipBadImages?: boolean } = {},
): Promise<EvalResult> {
  const view = limit === undefined || limit >= ds.n ? ds : subsetHead(ds, limit);
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  let n = 0;
  for await (const batch of splitBatches(view, batchSize, pre, opts.skipBadImages)) {
    const { x, y, size } = batch;
    const [out, lossT] = tf.tidy(() => {
      const xs = tf.tensor4d(x, [size, view.height, view.width, view.channels]);
      const o = forward(xs);
      return [o, crossEntropy(o, tf.tensor1d(y, "int32"))];
    });
    // asynchronous reads: the webgpu backend has no synchronous one under Node
    const logits = (await out.data()) as Float32Array;
    const loss = (await lossT.data())[0];
    out.dispose();
    lossT.dispose();
    const hits = topkHits(logits, view.numClasses, y);
    top1 += hits.top1;
    top5 += hits.top5;
    lossSum += loss * size;
    n += size; // a streamed split with skipBadImages may hold fewer than view.n
  }
  if (n === 0) throw new DataError(`no readable images to evaluate in ${view.source}`);
  return { top1: top1 / n, top5: top5 / n, loss: lossSum / n, n };
}

/** The first `n` images of a split (no copy). */
export function subsetHead<S extends Split>(ds: S, n: number): S {
  if (isStreamed(ds))
    return { ...ds, n, entries: ds.entries.subarray(0, n), labels: ds.labels.subarray(0, n) };
  const per = ds.height * ds.width * ds.channels;
  return {
    ...ds,
    n,
    images: ds.images.subarray(0, n * per),
    labels: ds.labels.subarray(0, n) as Dataset["labels"],
  };
}
