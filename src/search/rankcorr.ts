/**
 * Rank correlation of two paired samples, for `psvit rank-corr` (does the supernet's inherited accuracy
 * rank architectures the way training them from scratch does?). Pure: no tfjs, no I/O.
 *
 * - `kendallTau`: Kendall's τ-b, as scipy.stats.kendalltau's default (variant "b"): concordant minus
 *   discordant pairs over sqrt((pairs not tied in x)·(pairs not tied in y)); a pair tied in both counts
 *   in neither. O(n²), meant for the tens of points of a rank-correlation study.
 * - `spearmanRho`: Spearman's ρ as scipy.stats.spearmanr: the Pearson correlation of the average ranks
 *   (tied values share the mean of the ranks they span).
 *
 * Both return NaN where scipy returns nan: fewer than two pairs, or one side constant (every value tied),
 * where the correlation is undefined. They throw on samples of different lengths or non-finite values.
 * Results are clamped to [-1, 1] against rounding, as scipy does.
 *
 * And the sample design: which architectures a rank-correlation study trains (`stratifiedArchs`).
 */
import type { SpaceConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { type Arch, formatArch } from "../space/arch.js";
import {
  ConstrainedSampler,
  type Constraint,
  type Distribution,
  flopsDistribution,
  satisfies,
  valueAtRank,
} from "../space/stats.js";
import type { Rng } from "../util/rng.js";

function check(x: readonly number[], y: readonly number[], what: string): void {
  if (x.length !== y.length) {
    throw new RangeError(`${what}: the samples have different lengths (${x.length} and ${y.length})`);
  }
  for (const v of [...x, ...y]) {
    if (!Number.isFinite(v)) throw new RangeError(`${what}: non-finite value ${v}`);
  }
}

const clamp = (r: number) => Math.max(-1, Math.min(1, r));

/** Kendall's τ-b of paired samples `x`, `y` (ties handled as scipy.stats.kendalltau). */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  check(x, y, "kendallTau");
  const n = x.length;
  let s = 0; // concordant − discordant
  let untiedX = 0; // pairs with x_i ≠ x_j: n0 − n1
  let untiedY = 0; // pairs with y_i ≠ y_j: n0 − n2
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = Math.sign(x[i] - x[j]);
      const dy = Math.sign(y[i] - y[j]);
      s += dx * dy;
      if (dx !== 0) untiedX++;
      if (dy !== 0) untiedY++;
    }
  }
  if (untiedX === 0 || untiedY === 0) return Number.NaN;
  return clamp(s / Math.sqrt(untiedX * untiedY));
}

/** 1-based ranks; tied values get the mean of the ranks they span (scipy.stats.rankdata "average"). */
export function averageRanks(v: readonly number[]): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const ranks = new Array<number>(v.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && v[order[end]] === v[order[start]]) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** Pearson's correlation coefficient; NaN for fewer than two pairs or a constant sample. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  check(x, y, "pearson");
  const n = x.length;
  if (n < 2) return Number.NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return Number.NaN;
  return clamp(sxy / Math.sqrt(sxx * syy));
}

/** Spearman's ρ of paired samples `x`, `y` (Pearson on average ranks, as scipy.stats.spearmanr). */
export function spearmanRho(x: readonly number[], y: readonly number[]): number {
  check(x, y, "spearmanRho");
  return pearson(averageRanks(x), averageRanks(y));
}

/**
 * Sample design of a rank-correlation study: `n` distinct architectures spread over the FLOPs range.
 *
 * Uniform sampling from the space piles up around its median cost (a stage's cost is a sum over cells,
 * so the FLOPs distribution is bell-shaped) and a correlation over a narrow band of costs mostly
 * measures noise. So the architectures that satisfy the constraint, sorted by FLOPs, are cut into `n`
 * strata of equal count (quantile bins: stratum i holds the ranks ⌊i·N/n⌋ … ⌊(i+1)·N/n⌋ − 1 of the N
 * architectures) and one architecture is drawn uniformly from each stratum's FLOPs range with the
 * exact ConstrainedSampler. Strata that share a boundary cost overlap in that cost; a draw that repeats
 * an earlier architecture is redrawn (from the stratum, then, if the stratum holds no new architecture,
 * from the whole constrained space).
 */
export interface Stratum {
  minFlops: number;
  maxFlops: number;
}

/** Only FLOPs bounds: the strata come from the space's exact FLOPs distribution. */
export type FlopsBounds = Pick<Constraint, "minFlops" | "maxFlops">;

/** The `n` equal-count FLOPs strata of the architectures within `bounds` (at least n of them). */
export function flopsStrata(space: SpaceConfig, bounds: FlopsBounds, n: number): Stratum[] {
  const dist = flopsDistribution(space);
  const values: number[] = [];
  const counts: bigint[] = [];
  dist.values.forEach((v, i) => {
    if (satisfies({ flops: v, params: 0 }, bounds)) {
      values.push(v);
      counts.push(dist.counts[i]);
    }
  });
  const kept: Distribution = { values, counts, size: counts.reduce((a, b) => a + b, 0n) };
  const N = kept.size;
  if (N < BigInt(n)) {
    throw new UsageError(`${n} distinct architectures asked for, but only ${N} satisfy the constraint`);
  }
  return Array.from({ length: n }, (_, i) => ({
    minFlops: valueAtRank(kept, (BigInt(i) * N) / BigInt(n)),
    maxFlops: valueAtRank(kept, (BigInt(i + 1) * N) / BigInt(n) - 1n),
  }));
}

/** `n` distinct architectures, one per FLOPs stratum, in order of the strata (cheapest first). */
export function stratifiedArchs(
  space: SpaceConfig,
  bounds: FlopsBounds,
  n: number,
  rng: Rng,
): { arch: Arch; stratum: Stratum }[] {
  const strata = flopsStrata(space, bounds, n);
  const whole = new ConstrainedSampler(space, bounds);
  const seen = new Set<string>();
  const draw = (sampler: ConstrainedSampler, tries: number): Arch | null => {
    for (let t = 0; t < tries; t++) {
      const arch = sampler.sample(rng);
      if (arch && !seen.has(formatArch(arch))) return arch;
    }
    return null;
  };
  return strata.map((stratum) => {
    const arch =
      draw(new ConstrainedSampler(space, { ...bounds, ...stratum }), 64) ?? draw(whole, 1000 + 100 * n);
    if (!arch) throw new Error(`stratifiedArchs: could not draw ${n} distinct architectures`);
    seen.add(formatArch(arch));
    return { arch, stratum };
  });
}

/**
 * The other sample design: `n` distinct architectures drawn uniformly (exactly) from those whose FLOPs
 * lie within ±`halfWidth` of `budget` — architectures of nearly equal cost, among which the search has
 * to choose (across the whole FLOPs range a ranking mostly follows size). Each comes with the band as
 * its stratum.
 */
export function bandArchs(
  space: SpaceConfig,
  budget: number,
  n: number,
  rng: Rng,
  halfWidth = 0.05,
): { arch: Arch; stratum: Stratum }[] {
  const band: Stratum = {
    minFlops: Math.ceil(budget * (1 - halfWidth)),
    maxFlops: Math.floor(budget * (1 + halfWidth)),
  };
  const sampler = new ConstrainedSampler(space, band);
  const seen = new Set<string>();
  const out: { arch: Arch; stratum: Stratum }[] = [];
  for (let t = 0; t < 1000 + 100 * n && out.length < n; t++) {
    const arch = sampler.sample(rng);
    if (!arch) break;
    const key = formatArch(arch);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ arch, stratum: band });
  }
  if (out.length < n) {
    throw new UsageError(
      `the FLOPs band ${band.minFlops}–${band.maxFlops} (±${halfWidth * 100}% of ${budget}) holds fewer than ${n} distinct architectures`,
    );
  }
  return out;
}

/** A bootstrap confidence interval: the `level` percentile interval of `reps` resampled statistics. */
export interface Interval {
  lo: number;
  hi: number;
  level: number;
  /** Resamples where the statistic was defined (a resample with a constant side is skipped). */
  reps: number;
}

/**
 * Percentile bootstrap of a paired statistic (e.g. `kendallTau`): resample the n pairs with replacement
 * `reps` times. Null when the statistic is undefined in every resample.
 */
export function bootstrapCi(
  x: readonly number[],
  y: readonly number[],
  stat: (x: readonly number[], y: readonly number[]) => number,
  rng: Rng,
  reps = 2000,
  level = 0.95,
): Interval | null {
  check(x, y, "bootstrapCi");
  const n = x.length;
  const values: number[] = [];
  const bx = new Array<number>(n);
  const by = new Array<number>(n);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      bx[i] = x[j];
      by[i] = y[j];
    }
    const v = stat(bx, by);
    if (!Number.isNaN(v)) values.push(v);
  }
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.floor(q * values.length)))];
  return { lo: at((1 - level) / 2), hi: at(1 - (1 - level) / 2), level, reps: values.length };
}
