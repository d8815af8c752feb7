/**
 * The final stage of a search: its top k candidates re-scored on the whole validation split (all of
 * them on the same images), ranked by that accuracy, and the winner tested against the runner-up with
 * McNemar's paired test, so the output can say when the winner is a statistical tie. Pure: the
 * per-image results come from the caller.
 */
import { compareCandidates, type Evaluated } from "./evolution.js";
import { accuracySe, mcnemar } from "./significance.js";

/** A re-scored candidate: accuracy and its standard error on the whole split. */
export interface Rescored extends Evaluated {
  se: number;
  /** The accuracy the search saw (on its fitness set). */
  searchAccuracy: number;
}

export interface FinalStage {
  /** How many candidates were re-scored (the top k of the search, or fewer if it evaluated fewer). */
  k: number;
  /** Validation images each was scored on. */
  images: number;
  /** The re-scored candidates, best first (accuracy, then FLOPs, then the string). */
  ranking: Rescored[];
  /** Winner vs runner-up (null with fewer than 2 candidates). */
  test: { runnerUp: string; aOnly: number; bOnly: number; p: number } | null;
  /** The winner is not significantly better than the runner-up (McNemar p ≥ `alpha`). */
  tied: boolean;
  alpha: number;
}

/** The default k of the final stage. */
export const DEFAULT_RESCORE_TOP = 10;

/**
 * Rank `top` by their per-image results on one set of images (`correct(arch)`: 1 where the candidate's
 * top-1 is right) and test the winner against the runner-up.
 */
export function finalStage(
  top: Evaluated[],
  correct: (arch: string) => ArrayLike<number>,
  alpha = 0.05,
  sameImages?: number,
): FinalStage {
  // `sameImages`: the search already scored every candidate on these `sameImages` images, so its
  // accuracies stand and only the winner and the runner-up are run again (for the paired test)
  const results = new Map<string, ArrayLike<number>>();
  const resultOf = (arch: string) => {
    if (!results.has(arch)) results.set(arch, correct(arch));
    return results.get(arch)!;
  };
  const images = sameImages ?? (top.length ? resultOf(top[0].arch).length : 0);
  const ranking: Rescored[] = top
    .map((e) => {
      let accuracy = e.accuracy;
      if (sameImages === undefined) {
        const r = resultOf(e.arch);
        let hits = 0;
        for (let i = 0; i < r.length; i++) hits += r[i] ? 1 : 0;
        accuracy = r.length ? hits / r.length : 0;
      }
      return { ...e, searchAccuracy: e.accuracy, accuracy, se: accuracySe(accuracy, images) };
    })
    .sort(compareCandidates);
  let test: FinalStage["test"] = null;
  if (ranking.length >= 2) {
    const m = mcnemar(resultOf(ranking[0].arch), resultOf(ranking[1].arch));
    test = { runnerUp: ranking[1].arch, aOnly: m.aOnly, bOnly: m.bOnly, p: m.p };
  }
  return { k: ranking.length, images, ranking, test, tied: test !== null && test.p >= alpha, alpha };
}
