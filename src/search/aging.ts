/**
 * Regularized (aging) evolution (Real et al., 2019): a population of `population` candidates, oldest
 * first. The first `population` are random; after that every new candidate is a one-cell mutation of
 * the winner of a tournament (`parents` members drawn at random from the population, the best by
 * fitness), and when it has been evaluated it joins the population and the oldest member leaves, so a
 * candidate survives by being young, not only by being good.
 *
 * Steady state: `parallel` candidates are in flight at once (one per worker); a finished one is
 * committed and the next one bred in the order they were started, so the result does not depend on
 * which worker was faster (deterministic for a seed, like the other strategies). A "generation" is a
 * block of `population` evaluations, so the budgets of all strategies read alike (population ×
 * generations evaluations) and the state is saved after each block. Pure, like ./evolution.ts: cost,
 * evaluator and proposals are injected, the RNG is seeded, `state()` continues exactly. No candidate is
 * evaluated twice.
 */
import { type Arch, CELL_CHOICES, type Cell, parseArch } from "../space/arch.js";
import { Rng } from "../util/rng.js";
import {
  compareCandidates,
  type Evaluated,
  type GenerationSummary,
  SearchBase,
  type SearchDeps,
  SearchError,
  type SearchOptions,
  type SearchState,
  satisfies,
} from "./evolution.js";

export class AgingSearch extends SearchBase {
  /** Fitness by architecture of everything evaluated (the population holds strings). */
  private readonly fitness = new Map<string, Evaluated>();

  private constructor(deps: SearchDeps, state: SearchState) {
    super(deps, state);
    this.s.members ??= [];
    for (const h of state.history) this.fitness.set(h.arch, h);
  }

  static start(deps: SearchDeps, options: SearchOptions, seed: number): AgingSearch {
    const search = new AgingSearch(deps, {
      version: 1,
      options,
      constraint: deps.constraint,
      generation: 0,
      rng: new Rng(seed).state(),
      population: [],
      history: [],
      members: [],
    });
    // probe that the constraint can be met at all (the first candidate is drawn again in step())
    const probe = Rng.fromState(search.rng.state());
    const propose = search.proposer();
    let ok = false;
    for (let t = 0; t < options.triesPerCandidate * options.population && !ok; t++) {
      const a = propose(probe);
      ok = a !== null && satisfies(deps.cost(a), deps.constraint);
    }
    if (!ok) throw new SearchError("no architecture satisfying the constraint was found");
    return search;
  }

  static restore(deps: SearchDeps, state: SearchState): AgingSearch {
    if (state.version !== 1) throw new SearchError(`search state version ${state.version} is not supported`);
    return new AgingSearch(deps, structuredClone(state));
  }

  /** The candidates this block will evaluate: `population` of them (bred as it goes). */
  pending(): string[] {
    return Array.from({ length: this.s.options.population }, () => "");
  }

  /** The current population, oldest first. */
  members(): string[] {
    return [...(this.s.members ?? [])];
  }

  /** One block of `population` evaluations, `parallel` in flight, committed in the order started. */
  async step(): Promise<GenerationSummary> {
    if (this.done) throw new SearchError("the search is finished");
    const generation = this.s.generation;
    const o = this.s.options;
    const width = Math.max(1, Math.floor(this.deps.parallel ?? 1));
    const evaluated: Evaluated[] = [];
    const shortfalls: string[] = [];
    // in flight: [arch, its evaluation], in the order started
    const inFlight: { key: string; arch: Arch; score: Promise<number[]> }[] = [];
    let started = 0;
    const launch = (): boolean => {
      const bred = this.breed();
      if (bred.shortfall) shortfalls.push(bred.shortfall);
      if (bred.key === null) return false;
      const arch = parseArch(bred.key);
      const score = this.deps.evaluate([arch]);
      score.catch(() => {}); // awaited in order below; a failure after an earlier one is not unhandled
      inFlight.push({ key: bred.key, arch, score });
      started++;
      return true;
    };
    let exhausted = false;
    while (started < width && started < o.population) if (!launch()) break;
    while (inFlight.length > 0) {
      const next = inFlight.shift()!;
      const scores = await next.score;
      if (scores.length !== 1)
        throw new Error(`evaluate: returned ${scores.length} scores for 1 architecture`);
      const e: Evaluated = { arch: next.key, ...this.deps.cost(next.arch), accuracy: scores[0], generation };
      this.commit(e);
      evaluated.push(e);
      if (started < o.population && !exhausted && !launch()) exhausted = true;
    }
    if (evaluated.length < o.population) exhausted = true;
    this.s.generation += 1;
    const shortfall = shortfalls.length ? [...new Set(shortfalls)].join("; ") : undefined;
    if (evaluated.length === 0) throw new SearchError(`no new candidate could be drawn (${shortfall})`);
    return this.summary(generation, evaluated, shortfall, exhausted && !this.done);
  }

  /** An evaluated candidate joins the population; past `population` members, the oldest leaves. */
  private commit(e: Evaluated): void {
    this.s.history.push(e);
    this.fitness.set(e.arch, e);
    const members = this.s.members!;
    members.push(e.arch);
    if (members.length > this.s.options.population) members.shift();
  }

  /**
   * The next candidate: random while the population is filling (counting those in flight), else a
   * one-cell mutation of a tournament's winner; bounded retries, then a random one; null when none is new.
   */
  private breed(): { key: string | null; shortfall?: string } {
    const o = this.s.options;
    const tries = o.triesPerCandidate;
    const members = this.s.members!;
    const filling = this.s.history.length + this.pendingCount() < o.population || members.length === 0;
    if (!filling) {
      const parent = parseArch(this.tournament(members));
      for (let t = 0; t < tries; t++) {
        const key = this.accept(this.mutateOne(parent));
        if (key !== null) return { key };
      }
    }
    const propose = this.proposer();
    for (let t = 0; t < tries * 10; t++) {
      const key = this.accept(propose(this.rng));
      if (key !== null)
        return filling
          ? { key }
          : { key, shortfall: `mutation: no new child in ${tries} tries, a random one instead` };
    }
    return { key: null, shortfall: `random: no new candidate in ${tries * 10} tries` };
  }

  /** Candidates accepted but not yet committed (in flight). */
  private pendingCount(): number {
    return this.seen.size - this.s.history.length;
  }

  /** `parents` distinct members drawn uniformly; the fittest wins. */
  private tournament(members: string[]): string {
    const size = Math.max(1, Math.min(this.s.options.parents, members.length));
    const drawn = this.rng.shuffle([...members]).slice(0, size);
    return drawn.map((m) => this.fitness.get(m)!).sort(compareCandidates)[0].arch;
  }

  /** One cell changed to another choice (the mutation of Real et al.). */
  mutateOne(parent: Arch): Arch {
    const cells: [number, number][] = [];
    parent.forEach((stage, s) => {
      stage.forEach((_, i) => {
        cells.push([s, i]);
      });
    });
    const [s, i] = this.rng.pick(cells);
    const others = CELL_CHOICES.filter((c) => c !== parent[s][i]);
    const child = parent.map((stage) => [...stage]) as Cell[][];
    child[s][i] = this.rng.pick(others);
    return child;
  }
}
