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
  return (await evaluateAll([forward], ds, pre, batchSize, limit, opts))[0];
}

/**
 * Evaluate several forward functions (a supernet's paths) on the same images in one pass: each batch
 * is made once (a streamed folder is decoded once, not once per path) and run through every forward.
 * The results are those of `evaluate` on each, in order.
 */
export async function evaluateAll(
  forwards: readonly Forward[],
  ds: Split,
  pre: Preprocess,
  batchSize: number,
  limit?: number,
  opts: { skipBadImages?: boolean } = {},
): Promise<EvalResult[]> {
  const view = limit === undefined || limit >= ds.n ? ds : subsetHead(ds, limit);
  const acc = forwards.map(() => ({ top1: 0, top5: 0, lossSum: 0 }));
  let n = 0;
  for await (const batch of splitBatches(view, batchSize, pre, opts.skipBadImages)) {
    const { x, y, size } = batch;
    const xs = tf.tensor4d(x, [size, view.height, view.width, view.channels]);
    const ys = tf.tensor1d(y, "int32");
    try {
      for (const [k, forward] of forwards.entries()) {
        const [out, lossT] = tf.tidy(() => {
          const o = forward(xs);
          return [o, crossEntropy(o, ys)];
        });
        // asynchronous reads: the webgpu backend has no synchronous one under Node
        const logits = (await out.data()) as Float32Array;
        const loss = (await lossT.data())[0];
        out.dispose();
        lossT.dispose();
        const hits = topkHits(logits, view.numClasses, y);
        acc[k].top1 += hits.top1;
        acc[k].top5 += hits.top5;
        acc[k].lossSum += loss * size;
      }
    } finally {
      xs.dispose();
      ys.dispose();
    }
    n += size; // a streamed split with skipBadImages may hold fewer than view.n
  }
  if (n === 0) throw new DataError(`no readable images to evaluate in ${view.source}`);
  return acc.map((a) => ({ top1: a.top1 / n, top5: a.top5 / n, loss: a.lossSum / n, n }));
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
