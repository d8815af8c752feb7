/**
 * Derived generators for the data layer. Every random choice here (validation carve-out, epoch
 * order, augmentation) is a pure function of the run seed and the choice's coordinates, so a resumed
 * run needs nothing but the seed and its position to reproduce it.
 */
import { Rng, type RngState } from "../util/rng.js";
import { seedState } from "./kernels.js";

/** Purpose tags mixed into seeds so that independent streams never share random numbers. */
export const RNG_TAG = {
  split: 0x5b1e,
  permutation: 0x9e43,
  augment: 0xa06e,
  embedded: 0xe3bd,
} as const;

function checkWords(words: readonly number[]): void {
  for (const w of words) {
    if (!Number.isSafeInteger(w) || w < 0) throw new RangeError(`seed words must be integers >= 0, got ${w}`);
  }
}

/** The generator state for coordinates `words` (e.g. [seed, RNG_TAG.permutation, epoch]). */
export function derivedState(words: readonly number[]): Uint32Array {
  checkWords(words);
  return seedState(words);
}

/** A `Rng` (src/util/rng.ts, the same xoshiro128**) started at the state for `words`. */
export function derivedRng(words: readonly number[]): Rng {
  return Rng.fromState(Array.from(derivedState(words)) as RngState);
}

/** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * Epoch e's sample order: the permutation of (seed, "permutation", e), made once and kept while the
 * epoch before it is still being prefetched (older ones are dropped). Shared by the in-memory and the
 * folder batch streams, so both walk their data in the same order for the same seed.
 */
export class EpochOrders {
  private readonly perms = new Map<number, Int32Array>();

  constructor(
    private readonly n: number,
    private readonly seed: number,
  ) {}

  of(epoch: number): Int32Array {
    let p = this.perms.get(epoch);
    if (!p) {
      p = permutation(this.n, derivedRng([this.seed, RNG_TAG.permutation, epoch]));
      this.perms.set(epoch, p);
      for (const e of this.perms.keys()) if (e < epoch - 1) this.perms.delete(e);
    }
    return p;
  }
}
