import { describe, expect, it } from "vitest";
import { loadSpaceConfig } from "../../src/config/load.js";
import { countModel } from "../../src/flops/count.js";
import { AgingSearch } from "../../src/search/aging.js";
import {
  DEFAULT_SEARCH_OPTIONS,
  type SearchDeps,
  SearchError,
  type SearchOptions,
} from "../../src/search/evolution.js";
import { restoreSearch, startSearch } from "../../src/search/strategies.js";
import { type Arch, formatArch, materialize, parseArch } from "../../src/space/arch.js";
import { ConstrainedSampler, type Constraint, flopsDistribution, quantile } from "../../src/space/stats.js";
import { Rng } from "../../src/util/rng.js";
import { ROOT } from "../helpers.js";

const space = loadSpaceConfig(`${ROOT}/search-spaces/fmnist-2d.json`);
const cost = (arch: Arch) => {
  const c = countModel(materialize(space, arch));
  return { flops: c.flops, params: c.params };
};
const median = quantile(flopsDistribution(space), 0.5);

/** A synthetic fitness with structure to find (S cells early good, identity bad) plus hash noise. */
function fitness(arch: Arch): number {
  const text = formatArch(arch);
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  let score = 0;
  for (const [s, stage] of arch.entries())
    for (const c of stage) score += c === "S" ? 3 - s : c === "B" ? 1 : 0;
  return score + (h % 100) / 1000;
}

/** Deps whose evaluations finish after a random delay (another order than they started) when `jitter`. */
function deps(
  constraint: Constraint,
  o: { parallel?: number; jitter?: number; log?: string[] } = {},
): SearchDeps {
  const exact = new ConstrainedSampler(space, constraint);
  const delays = new Rng(o.jitter ?? 0);
  let inFlight = 0;
  let maxInFlight = 0;
  const d: SearchDeps & { maxInFlight: () => number } = {
    space,
    constraint,
    cost,
    parallel: o.parallel,
    propose: (rng: Rng) => exact.sample(rng),
    evaluate: async (archs) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      o.log?.push(...archs.map(formatArch));
      if (o.jitter !== undefined) await new Promise((r) => setTimeout(r, Math.floor(delays.float() * 4)));
      inFlight--;
      return archs.map(fitness);
    },
    maxInFlight: () => maxInFlight,
  };
  return d;
}

const opts: SearchOptions = {
  ...DEFAULT_SEARCH_OPTIONS,
  strategy: "aging",
  population: 16,
  generations: 5,
  parents: 4,
};

async function runAll(s: ReturnType<typeof startSearch>) {
  while (!s.done) await s.step();
  return s;
}

describe("aging (regularized) evolution", () => {
  it("every candidate satisfies the constraint, none is evaluated twice, population × generations evaluations", async () => {
    const c: Constraint = { maxFlops: median };
    const log: string[] = [];
    const s = await runAll(startSearch(deps(c, { log }), opts, 1));
    expect(s).toBeInstanceOf(AgingSearch);
    expect(log).toHaveLength(16 * 5);
    expect(new Set(log).size).toBe(log.length);
    for (const e of s.history()) expect(e.flops).toBeLessThanOrEqual(median);
  });

  it("the population is the last `population` evaluated (the oldest leaves); children are one-cell mutations", async () => {
    const s = (await runAll(startSearch(deps({ maxFlops: median }), opts, 2))) as AgingSearch;
    const h = s.history();
    expect(s.members()).toEqual(h.slice(-16).map((e) => e.arch));
    // after the first 16 (random), each child differs from some earlier member in exactly one cell, unless
    // mutation found nothing new (then a random one): most are mutations
    const cells = (a: string) => parseArch(a).flat();
    let mutations = 0;
    for (let i = 16; i < h.length; i++) {
      const child = cells(h[i].arch);
      const pool = h.slice(Math.max(0, i - 16), i);
      if (pool.some((p) => cells(p.arch).filter((c, j) => c !== child[j]).length === 1)) mutations++;
    }
    expect(mutations).toBeGreaterThan((h.length - 16) * 0.9);
  });

  it("finds more than random search on the synthetic fitness (same evaluations)", async () => {
    const c: Constraint = { maxFlops: median };
    const best = async (strategy: SearchOptions["strategy"], seed: number) =>
      (await runAll(startSearch(deps(c), { ...opts, strategy, generations: 8 }, seed))).top(1)[0].accuracy;
    let aging = 0;
    let random = 0;
    for (const seed of [1, 2, 3]) {
      aging += await best("aging", seed);
      random += await best("random", seed);
    }
    expect(aging).toBeGreaterThan(random);
  });

  it("steady state: `parallel` evaluations in flight; the result does not depend on which finishes first", async () => {
    const c: Constraint = { maxFlops: median };
    const serial = await runAll(startSearch(deps(c), opts, 7));
    const d = deps(c, { parallel: 3, jitter: 11 }) as SearchDeps & { maxInFlight: () => number };
    const parallel = await runAll(startSearch(d, opts, 7));
    expect(d.maxInFlight()).toBe(3);
    // breeding waits for the candidate started first: in flight are only those bred before it committed,
    // so with parallel > 1 the children differ from the serial run, but two parallel runs agree
    const again = await runAll(startSearch(deps(c, { parallel: 3, jitter: 99 }), opts, 7));
    expect(again.history()).toEqual(parallel.history());
    expect(serial.history()).toHaveLength(parallel.history().length);
  });

  it("a search restored from its state after any generation continues exactly (deterministic for a seed)", async () => {
    const c: Constraint = { maxFlops: median };
    const whole = await runAll(startSearch(deps(c, { parallel: 2, jitter: 1 }), opts, 5));
    for (const stopAt of [1, 3]) {
      const first = startSearch(deps(c, { parallel: 2, jitter: 2 }), opts, 5);
      for (let g = 0; g < stopAt; g++) await first.step();
      const state = JSON.parse(JSON.stringify(first.state()));
      const resumed = await runAll(restoreSearch(deps(c, { parallel: 2, jitter: 3 }), state));
      expect(resumed.history()).toEqual(whole.history());
    }
  });

  it("a space searched out ends the search early; an impossible constraint is refused", async () => {
    // fmnist-2d cells: 3^18 architectures, but under the smallest cost only the all-identity one fits
    const tiny = { maxFlops: cost(parseArch("IIIIII-IIIIII-IIIIII")).flops };
    const s = startSearch(deps(tiny), { ...opts, population: 4 }, 1);
    const g = await s.step();
    expect(g.evaluated).toHaveLength(1);
    expect(g.shortfall).toContain("no unseen candidate is left");
    expect(s.done).toBe(true);
    expect(() => startSearch(deps({ maxFlops: 1 }), opts, 1)).toThrow(SearchError);
  });
});
