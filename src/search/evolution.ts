/**
 * Evolutionary architecture search after SPOS (Guo et al., 2020): a population of candidates that
 * satisfy the constraint; each generation evaluates the new ones, keeps the best `parents` of everything
 * evaluated so far, and breeds the next population from them by mutation (each cell re-drawn with
 * probability `mutationProb`) and uniform crossover, topped up with random candidates.
 *
 * Pure: the cost function, the evaluator and the proposal distribution are injected; the RNG is seeded
 * and its state, with everything else needed to continue, is in `state()`. A search restored from a
 * saved state continues exactly as the uninterrupted one would. No candidate is evaluated twice.
 */

import type { SpaceConfig } from "../config/schema.js";
import { PsvitError } from "../errors.js";
import { type Arch, CELL_CHOICES, type Cell, formatArch, parseArch, sampleArch } from "../space/arch.js";
import type { Constraint } from "../space/stats.js";
import { Rng, type RngState } from "../util/rng.js";

export interface Cost {
  flops: number;
  params: number;
}

export interface Evaluated extends Cost {
  arch: string;
  accuracy: number;
  generation: number;
  /** Standard error of `accuracy` on the images it was measured on (absent in older journals). */
  se?: number;
}

export type Strategy = "evolution" | "random" | "aging";

export interface SearchOptions {
  strategy: Strategy;
  population: number;
  generations: number;
  parents: number;
  mutations: number;
  mutationProb: number;
  crossovers: number;
  /** Proposal attempts allowed per candidate wanted before giving up on that kind (SPOS: 10). */
  triesPerCandidate: number;
}

export const DEFAULT_SEARCH_OPTIONS: SearchOptions = {
  strategy: "evolution",
  population: 50,
  generations: 20,
  parents: 10,
  mutations: 25,
  mutationProb: 0.1,
  crossovers: 25,
  triesPerCandidate: 10,
};

export interface SearchDeps {
  space: SpaceConfig;
  constraint: Constraint;
  /** FLOPs and params of an architecture. */
  cost(arch: Arch): Cost;
  /** Fitness (higher is better) of each architecture, in order. Called once per generation. */
  evaluate(archs: Arch[]): Promise<number[]>;
  /** Draws a random architecture (default: uniform over the space); results are still checked. */
  propose?(rng: Rng): Arch | null;
  /** Evaluations the evaluator runs at once (workers); the steady-state aging search keeps them busy. */
  parallel?: number;
}

export interface SearchState {
  version: 1;
  options: SearchOptions;
  constraint: Constraint;
  /** The generation `population` belongs to (== options.generations when done). */
  generation: number;
  rng: RngState;
  /** Candidates of the current generation, not yet evaluated. */
  population: string[];
  history: Evaluated[];
  /** Set when breeding found no candidate that was not evaluated before: the search ends early. */
  exhausted?: boolean;
  /** Aging evolution: the current population, oldest first (./aging.ts). */
  members?: string[];
}

export interface GenerationSummary {
  generation: number;
  evaluated: Evaluated[];
  best: Evaluated;
  meanAccuracy: number;
  /** Why the population came out smaller than asked, if it did. */
  shortfall?: string;
}

/** The search cannot go on (for example nothing satisfies the constraint): a user-facing error, exit 2. */
export class SearchError extends PsvitError {}

/** Rank by accuracy (desc), then FLOPs (asc), then the string: a total order, so runs are reproducible. */
export function compareCandidates(a: Evaluated, b: Evaluated): number {
  return b.accuracy - a.accuracy || a.flops - b.flops || (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0);
}

/** Whether a cost is within the constraint. */
export function satisfies(c: Cost, k: Constraint): boolean {
  return (
    (k.maxFlops === undefined || c.flops <= k.maxFlops) &&
    (k.minFlops === undefined || c.flops >= k.minFlops) &&
    (k.maxParams === undefined || c.params <= k.maxParams)
  );
}

/**
 * What every strategy shares: the saved state and its RNG, the architectures already seen (so no
 * candidate is evaluated twice), acceptance under the constraint, the summary of a generation, and the
 * read-only views of progress.
 */
export abstract class SearchBase {
  protected readonly rng: Rng;
  protected s: SearchState;
  protected readonly seen = new Set<string>();

  protected constructor(
    protected readonly deps: SearchDeps,
    state: SearchState,
  ) {
    this.s = state;
    this.rng = Rng.fromState(state.rng);
    for (const h of state.history) this.seen.add(h.arch);
  }

  get done(): boolean {
    // also done when breeding found no unseen candidate (a small space, searched out)
    return this.s.generation >= this.s.options.generations || this.s.exhausted === true;
  }

  get generation(): number {
    return this.s.generation;
  }

  /** Everything needed to continue (JSON-serialisable). */
  state(): SearchState {
    return structuredClone({ ...this.s, rng: this.rng.state() });
  }

  history(): Evaluated[] {
    return [...this.s.history];
  }

  /** The best `k` candidates evaluated so far. */
  top(k: number): Evaluated[] {
    return [...this.s.history].sort(compareCandidates).slice(0, k);
  }

  /** Candidates the current generation will evaluate. */
  abstract pending(): string[];

  /** Evaluate one generation (a block of `population` candidates). */
  abstract step(): Promise<GenerationSummary>;

  /** The injected proposal distribution (default: uniform over the space). */
  protected proposer(): (rng: Rng) => Arch | null {
    return this.deps.propose ?? ((rng: Rng) => sampleArch(this.deps.space, rng));
  }

  /** Accept `arch` if it satisfies the constraint and is new; remember it. */
  protected accept(arch: Arch | null): string | null {
    if (arch === null) return null;
    const key = formatArch(arch);
    if (this.seen.has(key)) return null;
    if (!satisfies(this.deps.cost(arch), this.deps.constraint)) return null;
    this.seen.add(key);
    return key;
  }

  /** A generation's summary; `exhausted` ends the search and says why. */
  protected summary(
    generation: number,
    evaluated: Evaluated[],
    shortfall: string | undefined,
    exhausted: boolean,
  ): GenerationSummary {
    let why = shortfall;
    if (exhausted) {
      this.s.exhausted = true;
      why = `${why ? `${why}; ` : ""}no unseen candidate is left: the search ends after generation ${generation + 1}`;
    }
    const best = [...evaluated].sort(compareCandidates)[0];
    const meanAccuracy = evaluated.reduce((a, e) => a + e.accuracy, 0) / evaluated.length;
    return { generation, evaluated, best, meanAccuracy, ...(why ? { shortfall: why } : {}) };
  }
}

export class EvolutionSearch extends SearchBase {
  private constructor(deps: SearchDeps, state: SearchState) {
    super(deps, state);
    for (const a of state.population) this.seen.add(a);
  }

  /** A new search: draws the first population. Throws SearchError if no candidate satisfies the constraint. */
  static start(deps: SearchDeps, options: SearchOptions, seed: number): EvolutionSearch {
    const search = new EvolutionSearch(deps, {
      version: 1,
      options,
      constraint: deps.constraint,
      generation: 0,
      rng: new Rng(seed).state(),
      population: [],
      history: [],
    });
    const { archs, shortfall } = search.randomCandidates(options.population);
    if (archs.length === 0)
      throw new SearchError(`no architecture satisfying the constraint was found (${shortfall})`);
    search.s.population = archs;
    return search;
  }

  /** Continue from a saved state. */
  static restore(deps: SearchDeps, state: SearchState): EvolutionSearch {
    if (state.version !== 1) throw new SearchError(`search state version ${state.version} is not supported`);
    return new EvolutionSearch(deps, structuredClone(state));
  }

  /** Candidates waiting to be evaluated in the current generation. */
  pending(): string[] {
    return [...this.s.population];
  }

  /** Evaluate the current population, then breed the next one. */
  async step(): Promise<GenerationSummary> {
    if (this.done) throw new SearchError("the search is finished");
    const generation = this.s.generation;
    const archs = this.s.population.map(parseArch);
    const scores = await this.deps.evaluate(archs);
    if (scores.length !== archs.length) {
      throw new Error(`evaluate: returned ${scores.length} scores for ${archs.length} architectures`);
    }
    const evaluated = archs.map((arch, i) => ({
      arch: this.s.population[i],
      ...this.deps.cost(arch),
      accuracy: scores[i],
      generation,
    }));
    this.s.history.push(...evaluated);
    this.s.generation += 1;
    this.s.population = [];
    let shortfall: string | undefined;
    let exhausted = false;
    if (!this.done) {
      const next = this.nextPopulation();
      this.s.population = next.archs;
      shortfall = next.shortfall;
      exhausted = next.archs.length === 0;
    }
    return this.summary(generation, evaluated, shortfall, exhausted);
  }

  private draw(
    count: number,
    make: () => Arch | null,
    what: string,
  ): { archs: string[]; shortfall?: string } {
    const archs: string[] = [];
    const tries = count * this.s.options.triesPerCandidate;
    for (let t = 0; t < tries && archs.length < count; t++) {
      const key = this.accept(make());
      if (key !== null) archs.push(key);
    }
    return archs.length < count
      ? { archs, shortfall: `${what}: ${archs.length} of ${count} new candidates in ${tries} tries` }
      : { archs };
  }

  private randomCandidates(count: number) {
    const propose = this.proposer();
    return this.draw(count, () => propose(this.rng), "random");
  }

  private nextPopulation(): { archs: string[]; shortfall?: string } {
    const o = this.s.options;
    const shortfalls: string[] = [];
    const archs: string[] = [];
    const take = (r: { archs: string[]; shortfall?: string }) => {
      archs.push(...r.archs);
      if (r.shortfall) shortfalls.push(r.shortfall);
    };
    if (o.strategy === "evolution") {
      const parents = this.top(o.parents).map((e) => parseArch(e.arch));
      take(
        this.draw(Math.min(o.mutations, o.population), () => this.mutate(this.rng.pick(parents)), "mutation"),
      );
      take(
        this.draw(
          Math.min(o.crossovers, o.population - archs.length),
          () => this.crossover(this.rng.pick(parents), this.rng.pick(parents)),
          "crossover",
        ),
      );
    }
    if (archs.length < o.population) take(this.randomCandidates(o.population - archs.length));
    return shortfalls.length ? { archs, shortfall: shortfalls.join("; ") } : { archs };
  }

  /** Each cell re-drawn uniformly with probability mutationProb (SPOS). */
  mutate(parent: Arch): Arch {
    return parent.map((stage) =>
      stage.map(
        (cell): Cell => (this.rng.float() < this.s.options.mutationProb ? this.rng.pick(CELL_CHOICES) : cell),
      ),
    );
  }

  /** Uniform crossover: each cell from either parent with probability ½ (SPOS). */
  crossover(a: Arch, b: Arch): Arch {
    return a.map((stage, s) => stage.map((cell, i) => (this.rng.float() < 0.5 ? cell : b[s][i])));
  }
}

/**
 * The Pareto front of (FLOPs ↓, accuracy ↑): candidates no other candidate beats on both, sorted by
 * FLOPs. Ties in both keep the first by `compareCandidates`.
 */
export function paretoFront<T extends { flops: number; accuracy: number; arch: string }>(items: T[]): T[] {
  const sorted = [...items].sort(
    (a, b) =>
      a.flops - b.flops || b.accuracy - a.accuracy || (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0),
  );
  const front: T[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const it of sorted) {
    if (it.accuracy > best) {
      front.push(it);
      best = it.accuracy;
    }
  }
  return front;
}
