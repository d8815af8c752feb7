/**
 * Statistics of a search space without enumerating its 3^cells architectures.
 *
 * Every cell of a stage sees the same sequence length, so a stage's FLOPs and params depend only on how
 * many of its cells chose B and S (nB, nS), not on where they stand: (nB + nS) `attn` layers and nS
 * `reuse` layers. A stage with c cells has (c+1)(c+2)/2 such options, each standing for
 * c! / (nB! nS! nI!) architectures; the space's distribution is the convolution of the per-stage ones
 * plus the fixed cost (patch embedding, pools, head). Counts are BigInt so that they stay exact for
 * any space. Pure.
 */
import { stageGeometry } from "../config/geometry.js";
import type { SpaceConfig } from "../config/schema.js";
import { attnLayerCost, type Cost, countModel, reuseLayerCost } from "../flops/count.js";
import type { Rng } from "../util/rng.js";
import { type Arch, type Cell, materialize, spaceSize, uniformArch } from "./arch.js";

export interface StageOption extends Cost {
  nB: number;
  nS: number;
  /** Architectures of this stage with these counts: multinomial(cells; nB, nS, nI). */
  count: bigint;
}

const factorials: bigint[] = [1n];
function factorial(n: number): bigint {
  for (let i = factorials.length; i <= n; i++) factorials.push(factorials[i - 1] * BigInt(i));
  return factorials[n];
}

/** Cost of the cheapest architecture: everything but the layers (patch embedding, pools, head). */
export function fixedCost(space: SpaceConfig): Cost {
  const c = countModel(materialize(space, uniformArch(space, "I")));
  return { flops: c.flops, params: c.params };
}

/** Per stage, the (nB, nS) options with their FLOPs, params (layers only) and multiplicity. */
export function stageOptions(space: SpaceConfig): StageOption[][] {
  const geometry = stageGeometry(space);
  return space.stages.map((stage, s) => {
    const N = geometry[s].seqLen;
    const a = attnLayerCost(N, stage.dim, space.mlpRatio);
    const r = reuseLayerCost(N, stage.dim, space.mlpRatio);
    const options: StageOption[] = [];
    for (let nB = 0; nB <= stage.cells; nB++) {
      for (let nS = 0; nB + nS <= stage.cells; nS++) {
        const nI = stage.cells - nB - nS;
        options.push({
          nB,
          nS,
          count: factorial(stage.cells) / (factorial(nB) * factorial(nS) * factorial(nI)),
          flops: (nB + nS) * a.flops + nS * r.flops,
          params: (nB + nS) * a.params + nS * r.params,
        });
      }
    }
    return options;
  });
}

/** The FLOPs of the space's architectures as sorted distinct values with exact counts. */
export interface Distribution {
  values: number[];
  counts: bigint[];
  size: bigint;
}

/** Convolve the stages' option lists, keyed by `key`. */
function convolve<K>(
  space: SpaceConfig,
  key: (flops: number, params: number) => K,
): Map<K, { flops: number; params: number; count: bigint }> {
  const fixed = fixedCost(space);
  let acc = new Map<K, { flops: number; params: number; count: bigint }>([
    [key(fixed.flops, fixed.params), { ...fixed, count: 1n }],
  ]);
  for (const options of stageOptions(space)) {
    const next = new Map<K, { flops: number; params: number; count: bigint }>();
    for (const a of acc.values()) {
      for (const o of options) {
        const flops = a.flops + o.flops;
        const params = a.params + o.params;
        const k = key(flops, params);
        const prev = next.get(k);
        if (prev) prev.count += a.count * o.count;
        else next.set(k, { flops, params, count: a.count * o.count });
      }
    }
    acc = next;
  }
  return acc;
}

export function flopsDistribution(space: SpaceConfig): Distribution {
  const entries = [...convolve(space, (f) => f).values()].sort((a, b) => a.flops - b.flops);
  return {
    values: entries.map((e) => e.flops),
    counts: entries.map((e) => e.count),
    size: entries.reduce((n, e) => n + e.count, 0n),
  };
}

/** The value at 0-based rank `rank` of the sorted multiset. */
export function valueAtRank(dist: Distribution, rank: bigint): number {
  let cum = 0n;
  for (let i = 0; i < dist.values.length; i++) {
    cum += dist.counts[i];
    if (rank < cum) return dist.values[i];
  }
  return dist.values[dist.values.length - 1];
}

/** Nearest-rank quantile: the smallest value v with at least ceil(q·size) architectures ≤ v (q=0: min). */
export function quantile(dist: Distribution, q: number): number {
  if (q <= 0) return dist.values[0];
  // ceil(q·size) computed in BigInt with q at 1e-9 resolution
  const scale = 1_000_000_000n;
  const num = BigInt(Math.round(q * 1e9)) * dist.size;
  const need = (num + scale - 1n) / scale;
  return valueAtRank(dist, need > 0n ? need - 1n : 0n);
}

export interface Constraint {
  /** Keep architectures with FLOPs ≤ maxFlops. */
  maxFlops?: number;
  /** Keep architectures with FLOPs ≥ minFlops. */
  minFlops?: number;
  /** Keep architectures with params ≤ maxParams. */
  maxParams?: number;
}

export function satisfies(cost: Cost, c: Constraint): boolean {
  return (
    (c.maxFlops === undefined || cost.flops <= c.maxFlops) &&
    (c.minFlops === undefined || cost.flops >= c.minFlops) &&
    (c.maxParams === undefined || cost.params <= c.maxParams)
  );
}

/** How many architectures satisfy `c`, exactly. */
export function countSatisfying(space: SpaceConfig, c: Constraint): bigint {
  const joint = convolve(space, (f, p) => (c.maxParams === undefined ? f : `${f}/${p}`));
  let n = 0n;
  for (const e of joint.values()) if (satisfies(e, c)) n += e.count;
  return n;
}

export interface HistogramBin {
  lo: number;
  hi: number;
  count: bigint;
}

/** `bins` equal-width bins from min to max FLOPs (the last bin includes max). */
export function histogram(dist: Distribution, bins = 20): HistogramBin[] {
  const lo = dist.values[0];
  const hi = dist.values[dist.values.length - 1];
  const width = (hi - lo) / bins || 1;
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({
    lo: lo + i * width,
    hi: i === bins - 1 ? hi : lo + (i + 1) * width,
    count: 0n,
  }));
  for (let i = 0; i < dist.values.length; i++) {
    const b = Math.min(bins - 1, Math.floor((dist.values[i] - lo) / width));
    out[b].count += dist.counts[i];
  }
  return out;
}

export interface SpaceStats {
  size: bigint;
  min: number;
  median: number;
  max: number;
  quantiles: { q: number; flops: number }[];
  histogram: HistogramBin[];
  /** Present when a constraint was given. */
  satisfying?: bigint;
}

export const DEFAULT_QUANTILES = [0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1];

export function spaceStats(space: SpaceConfig, constraint?: Constraint, bins = 20): SpaceStats {
  const dist = flopsDistribution(space);
  const size = spaceSize(space);
  if (dist.size !== size) throw new Error(`spaceStats: distribution holds ${dist.size}, space has ${size}`);
  return {
    size,
    min: dist.values[0],
    // lower median: rank floor((size − 1) / 2)
    median: valueAtRank(dist, (size - 1n) / 2n),
    max: dist.values[dist.values.length - 1],
    quantiles: DEFAULT_QUANTILES.map((q) => ({ q, flops: quantile(dist, q) })),
    histogram: histogram(dist, bins),
    ...(constraint ? { satisfying: countSatisfying(space, constraint) } : {}),
  };
}

/** Uniform BigInt in [0, n). */
function bigIntBelow(rng: Rng, n: bigint): bigint {
  const bits = n.toString(2).length;
  const words = Math.ceil(bits / 32);
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    let x = 0n;
    for (let w = 0; w < words; w++) x = (x << 32n) | BigInt(rng.nextU32());
    x &= mask;
    if (x < n) return x;
  }
}

/**
 * Exact uniform sampling among the architectures that satisfy a constraint, with no rejection: the
 * (nB, nS) combinations across stages that satisfy it are listed once with their multiplicities; a
 * draw picks one in proportion to its count, then places each stage's B and S cells uniformly.
 * Listing costs the product of the stages' option counts (21,952 for 3 stages × 6 cells).
 */
export class ConstrainedSampler {
  private readonly combos: { options: StageOption[]; cum: bigint }[] = [];
  /** Architectures that satisfy the constraint. */
  readonly total: bigint;

  constructor(
    private readonly space: SpaceConfig,
    readonly constraint: Constraint,
  ) {
    const fixed = fixedCost(space);
    const perStage = stageOptions(space);
    let total = 0n;
    const walk = (s: number, flops: number, params: number, count: bigint, chosen: StageOption[]) => {
      if (s === perStage.length) {
        if (!satisfies({ flops, params }, constraint)) return;
        total += count;
        this.combos.push({ options: [...chosen], cum: total });
        return;
      }
      for (const o of perStage[s]) {
        chosen.push(o);
        walk(s + 1, flops + o.flops, params + o.params, count * o.count, chosen);
        chosen.pop();
      }
    };
    walk(0, fixed.flops, fixed.params, 1n, []);
    this.total = total;
  }

  /** One architecture, uniform over those that satisfy the constraint; null if there are none. */
  sample(rng: Rng): Arch | null {
    if (this.total === 0n) return null;
    const r = bigIntBelow(rng, this.total);
    let lo = 0;
    let hi = this.combos.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.combos[mid].cum > r) hi = mid;
      else lo = mid + 1;
    }
    return this.combos[lo].options.map((o, s) => {
      const cells: Cell[] = [];
      for (let i = 0; i < o.nB; i++) cells.push("B");
      for (let i = 0; i < o.nS; i++) cells.push("S");
      while (cells.length < this.space.stages[s].cells) cells.push("I");
      return rng.shuffle(cells);
    });
  }
}
