// Kendall τ of paired values with its 95% percentile-bootstrap interval, resampled with the fixed seed
// every bench script's rank figures have used (Rng(0)), so that their intervals are reproducible.
// Needs `npm run build` (dist/search/rankcorr.js).
import { bootstrapCi, kendallTau } from "../dist/search/rankcorr.js";
import { Rng } from "../dist/util/rng.js";

/** { tau, lo, hi }: tau is NaN where undefined (a constant side); lo and hi are null without an interval. */
export function tauCi(x, y) {
  const ci = bootstrapCi(x, y, kendallTau, new Rng(0));
  return { tau: kendallTau(x, y), lo: ci?.lo ?? null, hi: ci?.hi ?? null };
}
