/**
 * Evaluation of a forward function on a dataset: top-1, top-5 and mean cross-entropy (no smoothing), in
 * fixed order with no augmentation, so every candidate of a search sees the same images.
 */
import * as tf from "@tensorflow/tfjs";
import { evalBatches } from "../data/batch.js";
import type { Dataset, Preprocess } from "../data/types.js";
import { crossEntropy, topkHits } from "./loss.js";

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  n: number;
}

export type Forward = (x: tf.Tensor4D) => tf.Tensor2D;

/** Evaluate `forward` on the first `limit` images of `ds` (all by default). */
export async function evaluate(
  forward: Forward,
  ds: Dataset,
  pre: Preprocess,
  batchSize: number,
  limit?: number,
): Promise<EvalResult> {
  const view = limit === undefined || limit >= ds.n ? ds : subsetHead(ds, limit);
  let top1 = 0;
  let top5 = 0;
  let lossSum = 0;
  for (const batch of evalBatches(view, batchSize, pre)) {
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
  }
  const n = view.n;
  return { top1: top1 / n, top5: top5 / n, loss: lossSum / n, n };
}

/** The first `n` images of a dataset (no copy). */
export function subsetHead(ds: Dataset, n: number): Dataset {
  const per = ds.height * ds.width * ds.channels;
  return {
    ...ds,
    n,
    images: ds.images.subarray(0, n * per),
    labels: ds.labels.subarray(0, n) as Dataset["labels"],
  };
}
