/**
 * Loss and accuracy. Label smoothing as timm's LabelSmoothingCrossEntropy: the target is
 * (1 − ε)·onehot + ε/K, the loss its cross-entropy with softmax(logits), averaged over the batch.
 */
import * as tf from "@tensorflow/tfjs";

/** Mean label-smoothed cross-entropy of logits [B, K] against int32 labels [B]. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0): tf.Scalar {
  const [B, K] = logits.shape;
  if (labels.shape[0] !== B) {
    throw new Error(`crossEntropy: ${B} rows of logits but ${labels.shape[0]} labels`);
  }
  return tf.tidy(() =>
    softCrossEntropy(
      logits,
      tf
        .oneHot(labels, K)
        .mul(1 - smoothing)
        .add(smoothing / K) as tf.Tensor2D,
    ),
  );
}

/**
 * Mean cross-entropy of logits [B, K] against soft targets [B, K] (rows of probabilities, held constant:
 * no gradient flows into them): the student's loss of in-place distillation, whose targets are the
 * largest path's softmax.
 */
export function softCrossEntropy(logits: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  const [B, K] = logits.shape;
  const [TB, TK] = target.shape;
  if (TB !== B || TK !== K) {
    throw new Error(`softCrossEntropy: logits [${B}, ${K}] but targets [${TB}, ${TK}]`);
  }
  return tf.tidy(() => tf.neg(tf.sum(target.mul(tf.logSoftmax(logits)), 1)).mean() as tf.Scalar);
}

/** Top-1 and top-5 hits of a batch of logits (row-major [B, K]) against labels; rows holding NaN or ±∞ never hit. */
export function topkHits(
  logits: Float32Array,
  K: number,
  labels: ArrayLike<number>,
): { top1: number; top5: number } {
  const B = labels.length;
  let top1 = 0;
  let top5 = 0;
  for (let b = 0; b < B; b++) {
    const row = logits.subarray(b * K, (b + 1) * K);
    const target = row[labels[b]];
    // rank = how many classes score strictly higher (ties count in the label's favour); a row with a
    // non-finite score is never a hit (NaN compares false, which would rank the label first)
    let higher = 0;
    let finite = true;
    for (let k = 0; k < K; k++) {
      if (!Number.isFinite(row[k])) finite = false;
      if (row[k] > target) higher++;
    }
    if (!finite) continue;
    if (higher === 0) top1++;
    if (higher < 5) top5++;
  }
  return { top1, top5 };
}
