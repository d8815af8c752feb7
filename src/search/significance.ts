/**
 * How far apart two candidates' fitness must be to mean anything. Every candidate of a search is scored
 * on the same validation images, so an accuracy is a binomial proportion with standard error
 * √(p(1 − p)/n), and two candidates are compared image by image with McNemar's test: only the images
 * one gets right and the other wrong (the discordant pairs) carry information, and under "equally
 * good" each of them is a fair coin. Pure (no tensors, no I/O).
 */

/** Standard error of an accuracy `p` measured on `n` images (0 for n = 0). */
export function accuracySe(p: number, n: number): number {
  if (!(n > 0)) return 0;
  const q = Math.min(1, Math.max(0, p));
  return Math.sqrt((q * (1 - q)) / n);
}

export interface McNemar {
  /** Images `a` gets right and `b` wrong. */
  aOnly: number;
  /** Images `b` gets right and `a` wrong. */
  bOnly: number;
  /** Two-sided exact p-value: the binomial test of aOnly among aOnly + bOnly discordant images at ½. */
  p: number;
  /** The χ² statistic with continuity correction, (|aOnly − bOnly| − 1)² / (aOnly + bOnly) (0 if none). */
  chi2: number;
}

/** log(n!) by summing logs (exact enough for the n of a validation set, and no table needed). */
function logFactorials(n: number): Float64Array {
  const f = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) f[i] = f[i - 1] + Math.log(i);
  return f;
}

/**
 * The two-sided exact binomial p-value of `k` successes in `n` trials at ½: the probability of a count at
 * least as far from n/2 as k, i.e. 2·P(X ≤ min(k, n − k)), capped at 1.
 */
export function binomialTwoSided(k: number, n: number): number {
  if (n === 0) return 1;
  const m = Math.min(k, n - k);
  const lf = logFactorials(n);
  const log2n = n * Math.LN2;
  let tail = 0;
  for (let i = 0; i <= m; i++) tail += Math.exp(lf[n] - lf[i] - lf[n - i] - log2n);
  return Math.min(1, 2 * tail);
}

/** McNemar's test of two candidates' per-image correctness on the same images (1 = right). */
export function mcnemar(a: ArrayLike<number>, b: ArrayLike<number>): McNemar {
  if (a.length !== b.length) {
    throw new Error(`mcnemar: expected two results on the same images, got ${a.length} and ${b.length}`);
  }
  let aOnly = 0;
  let bOnly = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) aOnly++;
    else if (b[i] && !a[i]) bOnly++;
  }
  const d = aOnly + bOnly;
  return {
    aOnly,
    bOnly,
    p: binomialTwoSided(aOnly, d),
    chi2: d === 0 ? 0 : (Math.abs(aOnly - bOnly) - 1) ** 2 / d,
  };
}
