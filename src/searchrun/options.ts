/**
 * A search's options from the counts a user gave (any of them left out). Left out, mutations and
 * crossovers are half the population each and parents a fifth (SPOS: 25 + 25 of 50, top 10), so a
 * smaller population keeps SPOS's proportions (at least 2 parents where the population allows: a
 * crossover of one parent with itself is that parent). Counts that make no sense are refused: more
 * parents than the population, more mutations and crossovers than it, mutations that cannot change
 * anything (mutation probability 0) and crossovers of a single parent. Messages name the flags.
 */
import { UsageError } from "../errors.js";
import { DEFAULT_SEARCH_OPTIONS, type SearchOptions, type Strategy } from "../search/evolution.js";

export interface SearchCounts {
  population?: number;
  generations?: number;
  parents?: number;
  mutations?: number;
  mutationProb?: number;
  crossovers?: number;
}

export function resolveSearchOptions(c: SearchCounts, strategy: Strategy): SearchOptions {
  const population = c.population ?? DEFAULT_SEARCH_OPTIONS.population;
  const o: SearchOptions = {
    ...DEFAULT_SEARCH_OPTIONS,
    strategy,
    population,
    generations: c.generations ?? DEFAULT_SEARCH_OPTIONS.generations,
    parents: c.parents ?? Math.min(population, Math.max(2, Math.round(population / 5))),
    mutations: c.mutations ?? Math.floor(population / 2),
    mutationProb: c.mutationProb ?? DEFAULT_SEARCH_OPTIONS.mutationProb,
    crossovers: c.crossovers ?? Math.floor(population / 2),
  };
  if (o.parents > o.population) {
    throw new UsageError(
      `--parents ${o.parents} exceeds --population ${o.population} (the parents are the best candidates of a generation or more; at most the population)`,
    );
  }
  if (o.mutations + o.crossovers > o.population) {
    throw new UsageError(
      `--mutations ${o.mutations} + --crossovers ${o.crossovers} exceed --population ${o.population}`,
    );
  }
  if (strategy === "evolution" && o.mutations > 0 && o.mutationProb === 0) {
    throw new UsageError(
      `--mutation-prob 0 makes each of the ${o.mutations} mutations a copy of its parent, never a new candidate; give a probability > 0 or --mutations 0`,
    );
  }
  if (strategy === "evolution" && o.crossovers > 0 && o.parents === 1) {
    throw new UsageError(
      `--crossovers ${o.crossovers} with --parents 1: a crossover of one parent with itself is that parent; give --parents 2 or more, or --crossovers 0`,
    );
  }
  return o;
}
