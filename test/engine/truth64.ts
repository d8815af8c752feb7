/**
 * Float64 evaluations of the engine's ops (the truth the hostile-input tests measure errors against) and
 * the comparison they use: an op may err against the truth by a small tolerance plus 4× the float32
 * reference's own error, and must be finite wherever the reference is.
 */
import { randn } from "./helpers.js";

type Arr = Float32Array;

/**
 * got vs truth (float64), allowing atol + rtol·|truth| + 4·|reference − truth|; where the reference is
 * finite, got must be too. Returns the first violation, or null.
 */
export function violation(
  got: Arr,
  refv: Arr,
  truth: Float64Array | Arr,
  atol: number,
  rtol: number,
): string | null {
  for (let i = 0; i < got.length; i++) {
    const t = truth[i];
    const r = refv[i];
    if (!Number.isFinite(r)) continue;
    if (!Number.isFinite(got[i])) return `[${i}]: ${got[i]} where the reference gives ${r}`;
    const slack = atol + rtol * Math.abs(t) + 4 * Math.abs(r - t);
    if (Math.abs(got[i] - t) > slack) return `[${i}]: ${got[i]} vs ${t} (reference ${r}, allowed ±${slack})`;
  }
  return null;
}

export function softmax64(x: Arr, N: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += N) {
    let mx = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < N; i++) mx = Math.max(mx, x[o + i]);
    let s = 0;
    for (let i = 0; i < N; i++) s += y[o + i] = Math.exp(x[o + i] - mx);
    for (let i = 0; i < N; i++) y[o + i] /= s;
  }
  return y;
}

export function layerNorm64(x: Arr, g: Arr, b: Arr, D: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += D) {
    let mu = 0;
    for (let i = 0; i < D; i++) mu += x[o + i];
    mu /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[o + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[o + i] = (x[o + i] - mu) * rs * g[i] + b[i];
  }
  return y;
}

/** Gradients of Σ LN(x)⊙r with respect to x, γ and β (r: the weights runOn uses). */
export function layerNormGrads64(x: Arr, g: Arr, D: number, eps: number): Float64Array[] {
  const r = randn([x.length / D, D], 777).data;
  const dx = new Float64Array(x.length);
  const dg = new Float64Array(D);
  const db = new Float64Array(D);
  for (let o = 0; o < x.length; o += D) {
    let mu = 0;
    for (let i = 0; i < D; i++) mu += x[o + i];
    mu /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[o + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / D + eps);
    let a = 0;
    let c = 0;
    for (let i = 0; i < D; i++) {
      const h = (x[o + i] - mu) * rs;
      const gg = r[o + i] * g[i];
      a += gg / D;
      c += (gg * h) / D;
      dg[i] += r[o + i] * h;
      db[i] += r[o + i];
    }
    for (let i = 0; i < D; i++) dx[o + i] = rs * (r[o + i] * g[i] - a - (x[o + i] - mu) * rs * c);
  }
  return [dx, dg, db];
}

/** erf to ~1e-12 (Taylor series below 3, continued fraction above). */
export function erf64(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = e^{−a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …))))
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export const gelu64 = (x: Arr) => Float64Array.from(x, (v) => 0.5 * v * (1 + erf64(v / Math.SQRT2)));

export function linear64(x: Arr, w: Arr, bias: Arr, K: number, P: number): Float64Array {
  const M = x.length / K;
  const y = new Float64Array(M * P);
  for (let m = 0; m < M; m++)
    for (let p = 0; p < P; p++) {
      let s = bias[p];
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[k * P + p];
      y[m * P + p] = s;
    }
  return y;
}
