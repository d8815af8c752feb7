import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSpaceConfig } from "../../src/config/validate.js";
import { UsageError } from "../../src/errors.js";
import {
  averageRanks,
  bandArchs,
  bootstrapCi,
  flopsStrata,
  kendallTau,
  pearson,
  spearmanRho,
  stratifiedArchs,
} from "../../src/search/rankcorr.js";
import { formatArch } from "../../src/space/arch.js";
import { archCost } from "../../src/space/sample.js";
import { countSatisfying, flopsDistribution } from "../../src/space/stats.js";
import { Rng } from "../../src/util/rng.js";
import { TINY_SPACE } from "../train/fixtures.js";

// Reference values from scipy 1.10.1: scipy.stats.kendalltau(x, y).statistic (τ-b, the default) and
// scipy.stats.spearmanr(x, y).statistic.
const SCIPY: { name: string; x: number[]; y: number[]; tau: number; rho: number }[] = [
  {
    name: "ties in both samples (scipy's docstring example)",
    x: [12, 2, 1, 12, 2],
    y: [1, 4, 7, 1, 0],
    tau: -0.4714045207910316,
    rho: -0.5407380704358752,
  },
  {
    name: "accuracies on 8 images: ties in x and in y",
    x: [0.5, 0.625, 0.625, 0.75, 0.875, 0.875, 0.375, 0.5],
    y: [0.7, 0.8, 0.75, 0.8, 0.9, 0.85, 0.6, 0.8],
    tau: 0.8,
    rho: 0.8695819912499182,
  },
  {
    name: "12 subnets, no ties",
    x: [0.612, 0.655, 0.701, 0.688, 0.593, 0.72, 0.64, 0.705, 0.668, 0.699, 0.63, 0.714],
    y: [0.801, 0.823, 0.851, 0.844, 0.792, 0.862, 0.815, 0.84, 0.833, 0.857, 0.82, 0.866],
    tau: 0.8181818181818181,
    rho: 0.9370629370629372,
  },
];

describe("kendallTau and spearmanRho", () => {
  it("a case worked by hand: 7 discordant of 45 pairs, Σd² = 22", () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const y = [3, 1, 2, 5, 4, 8, 6, 10, 7, 9];
    // discordant: (3,1) (3,2) (5,4) (8,6) (8,7) (10,7) (10,9); τ = (38 − 7) / 45
    expect(kendallTau(x, y)).toBeCloseTo(31 / 45, 14);
    // no ties: ρ = 1 − 6·Σd² / (n(n² − 1)) = 1 − 132/990
    expect(spearmanRho(x, y)).toBeCloseTo(1 - 132 / 990, 14);
  });

  it("ties by hand: τ-b divides by the pairs untied in each sample", () => {
    // x = [1, 1, 2], y = [1, 2, 3]: pairs (0,1) tied in x, (0,2) and (1,2) concordant.
    // τ-b = 2 / sqrt(2 · 3)
    expect(kendallTau([1, 1, 2], [1, 2, 3])).toBeCloseTo(2 / Math.sqrt(6), 14);
    // average ranks [1.5, 1.5, 3] against [1, 2, 3]: Pearson = 1.5 / sqrt(1.5 · 2)
    expect(spearmanRho([1, 1, 2], [1, 2, 3])).toBeCloseTo(1.5 / Math.sqrt(3), 14);
  });

  for (const c of SCIPY) {
    it(`matches scipy: ${c.name}`, () => {
      expect(kendallTau(c.x, c.y)).toBeCloseTo(c.tau, 12);
      expect(spearmanRho(c.x, c.y)).toBeCloseTo(c.rho, 12);
    });
  }

  it("perfect and inverse orderings give exactly 1 and −1", () => {
    const x = [0.1, 0.4, 0.2, 0.9, 0.5];
    const up = x.map((v) => 3 * v + 1);
    const down = x.map((v) => -v);
    expect(kendallTau(x, up)).toBe(1);
    expect(spearmanRho(x, up)).toBe(1);
    expect(kendallTau(x, down)).toBe(-1);
    expect(spearmanRho(x, down)).toBe(-1);
    expect(kendallTau([1, 2], [2, 1])).toBe(-1);
    // identical rankings with ties are still 1
    expect(kendallTau([1, 1, 2, 3], [5, 5, 6, 9])).toBe(1);
    expect(spearmanRho([1, 1, 2, 3], [5, 5, 6, 9])).toBe(1);
  });

  it("undefined (NaN, as scipy's nan) for a constant sample or fewer than two pairs", () => {
    expect(kendallTau([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearmanRho([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(kendallTau([1], [2])).toBeNaN();
    expect(spearmanRho([], [])).toBeNaN();
    expect(pearson([1], [1])).toBeNaN();
  });

  it("rejects samples of different lengths and non-finite values", () => {
    expect(() => kendallTau([1, 2], [1])).toThrow("different lengths");
    expect(() => spearmanRho([1, 2], [1, Number.NaN])).toThrow("non-finite");
  });

  it("averageRanks: ties share the mean of their ranks (scipy.stats.rankdata)", () => {
    expect(averageRanks([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])).toEqual([4.5, 1.5, 6, 1.5, 7.5, 10, 3, 9, 7.5, 4.5]);
  });

  // small integer values so that ties are common
  const pairs = fc
    .integer({ min: 2, max: 15 })
    .chain((n) =>
      fc.tuple(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: n, maxLength: n }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: n, maxLength: n }),
      ),
    );

  it("property: in [−1, 1] (or NaN when undefined), symmetric, and 1 for identical rankings", () => {
    fc.assert(
      fc.property(pairs, ([x, y]) => {
        for (const f of [kendallTau, spearmanRho]) {
          const r = f(x, y);
          if (!Number.isNaN(r)) {
            expect(r).toBeGreaterThanOrEqual(-1);
            expect(r).toBeLessThanOrEqual(1);
          }
          const swapped = f(y, x);
          if (Number.isNaN(r)) expect(swapped).toBeNaN();
          else expect(swapped).toBeCloseTo(r, 12);
          // a strictly increasing transform keeps the ranking: exactly 1 unless x is constant
          const same = f(
            x,
            x.map((v) => 10 * v + 3),
          );
          if (new Set(x).size > 1) expect(same).toBe(1);
          else expect(same).toBeNaN();
        }
      }),
      { numRuns: 300 },
    );
  });

  it("property: reversing one sample negates both", () => {
    fc.assert(
      fc.property(pairs, ([x, y]) => {
        const neg = y.map((v) => -v);
        for (const f of [kendallTau, spearmanRho]) {
          const r = f(x, y);
          if (Number.isNaN(r)) expect(f(x, neg)).toBeNaN();
          else expect(f(x, neg)).toBeCloseTo(-r, 12);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("stratified sample design", () => {
  const space = parseSpaceConfig(TINY_SPACE);
  const dist = flopsDistribution(space);

  it("flopsStrata: n equal-count FLOPs bins covering the constrained range in order", () => {
    const strata = flopsStrata(space, {}, 4);
    expect(strata).toHaveLength(4);
    expect(strata[0].minFlops).toBe(dist.values[0]);
    expect(strata[3].maxFlops).toBe(dist.values.at(-1));
    for (const [i, s] of strata.entries()) {
      expect(s.minFlops).toBeLessThanOrEqual(s.maxFlops);
      if (i > 0) expect(s.minFlops).toBeGreaterThanOrEqual(strata[i - 1].maxFlops);
      // 81 architectures in 4 bins: each holds at least ⌊81/4⌋ (more where a bin's end cost is shared)
      expect(countSatisfying(space, s)).toBeGreaterThanOrEqual(20n);
    }
    const capped = flopsStrata(space, { maxFlops: 50_000 }, 3);
    expect(capped.at(-1)!.maxFlops).toBeLessThanOrEqual(50_000);
    expect(() => flopsStrata(space, {}, 82)).toThrow(UsageError);
  });

  it("stratifiedArchs: distinct, one per stratum, under the budget, deterministic for a seed", () => {
    const a = stratifiedArchs(space, { maxFlops: 60_000 }, 6, new Rng(5));
    const b = stratifiedArchs(space, { maxFlops: 60_000 }, 6, new Rng(5));
    expect(a.map((d) => formatArch(d.arch))).toEqual(b.map((d) => formatArch(d.arch)));
    expect(new Set(a.map((d) => formatArch(d.arch))).size).toBe(6);
    for (const { arch, stratum } of a) {
      const { flops } = archCost(space, arch);
      expect(flops).toBeLessThanOrEqual(60_000);
      expect(flops).toBeGreaterThanOrEqual(stratum.minFlops);
      expect(flops).toBeLessThanOrEqual(stratum.maxFlops);
    }
  });

  it("stratifiedArchs: asking for the whole space gives every architecture once", () => {
    const all = stratifiedArchs(space, {}, 81, new Rng(1)).map((d) => formatArch(d.arch));
    expect(new Set(all).size).toBe(81);
  });
});

describe("bootstrap interval of a rank correlation", () => {
  it("perfectly concordant pairs: [1, 1]; resamples with a constant side are skipped, not counted", () => {
    const x = [1, 2, 3, 4, 5, 6];
    const ci = bootstrapCi(x, x, kendallTau, new Rng(1), 500)!;
    expect([ci.lo, ci.hi]).toEqual([1, 1]);
    expect(ci.reps).toBeLessThanOrEqual(500);
    // two pairs: a resample draws the same pair twice half the time (τ undefined there): skipped
    const two = bootstrapCi([1, 2], [1, 2], kendallTau, new Rng(1), 400)!;
    expect(two.reps).toBeGreaterThan(150);
    expect(two.reps).toBeLessThan(250);
    expect(bootstrapCi([1, 1, 1], [1, 2, 3], kendallTau, new Rng(1), 50)).toBeNull();
  });
  it("holds the point estimate, widens with the level, shrinks with n, and repeats for a seed", () => {
    const pairs = (n: number, seed: number) => {
      const r = new Rng(seed);
      const x = Array.from({ length: n }, () => r.float());
      return { x, y: x.map((v) => v + 0.5 * r.float()) };
    };
    const { x, y } = pairs(20, 3);
    const tau = kendallTau(x, y);
    const c95 = bootstrapCi(x, y, kendallTau, new Rng(7))!;
    const c50 = bootstrapCi(x, y, kendallTau, new Rng(7), 2000, 0.5)!;
    expect(c95.lo).toBeLessThan(tau);
    expect(c95.hi).toBeGreaterThan(tau);
    expect(c50.lo).toBeGreaterThanOrEqual(c95.lo);
    expect(c50.hi).toBeLessThanOrEqual(c95.hi);
    expect(bootstrapCi(x, y, kendallTau, new Rng(7))).toEqual(c95);
    const big = pairs(200, 3);
    const cBig = bootstrapCi(big.x, big.y, kendallTau, new Rng(7), 500)!;
    expect(cBig.hi - cBig.lo).toBeLessThan(c95.hi - c95.lo);
  });
});

describe("band sampling (architectures of nearly equal cost)", () => {
  it("draws n distinct architectures, all within ±5% of the budget; refuses a band too thin", () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const dist = flopsDistribution(space);
    const budget = dist.values[Math.floor(dist.values.length / 2)];
    const drawn = bandArchs(space, budget, 3, new Rng(2), 0.5);
    expect(new Set(drawn.map((d) => formatArch(d.arch))).size).toBe(3);
    for (const d of drawn) {
      const f = archCost(space, d.arch).flops;
      expect(f).toBeGreaterThanOrEqual(budget * 0.5);
      expect(f).toBeLessThanOrEqual(budget * 1.5);
      expect(d.stratum).toEqual({ minFlops: Math.ceil(budget * 0.5), maxFlops: Math.floor(budget * 1.5) });
    }
    expect(() => bandArchs(space, budget, 1000, new Rng(2), 0.01)).toThrow(UsageError);
  });
});
