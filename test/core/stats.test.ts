import { describe, expect, it } from "vitest";
import { loadSpaceConfig } from "../../src/config/load.js";
import type { SpaceConfig } from "../../src/config/schema.js";
import { countModel } from "../../src/flops/count.js";
import { type Arch, CELL_CHOICES, type Cell, formatArch, materialize } from "../../src/space/arch.js";
import {
  ConstrainedSampler,
  countSatisfying,
  flopsDistribution,
  histogram,
  quantile,
  satisfies,
  spaceStats,
} from "../../src/space/stats.js";
import { Rng } from "../../src/util/rng.js";
import { ROOT } from "../helpers.js";

/** fmnist-2d cut down to 3 + 2 + 3 cells: 3^8 = 6561 architectures, small enough to enumerate. */
const full = loadSpaceConfig(`${ROOT}/search-spaces/fmnist-2d.json`);
const reduced: SpaceConfig = { ...full, stages: full.stages.map((s, i) => ({ ...s, cells: [3, 2, 3][i] })) };
const reduced1d = loadSpaceConfig(`${ROOT}/search-spaces/fmnist-1d.json`);
reduced1d.stages = reduced1d.stages.map((s, i) => ({ ...s, cells: [2, 3, 2][i] }));

function enumerate(space: SpaceConfig): { arch: Arch; flops: number; params: number }[] {
  const cells = space.stages.reduce((n, s) => n + s.cells, 0);
  const out: { arch: Arch; flops: number; params: number }[] = [];
  for (let code = 0; code < 3 ** cells; code++) {
    let c = code;
    const arch: Arch = space.stages.map((s) =>
      Array.from({ length: s.cells }, () => {
        const cell = CELL_CHOICES[c % 3] as Cell;
        c = Math.floor(c / 3);
        return cell;
      }),
    );
    const cost = countModel(materialize(space, arch));
    out.push({ arch, flops: cost.flops, params: cost.params });
  }
  return out;
}

describe.each([
  ["2D", reduced],
  ["1D with class token", reduced1d],
])("space statistics vs brute force (%s)", (_, space) => {
  const all = enumerate(space);
  const sorted = all.map((a) => a.flops).sort((a, b) => a - b);

  it("size, min, lower median, max", () => {
    const stats = spaceStats(space);
    expect(stats.size).toBe(BigInt(all.length));
    expect(stats.min).toBe(sorted[0]);
    expect(stats.max).toBe(sorted[sorted.length - 1]);
    expect(stats.median).toBe(sorted[Math.floor((sorted.length - 1) / 2)]);
  });

  it("the whole distribution and its quantiles", () => {
    const dist = flopsDistribution(space);
    const counts = new Map<number, number>();
    for (const f of sorted) counts.set(f, (counts.get(f) ?? 0) + 1);
    expect(dist.values).toEqual([...counts.keys()]);
    expect(dist.counts.map(Number)).toEqual([...counts.values()]);
    for (const q of [0.1, 0.25, 0.5, 0.9, 1]) {
      expect(quantile(dist, q)).toBe(sorted[Math.ceil(q * sorted.length) - 1]);
    }
    const bins = histogram(dist, 7);
    expect(bins.reduce((n, b) => n + b.count, 0n)).toBe(BigInt(all.length));
    for (const b of bins) {
      const inBin = sorted.filter((f) => f >= b.lo && (f < b.hi || (b === bins.at(-1) && f <= b.hi))).length;
      expect(Number(b.count)).toBe(inBin);
    }
  });

  it("how many architectures a budget keeps (FLOPs, params, range)", () => {
    const med = sorted[Math.floor(sorted.length / 2)];
    const params = all.map((a) => a.params).sort((a, b) => a - b);
    const constraints = [
      { maxFlops: med },
      { maxFlops: sorted[0] - 1 },
      { maxFlops: sorted.at(-1)! },
      { maxParams: params[Math.floor(params.length / 3)] },
      { maxFlops: med, maxParams: params[Math.floor(params.length / 2)] },
      { minFlops: sorted[100], maxFlops: med },
    ];
    for (const c of constraints) {
      const brute = all.filter((a) => satisfies(a, c)).length;
      expect(countSatisfying(space, c)).toBe(BigInt(brute));
      expect(new ConstrainedSampler(space, c).total).toBe(BigInt(brute));
    }
  });

  it("ConstrainedSampler draws uniformly among the architectures that fit", () => {
    const c = { maxFlops: sorted[Math.floor(sorted.length * 0.02)] };
    const fitting = all.filter((a) => satisfies(a, c));
    expect(fitting.length).toBeGreaterThan(20);
    const sampler = new ConstrainedSampler(space, c);
    const rng = new Rng(5);
    const seen = new Map<string, number>();
    const draws = fitting.length * 60;
    for (let i = 0; i < draws; i++) {
      const arch = sampler.sample(rng)!;
      const cost = countModel(materialize(space, arch));
      expect(satisfies(cost, c)).toBe(true);
      const key = formatArch(arch);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBe(fitting.length);
    const expected = draws / fitting.length;
    const chi2 = [...seen.values()].reduce((x, n) => x + (n - expected) ** 2 / expected, 0);
    // dof = fitting − 1; mean dof, sd sqrt(2·dof): allow 5 sd
    const dof = fitting.length - 1;
    expect(chi2).toBeLessThan(dof + 5 * Math.sqrt(2 * dof));
    expect(new ConstrainedSampler(space, { maxFlops: 1 }).sample(rng)).toBeNull();
  });
});

describe("the full 3^18 spaces", () => {
  it("fmnist-2d: exact stats without enumeration, fast", () => {
    const t0 = performance.now();
    const stats = spaceStats(full, { maxFlops: 25e6 });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(stats.size).toBe(387420489n);
    expect(stats.min).toBe(
      countModel(
        materialize(
          full,
          full.stages.map((s) => Array(s.cells).fill("I")),
        ),
      ).flops,
    );
    expect(stats.max).toBe(
      countModel(
        materialize(
          full,
          full.stages.map((s) => Array(s.cells).fill("S")),
        ),
      ).flops,
    );
    expect(stats.satisfying! > 0n && stats.satisfying! < stats.size).toBe(true);
  });
});
