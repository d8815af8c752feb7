/**
 * JavaScript fallbacks of simd/kernels.c's exports, for where the SIMD module cannot run (its memory out
 * of reach, instantiation failed, or the `simd` flag off). Same arguments in the same order as the C
 * functions, with Float32Array views of the tensors instead of pointers (fetch them after the kernel's
 * last makeOutput: the heap may grow). The kernels' results agree with the SIMD module's within the ops
 * tests' tolerances, not bit for bit.
 */
import type { HeadsGeometry, Im2colGeometry } from "./module.js";

/** Column sums of x [rows, cols] → out [cols] (accumulated in float64). */
export function colSumJs(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let j = 0; j < cols; j++) acc[j] += x[base + j];
  }
  out.set(acc);
}

/** Mean over the middle axis of x [A, R, C] → out [A, C] (float32 accumulation, as kernels.c). */
export function meanMidJs(x: Float32Array, out: Float32Array, A: number, R: number, C: number): void {
  for (let a = 0; a < A; a++) {
    for (let j = 0; j < C; j++) {
      let acc = 0;
      for (let r = 0; r < R; r++) acc = Math.fround(acc + x[(a * R + r) * C + j]);
      out[a * C + j] = Math.fround(acc / R);
    }
  }
}

// ---------------------------------------------------------------- GELU

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** 2^n for n in [−300, 99] (index n + 300), the scale step of `fexp`. */
const POW2 = new Float64Array(400).map((_, i) => 2 ** (i - 300));
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

/**
 * e^y for y in [−200, 60] with relative error < 1e-9 (range reduction y = n·ln2 + r, |r| ≤ ln2/2, and a
 * degree-8 Taylor polynomial): cheaper than V8's Math.exp, a builtin call (docs/ENGINE.md).
 */
function fexp(y: number): number {
  const n = Math.floor(y * Math.LOG2E + 0.5);
  const r = y - n * LN2_HI - n * LN2_LO;
  const p =
    1 +
    r *
      (1 +
        r *
          (0.5 +
            r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (1 / 40320))))))));
  return p * POW2[n + 300];
}

/** Φ(x) = ½·erfc(−x/√2); erfc by Numerical Recipes' erfcc (fractional error < 1.2e-7). */
function normCdf(x: number): number {
  const zz = -x * SQRT1_2;
  const z = Math.abs(zz);
  if (z > 12) return zz > 0 ? 0 : 1; // erfc(12) < 1e-63
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    fexp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return 0.5 * (zz >= 0 ? r : 2 - r);
}

/** y = x·Φ(x). */
export function geluJs(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = v * normCdf(v);
  }
}

/** y = x·Φ(x) and d = Φ(x) + x·φ(x), its derivative. */
export function geluWithDerivJs(x: Float32Array, y: Float32Array, d: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const c = normCdf(v);
    const h = -0.5 * v * v;
    y[i] = v * c;
    d[i] = c + (h < -150 ? 0 : v * INV_SQRT_2PI * fexp(h));
  }
}

// ---------------------------------------------------------------- softmax

/** Softmax over each row of N of x [rows, N]. */
export function softmaxJs(x: Float32Array, y: Float32Array, rows: number, N: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let mx = x[o];
    for (let i = 1; i < N; i++) mx = Math.max(mx, x[o + i]);
    let sum = 0;
    for (let i = 0; i < N; i++) {
      const e = Math.exp(x[o + i] - mx);
      y[o + i] = e;
      sum += e;
    }
    for (let i = 0; i < N; i++) y[o + i] /= sum;
  }
}

/** Softmax's gradient per row: dx = y·(dy − Σ dy·y). */
export function softmaxGradJs(
  dy: Float32Array,
  y: Float32Array,
  dx: Float32Array,
  rows: number,
  N: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let sum = 0;
    for (let i = 0; i < N; i++) sum += dy[o + i] * y[o + i];
    for (let i = 0; i < N; i++) dx[o + i] = y[o + i] * (dy[o + i] - sum);
  }
}

// ---------------------------------------------------------------- layouts

/** heads_split (merge = false: x → parts) and heads_merge (merge = true: parts → x). */
export function headsJs(x: Float32Array, parts: Float32Array[], g: HeadsGeometry, merge: boolean): void {
  const [B, N, T, h, d, scale0] = g;
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let t = 0; t < T; t++) {
        const sc = t === 0 ? scale0 : 1;
        for (let hd = 0; hd < h; hd++) {
          const xo = (((b * N + n) * T + t) * h + hd) * d;
          const po = ((b * h + hd) * N + n) * d;
          const part = parts[t];
          if (merge) for (let j = 0; j < d; j++) x[xo + j] = part[po + j] * sc;
          else for (let j = 0; j < d; j++) part[po + j] = x[xo + j] * sc;
        }
      }
}

/** im2col (scatter = false: windows of src → rows of dst) and col2im (scatter = true: summed back). */
export function im2colJs(src: Float32Array, dst: Float32Array, g: Im2colGeometry, scatter: boolean): void {
  const [B, H, W, C, k, s, p, Ho, Wo] = g;
  const kkc = k * k * C;
  if (scatter) dst.fill(0);
  for (let b = 0; b < B; b++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        const row = ((b * Ho + oy) * Wo + ox) * kkc;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - p + ky;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - p + kx;
            const o = row + (ky * k + kx) * C;
            const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
            const px = ((b * H + iy) * W + ix) * C;
            if (scatter) {
              if (inside) for (let c = 0; c < C; c++) dst[px + c] += src[o + c];
            } else {
              for (let c = 0; c < C; c++) dst[o + c] = inside ? src[px + c] : 0;
            }
          }
        }
      }
}

// ---------------------------------------------------------------- LayerNorm

/**
 * LayerNorm over rows of D. As the SIMD kernel: sums over x − x[0], and `mean` holds the mean's offset
 * from the row's first element (a large mean keeps its precision).
 */
export function layerNormJs(
  x: Float32Array,
  g: Float32Array,
  b: Float32Array,
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  rows: number,
  D: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const x0 = x[o];
    let s = 0;
    for (let i = 0; i < D; i++) s += x[o + i] - x0;
    const mu = Math.fround(s / D);
    let q = 0;
    for (let i = 0; i < D; i++) {
      const c = x[o + i] - x0 - mu;
      q += c * c;
    }
    const rs = 1 / Math.sqrt(q / D + eps);
    for (let i = 0; i < D; i++) y[o + i] = (x[o + i] - x0 - mu) * rs * g[i] + b[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

/** LayerNorm's gradient → dx, dγ, dβ (mean as layerNormJs writes it). */
export function layerNormGradJs(
  dy: Float32Array,
  x: Float32Array,
  g: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  dx: Float32Array,
  dg: Float32Array,
  db: Float32Array,
  rows: number,
  D: number,
): void {
  const accG = new Float64Array(D);
  const accB = new Float64Array(D);
  const xh = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const mu = mean[r]; // the mean's offset from x[0]
    const x0 = x[o];
    const rs = rstd[r];
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < D; i++) {
      const h = (x[o + i] - x0 - mu) * rs;
      xh[i] = h;
      const d = dy[o + i];
      const gd = d * g[i];
      sa += gd;
      sb += gd * h;
      accG[i] += d * h;
      accB[i] += d;
    }
    const a = sa / D;
    const c = sb / D;
    for (let i = 0; i < D; i++) dx[o + i] = rs * (dy[o + i] * g[i] - a - xh[i] * c);
  }
  dg.set(accG);
  db.set(accB);
}

// ---------------------------------------------------------------- AdamW

/**
 * One decoupled-decay Adam update: p·keep − step·m / (√v·isb2 + eps) with the new moments m, v
 * (keep = 1 − lr·wd, step = lr / bc1, isb2 = 1 / √bc2; moments rounded to float32 as stored).
 */
export function adamwJs(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  po: Float32Array,
  mo: Float32Array,
  vo: Float32Array,
  keep: number,
  b1: number,
  b2: number,
  step: number,
  isb2: number,
  eps: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = Math.fround(b1 * m[i] + c1 * gi);
    const vi = Math.fround(b2 * v[i] + c2 * gi * gi);
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] * keep - (step * mi) / (Math.sqrt(vi) * isb2 + eps);
  }
}
