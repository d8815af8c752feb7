/**
 * The search strategies behind one interface (SearchBase, ./evolution.ts): "evolution" and "random"
 * (./evolution.ts: generations bred from the best so far, or all random) and "aging" (./aging.ts:
 * regularized evolution, steady state). A search run starts or restores one by its options' strategy.
 */
import { AgingSearch } from "./aging.js";
import {
  EvolutionSearch,
  type SearchBase,
  type SearchDeps,
  type SearchOptions,
  type SearchState,
} from "./evolution.js";

export type Search = SearchBase;

export function startSearch(deps: SearchDeps, options: SearchOptions, seed: number): Search {
  return options.strategy === "aging"
    ? AgingSearch.start(deps, options, seed)
    : EvolutionSearch.start(deps, options, seed);
}

export function restoreSearch(deps: SearchDeps, state: SearchState): Search {
  return state.options.strategy === "aging"
    ? AgingSearch.restore(deps, state)
    : EvolutionSearch.restore(deps, state);
}
