/**
 * Sampling paths for supernet training and picking the fixed paths it is evaluated on. Pure.
 */
import type { SpaceConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { countModel } from "../flops/count.js";
import { Rng } from "../util/rng.js";
import { human } from "../util/units.js";
import { type Arch, CELL_CHOICES, type Cell, materialize, sampleArch } from "./arch.js";
import {
  ConstrainedSampler,
  type Constraint,
  countSatisfying,
  flopsDistribution,
  satisfies,
} from "./stats.js";

export function archCost(space: SpaceConfig, arch: Arch): { flops: number; params: number } {
  const c = countModel(materialize(space, arch));
  return { flops: c.flops, params: c.params };
}

/**
 * Uniform over the architectures that satisfy `constraint`, by rejection from the uniform distribution
 * over the whole space (each cell uniform over B/S/I, as SPOS samples) with at most `maxTries` draws.
 * Check `checkSatisfiable` once first so an empty range is reported before training starts.
 */
export function rejectionSampler(
  space: SpaceConfig,
  constraint: Constraint,
  maxTries = 10_000,
): (rng: Rng) => Arch {
  const unconstrained = Object.keys(constraint).length === 0;
  return (rng) => {
    for (let t = 0; t < maxTries; t++) {
      const arch = sampleArch(space, rng);
      if (unconstrained || satisfies(archCost(space, arch), constraint)) return arch;
    }
    throw new UsageError(
      `no architecture in range after ${maxTries} draws: the range keeps too little of the space; widen it`,
    );
  };
}

/**
 * How train-supernet draws a step's paths: `uniform` (SPOS), `fair` (choice-balanced, FairNAS-style) or
 * `sandwich` (BigNAS's sandwich rule with in-place distillation).
 */
export type SamplingMode = "uniform" | "fair" | "sandwich";
export const SAMPLING_MODES: readonly SamplingMode[] = ["uniform", "fair", "sandwich"];

/** The paths one supernet training step trains. */
export interface StepPlan {
  paths: Arch[];
  /**
   * In-place distillation: the first path learns the labels, every later one the first's predictions
   * (its softmax, held constant); false: every path learns the labels.
   */
  distil: boolean;
}

/** The paths of each supernet training step, with whatever a checkpoint must keep besides the RNG. */
export interface PathSampler {
  /** One path drawn from the range. */
  next(rng: Rng): Arch;
  /** The paths of one step (SPOS and fair: the one `next` draws). */
  plan(rng: Rng): StepPlan;
  /** State beyond the RNG (null: none), JSON-serialisable. */
  state(): unknown;
  /** Continue from `state()` of an earlier run (a resumed training). */
  restore(state: unknown): void;
}

/** SPOS: every step a path drawn uniformly from those satisfying `constraint` (`rejectionSampler`). */
export function uniformSampler(space: SpaceConfig, constraint: Constraint): PathSampler {
  const draw = rejectionSampler(space, constraint);
  return {
    next: draw,
    plan: (rng) => ({ paths: [draw(rng)], distil: false }),
    state: () => null,
    restore: () => {},
  };
}

/**
 * The sandwich rule with in-place distillation (BigNAS, Yu et al. 2020): every step trains the largest
 * path of the range on the labels, then the smallest and `random` paths drawn uniformly from the range
 * on the largest's predictions, and applies the gradients of all of them in one update. The largest and
 * smallest are those of `representativeArchs` (by FLOPs; a seeded draw among equal costs), fixed for the
 * run. A step costs about 2 + `random` single-path steps. No state besides the RNG.
 */
export function sandwichSampler(space: SpaceConfig, constraint: Constraint, random = 2): PathSampler {
  const draw = rejectionSampler(space, constraint);
  const fixed = representativeArchs(space, constraint, 0);
  const largest = fixed.find((p) => p.label === "largest")!.arch;
  const smallest = fixed.find((p) => p.label === "smallest")!.arch;
  return {
    next: draw,
    plan: (rng) => ({
      paths: [largest, smallest, ...Array.from({ length: random }, () => draw(rng))],
      distil: true,
    }),
    state: () => null,
    restore: () => {},
  };
}

/**
 * FairNAS-style fairness under a FLOPs range: every choice of every cell trained as equally often as the
 * range allows. Strict fairness (FairNAS: each block of 3 steps trains each cell's B, S and I once) is
 * impossible under a budget that keeps only part of the space, since such a block's paths average the
 * whole space's FLOPs. Instead each step draws `candidates` paths uniformly from the range and trains
 * the one whose choices have been trained least so far (the sum over cells of their counts; the first
 * drawn wins ties), then counts it. Without a range this converges to strict fairness' equal counts.
 * The counts are the state a checkpoint keeps.
 */
export function fairSampler(space: SpaceConfig, constraint: Constraint, candidates = 8): PathSampler {
  const draw = rejectionSampler(space, constraint);
  const fresh = () => space.stages.map((st) => Array.from({ length: st.cells }, () => [0, 0, 0]));
  let counts = fresh();
  const idx = (c: Cell) => CELL_CHOICES.indexOf(c);
  const score = (a: Arch) =>
    a.reduce((t, stage, s) => t + stage.reduce((u, c, i) => u + counts[s][i][idx(c)], 0), 0);
  const next = (rng: Rng): Arch => {
    let best = draw(rng);
    let bestScore = score(best);
    for (let k = 1; k < candidates; k++) {
      const a = draw(rng);
      const sc = score(a);
      if (sc < bestScore) {
        best = a;
        bestScore = sc;
      }
    }
    best.forEach((stage, s) => {
      stage.forEach((c, i) => {
        counts[s][i][idx(c)]++;
      });
    });
    return best;
  };
  return {
    next,
    plan: (rng) => ({ paths: [next(rng)], distil: false }),
    state: () => ({ counts: counts.map((st) => st.map((c) => [...c])) }),
    restore(state) {
      const c = (state as { counts?: unknown } | null)?.counts;
      const shape = fresh();
      const ok =
        Array.isArray(c) &&
        c.length === shape.length &&
        c.every(
          (st, s) =>
            Array.isArray(st) &&
            st.length === shape[s].length &&
            st.every(
              (x) => Array.isArray(x) && x.length === 3 && x.every((n) => Number.isInteger(n) && n >= 0),
            ),
        );
      if (!ok) throw new UsageError("checkpoint: the fair sampler's counts do not fit the search space");
      counts = (c as number[][][]).map((st) => st.map((x) => [...x]));
    },
  };
}

export function pathSampler(mode: SamplingMode, space: SpaceConfig, constraint: Constraint): PathSampler {
  if (mode === "fair") return fairSampler(space, constraint);
  if (mode === "sandwich") return sandwichSampler(space, constraint);
  return uniformSampler(space, constraint);
}

/** Throws a UsageError naming the space's FLOPs range when nothing satisfies `constraint`. */
export function checkSatisfiable(space: SpaceConfig, constraint: Constraint, what: string): bigint {
  const n = countSatisfying(space, constraint);
  if (n === 0n) {
    const d = flopsDistribution(space);
    throw new UsageError(
      `${what} keeps no architecture of ${space.name}: its FLOPs run from ${human(d.values[0])} to ${human(d.values.at(-1)!)}`,
    );
  }
  return n;
}

/** Parse `MIN:MAX` FLOPs (either side may be empty), e.g. `10M:40M`, `:30M`. */
export function parseFlopsRange(text: string, parse: (s: string) => number): Constraint {
  const m = /^([^:]*):([^:]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`--flops-range: expected MIN:MAX (e.g. 10M:40M), got ${JSON.stringify(text)}`);
  const c: Constraint = {};
  if (m[1].trim()) c.minFlops = parse(m[1]);
  if (m[2].trim()) c.maxFlops = parse(m[2]);
  if (c.minFlops !== undefined && c.maxFlops !== undefined && c.minFlops > c.maxFlops) {
    throw new UsageError(`--flops-range: minimum ${human(c.minFlops)} is above maximum ${human(c.maxFlops)}`);
  }
  return c;
}

/**
 * The smallest, median and largest FLOPs architectures satisfying `constraint` (ties broken by a seeded
 * uniform draw among the architectures with exactly that cost), for evaluating a supernet each epoch.
 */
export function representativeArchs(
  space: SpaceConfig,
  constraint: Constraint,
  seed: number,
): { label: string; arch: Arch; flops: number }[] {
  const dist = flopsDistribution(space);
  const values: number[] = [];
  const counts: bigint[] = [];
  dist.values.forEach((v, i) => {
    if (satisfies({ flops: v, params: 0 }, { ...constraint, maxParams: undefined })) {
      values.push(v);
      counts.push(dist.counts[i]);
    }
  });
  if (values.length === 0) throw new UsageError(`no architecture of ${space.name} satisfies the constraint`);
  const total = counts.reduce((a, b) => a + b, 0n);
  let rank = (total - 1n) / 2n;
  let med = values[0];
  for (let i = 0; i < values.length; i++) {
    if (rank < counts[i]) {
      med = values[i];
      break;
    }
    rank -= counts[i];
  }
  const rng = new Rng(seed);
  const pick = (label: string, flops: number) => {
    const arch = new ConstrainedSampler(space, { ...constraint, minFlops: flops, maxFlops: flops }).sample(
      rng,
    );
    if (!arch) throw new Error(`representativeArchs: no architecture with ${flops} FLOPs`);
    return { label, arch, flops };
  };
  return [pick("smallest", values[0]), pick("median", med), pick("largest", values.at(-1)!)];
}
