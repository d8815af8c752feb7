/*
 * psvit's fused kernels for the tfjs wasm backend, compiled to a WebAssembly SIMD module that imports
 * the tfjs module's memory (pointers are byte offsets into it). Build: src/engine/simd/build.sh.
 * Rules: no static data, no stack (every function is a leaf over scalars and pointers), so the module
 * never writes outside the tensors it is given. Float32 arithmetic, as tfjs's own kernels. Built twice:
 * plain 128-bit SIMD, and with -mrelaxed-simd (the products' multiply-adds fused, FMA macro below).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

static inline float fabs_(float x) { return __builtin_fabsf(x); }

/* e^y, y ≥ −87 (smaller clamps to ~0): Cephes-style range reduction, degree-6 polynomial, rel. err ~2e-7 */
static inline float expf_(float y) {
  y = y < -87.0f ? -87.0f : y;
  y = y > 88.0f ? 88.0f : y;
  float n = __builtin_floorf(y * 1.44269504088896341f + 0.5f);
  float r = y - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = ((int32_t)n + 127) << 23;
  float s;
  __builtin_memcpy(&s, &e, 4);
  return p * s;
}

/* Φ(x) and e^{−x²/2} (A&S 7.1.26 for erf, |error of Φ| < 1e-7) */
static inline float cdf_(float x, float *ez) {
  float z = fabs_(x) * 0.70710678118654752f;
  float t = 1.0f / (1.0f + 0.3275911f * z);
  float e = expf_(-z * z);
  float q = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f)))) * e;
  *ez = e;
  float h = 0.5f * q;
  return x >= 0.0f ? 1.0f - h : h;
}

#define SPL wasm_f32x4_splat
/* a·b + c: fused in the relaxed-SIMD build */
#ifdef __wasm_relaxed_simd__
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

/* 4 lanes of expf_ for y ≤ 0: rounding by the 1.5·2^23 trick (no float→int conversion), pmax clamp */
static inline v128_t vexp_(v128_t y) {
  const v128_t magic = SPL(12582912.0f);
  y = wasm_f32x4_pmax(y, SPL(-87.0f));
  v128_t t = MADD(y, SPL(1.44269504088896341f), magic);
  v128_t n = wasm_f32x4_sub(t, magic);
  v128_t r = MADD(n, SPL(-0.693359375f), y);
  r = MADD(n, SPL(2.12194440e-4f), r);
  v128_t p = SPL(1.9875691500e-4f);
  p = MADD(p, r, SPL(1.3981999507e-3f));
  p = MADD(p, r, SPL(8.3334519073e-3f));
  p = MADD(p, r, SPL(4.1665795894e-2f));
  p = MADD(p, r, SPL(1.6666665459e-1f));
  p = MADD(p, r, SPL(5.0000001201e-1f));
  p = wasm_f32x4_add(MADD(wasm_f32x4_mul(p, r), r, r), SPL(1.0f));
  v128_t e = wasm_i32x4_shl(wasm_i32x4_add(t, wasm_i32x4_splat(127 - 0x4B400000)), 23);
  return wasm_f32x4_mul(p, e);
}

/* 4 lanes of cdf_: Φ(x), and e^{−x²/2} in *ez */
static inline v128_t vcdf_(v128_t x, v128_t *ez) {
  v128_t z = wasm_f32x4_mul(wasm_f32x4_abs(x), SPL(0.70710678118654752f));
  v128_t t = wasm_f32x4_div(SPL(1.0f), MADD(z, SPL(0.3275911f), SPL(1.0f)));
  v128_t e = vexp_(wasm_f32x4_neg(wasm_f32x4_mul(z, z)));
  v128_t q = MADD(t, SPL(1.061405429f), SPL(-1.453152027f));
  q = MADD(q, t, SPL(1.421413741f));
  q = MADD(q, t, SPL(-0.284496736f));
  q = MADD(q, t, SPL(0.254829592f));
  v128_t h = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_mul(q, t), e), SPL(0.5f));
  *ez = e;
  return wasm_v128_bitselect(wasm_f32x4_sub(SPL(1.0f), h), h, wasm_f32x4_ge(x, SPL(0.0f)));
}

/*
 * erf(x) = x·α(x²)/β(x²) on [−4, 4] (x clamped: |erf| rounds to 1 beyond), the rational approximation
 * of Eigen and XLA (its coefficients): no exp, one division. GELU(x) = x·(1 + erf(x/√2))/2 from it is
 * within 1.4e-6 of the exact value over all x (2.4e-7 relative at the worst point, x ≈ 5.6); A&S 7.1.26
 * above is within 4.2e-7 but needs an exp, and runs at about half the speed (1.9 vs 0.9 ns/element).
 * Used where only GELU(x) is needed (inference); training wants Φ and φ = e^{−x²/2}/√(2π) together,
 * which A&S gives for one exp.
 */
#define ERF_A13 -2.72614225801306e-10f
#define ERF_A11 2.77068142495902e-08f
#define ERF_A9 -2.10102402082508e-06f
#define ERF_A7 -5.69250639462346e-05f
#define ERF_A5 -7.34990630326855e-04f
#define ERF_A3 -2.95459980854025e-03f
#define ERF_A1 -1.60960333262415e-02f
#define ERF_B8 -1.45660718464996e-05f
#define ERF_B6 -2.13374055278905e-04f
#define ERF_B4 -1.68282697438203e-03f
#define ERF_B2 -7.37332916720468e-03f
#define ERF_B0 -1.42647390514189e-02f

static inline float gelu_(float v) {
  float x = v * 0.70710678118654752f;
  x = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
  float x2 = x * x;
  float p = ((((ERF_A13 * x2 + ERF_A11) * x2 + ERF_A9) * x2 + ERF_A7) * x2 + ERF_A5) * x2 + ERF_A3;
  p = p * x2 + ERF_A1;
  float q = (((ERF_B8 * x2 + ERF_B6) * x2 + ERF_B4) * x2 + ERF_B2) * x2 + ERF_B0;
  float h = 0.5f * v;
  return h + h * (x * p / q);
}

static inline v128_t vgelu_(v128_t v) {
  v128_t x = wasm_f32x4_mul(v, SPL(0.70710678118654752f));
  x = wasm_f32x4_pmax(wasm_f32x4_pmin(x, SPL(4.0f)), SPL(-4.0f));
  v128_t x2 = wasm_f32x4_mul(x, x);
  v128_t p = MADD(x2, SPL(ERF_A13), SPL(ERF_A11));
  p = MADD(x2, p, SPL(ERF_A9));
  p = MADD(x2, p, SPL(ERF_A7));
  p = MADD(x2, p, SPL(ERF_A5));
  p = MADD(x2, p, SPL(ERF_A3));
  p = MADD(x2, p, SPL(ERF_A1));
  v128_t q = MADD(x2, SPL(ERF_B8), SPL(ERF_B6));
  q = MADD(x2, q, SPL(ERF_B4));
  q = MADD(x2, q, SPL(ERF_B2));
  q = MADD(x2, q, SPL(ERF_B0));
  v128_t h = wasm_f32x4_mul(v, SPL(0.5f));
  return MADD(h, wasm_f32x4_div(wasm_f32x4_mul(x, p), q), h);
}

EXPORT(gelu) void gelu(const float *x, float *y, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) { /* two independent vectors per iteration: the division's latency overlaps */
    v128_t a = vgelu_(wasm_v128_load(x + i)), b = vgelu_(wasm_v128_load(x + i + 4));
    wasm_v128_store(y + i, a);
    wasm_v128_store(y + i + 4, b);
  }
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, vgelu_(wasm_v128_load(x + i)));
  for (; i < n; i++) y[i] = gelu_(x[i]);
}

/* y = x·Φ(x) and its derivative d = Φ(x) + x·φ(x) (saved for backward: dx = dy·d) */
EXPORT(gelu_with_deriv) void gelu_with_deriv(const float *x, float *y, float *d, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t e0, e1;
    v128_t v0 = wasm_v128_load(x + i), v1 = wasm_v128_load(x + i + 4);
    v128_t c0 = vcdf_(v0, &e0), c1 = vcdf_(v1, &e1);
    wasm_v128_store(y + i, wasm_f32x4_mul(v0, c0));
    wasm_v128_store(y + i + 4, wasm_f32x4_mul(v1, c1));
    wasm_v128_store(d + i, MADD(wasm_f32x4_mul(v0, SPL(0.39894228040143268f)), e0, c0));
    wasm_v128_store(d + i + 4, MADD(wasm_f32x4_mul(v1, SPL(0.39894228040143268f)), e1, c1));
  }
  for (; i + 4 <= n; i += 4) {
    v128_t e;
    v128_t v = wasm_v128_load(x + i);
    v128_t c = vcdf_(v, &e);
    wasm_v128_store(y + i, wasm_f32x4_mul(v, c));
    wasm_v128_store(d + i, wasm_f32x4_add(c, wasm_f32x4_mul(wasm_f32x4_mul(v, SPL(0.39894228040143268f)), e)));
  }
  for (; i < n; i++) {
    float e;
    float v = x[i];
    float c = cdf_(v, &e);
    y[i] = v * c;
    d[i] = c + v * 0.39894228040143268f * e;
  }
}

static inline float hsum_(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

/*
 * y = (x − mean)·rstd·γ + β over rows of D; per row rstd and the mean's offset from the row's first
 * element, mean − x[0] (written to `mean`; the gradient reads it back the same way). The sums run over
 * x − x[0]: exact for values close to each other, so a large mean with a tiny variance keeps its
 * precision (a float32 mean of values near 1e4 is off by up to 5e-4 on its own).
 */
EXPORT(layer_norm) void layer_norm(const float *x, const float *g, const float *b, float *y, float *mean,
                                   float *rstd, int rows, int D, float eps) {
  int D4 = D & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * D;
    float *yr = y + (long)r * D;
    const float x0 = xr[0];
    const v128_t x0v = wasm_f32x4_splat(x0);
    /* two accumulators per sum (even and odd vectors): the add / FMA chains are latency-bound */
    v128_t sv = wasm_f32x4_splat(0.0f), sw = sv;
    int i8 = 0;
    for (; i8 + 8 <= D4; i8 += 8) {
      sv = wasm_f32x4_add(sv, wasm_f32x4_sub(wasm_v128_load(xr + i8), x0v));
      sw = wasm_f32x4_add(sw, wasm_f32x4_sub(wasm_v128_load(xr + i8 + 4), x0v));
    }
    if (i8 < D4) sv = wasm_f32x4_add(sv, wasm_f32x4_sub(wasm_v128_load(xr + i8), x0v));
    float s = hsum_(wasm_f32x4_add(sv, sw));
    for (int i = D4; i < D; i++) s += xr[i] - x0;
    float mu = s / (float)D; /* mean − x0 */
    v128_t mv = wasm_f32x4_splat(mu);
    v128_t qv = wasm_f32x4_splat(0.0f), qw = qv;
    for (i8 = 0; i8 + 8 <= D4; i8 += 8) {
      v128_t c = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i8), x0v), mv);
      v128_t e = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i8 + 4), x0v), mv);
      qv = MADD(c, c, qv);
      qw = MADD(e, e, qw);
    }
    if (i8 < D4) {
      v128_t c = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i8), x0v), mv);
      qv = MADD(c, c, qv);
    }
    float q = hsum_(wasm_f32x4_add(qv, qw));
    for (int i = D4; i < D; i++) {
      float c = (xr[i] - x0) - mu;
      q += c * c;
    }
    float rs = 1.0f / __builtin_sqrtf(q / (float)D + eps);
    v128_t rv = wasm_f32x4_splat(rs);
    for (int i = 0; i < D4; i += 4) {
      v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i), x0v), mv), rv);
      wasm_v128_store(yr + i, MADD(h, wasm_v128_load(g + i), wasm_v128_load(b + i)));
    }
    for (int i = D4; i < D; i++) yr[i] = ((xr[i] - x0) - mu) * rs * g[i] + b[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

/* dx = rstd·(dy·γ − mean(dy·γ) − x̂·mean(dy·γ·x̂)); dγ = Σ dy·x̂, dβ = Σ dy (dg, db zeroed here) */
EXPORT(layer_norm_grad) void layer_norm_grad(const float *dy, const float *x, const float *g, const float *mean,
                                             const float *rstd, float *dx, float *dg, float *db, int rows, int D) {
  int D4 = D & ~3;
  for (int i = 0; i < D; i++) {
    dg[i] = 0.0f;
    db[i] = 0.0f;
  }
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * D;
    const float *dyr = dy + (long)r * D;
    float *dxr = dx + (long)r * D;
    float mu = mean[r], rs = rstd[r]; /* mu: the mean's offset from xr[0] (layer_norm) */
    const float x0 = xr[0];
    const v128_t x0v = wasm_f32x4_splat(x0);
    v128_t mv = wasm_f32x4_splat(mu), rv = wasm_f32x4_splat(rs);
    v128_t sav = wasm_f32x4_splat(0.0f), sbv = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < D4; i += 4) {
      v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i), x0v), mv), rv);
      v128_t d = wasm_v128_load(dyr + i);
      v128_t gg = wasm_f32x4_mul(d, wasm_v128_load(g + i));
      sav = wasm_f32x4_add(sav, gg);
      sbv = MADD(gg, h, sbv);
      wasm_v128_store(dg + i, MADD(d, h, wasm_v128_load(dg + i)));
      wasm_v128_store(db + i, wasm_f32x4_add(wasm_v128_load(db + i), d));
    }
    float sa = hsum_(sav), sb = hsum_(sbv);
    for (int i = D4; i < D; i++) {
      float h = ((xr[i] - x0) - mu) * rs;
      float d = dyr[i];
      float gg = d * g[i];
      sa += gg;
      sb += gg * h;
      dg[i] += d * h;
      db[i] += d;
    }
    float a = sa / (float)D, c = sb / (float)D;
    v128_t av = wasm_f32x4_splat(a), cv = wasm_f32x4_splat(c);
    for (int i = 0; i < D4; i += 4) {
      v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xr + i), x0v), mv), rv);
      v128_t t = wasm_f32x4_sub(wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(dyr + i), wasm_v128_load(g + i)), av),
                                wasm_f32x4_mul(h, cv));
      wasm_v128_store(dxr + i, wasm_f32x4_mul(rv, t));
    }
    for (int i = D4; i < D; i++) {
      float h = ((xr[i] - x0) - mu) * rs;
      dxr[i] = rs * (dyr[i] * g[i] - a - h * c);
    }
  }
}

/* softmax over rows of N: y = e^(x − max) / Σ e^(x − max) (vexp_ of arguments ≤ 0) */
EXPORT(softmax) void softmax(const float *x, float *y, int rows, int N) {
  int N4 = N & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * N;
    float *yr = y + (long)r * N;
    /* the row's max over all N (the exps below overflow for arguments above 88 if it is not) */
    float mx = xr[0];
    int tail = 1; /* first index the scalar loop still has to see */
    if (N4 >= 8) { /* 4-lane running max, then across lanes (N ≥ 8: fewer lanes cost more than they save) */
      v128_t m4 = wasm_v128_load(xr);
      for (int i = 4; i < N4; i += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_load(xr + i));
      float l0 = wasm_f32x4_extract_lane(m4, 0), l1 = wasm_f32x4_extract_lane(m4, 1);
      float l2 = wasm_f32x4_extract_lane(m4, 2), l3 = wasm_f32x4_extract_lane(m4, 3);
      l0 = l1 > l0 ? l1 : l0;
      l2 = l3 > l2 ? l3 : l2;
      mx = l2 > l0 ? l2 : l0;
      tail = N4;
    }
    for (int i = tail; i < N; i++) mx = xr[i] > mx ? xr[i] : mx;
    v128_t mv = wasm_f32x4_splat(mx);
    v128_t sv = wasm_f32x4_splat(0.0f), sw = sv;
    int i = 0;
    for (; i + 8 <= N4; i += 8) { /* two independent exp chains per iteration (latency-bound otherwise) */
      v128_t e0 = vexp_(wasm_f32x4_sub(wasm_v128_load(xr + i), mv));
      v128_t e1 = vexp_(wasm_f32x4_sub(wasm_v128_load(xr + i + 4), mv));
      wasm_v128_store(yr + i, e0);
      wasm_v128_store(yr + i + 4, e1);
      sv = wasm_f32x4_add(sv, e0);
      sw = wasm_f32x4_add(sw, e1);
    }
    for (; i < N4; i += 4) {
      v128_t e = vexp_(wasm_f32x4_sub(wasm_v128_load(xr + i), mv));
      wasm_v128_store(yr + i, e);
      sv = wasm_f32x4_add(sv, e);
    }
    float s = hsum_(wasm_f32x4_add(sv, sw));
    for (int i = N4; i < N; i++) {
      float e = expf_(xr[i] - mx);
      yr[i] = e;
      s += e;
    }
    float inv = 1.0f / s;
    v128_t iv = wasm_f32x4_splat(inv);
    for (int i = 0; i < N4; i += 4) wasm_v128_store(yr + i, wasm_f32x4_mul(wasm_v128_load(yr + i), iv));
    for (int i = N4; i < N; i++) yr[i] *= inv;
  }
}

/* softmax's gradient over rows of N: dx = y·(dy − Σ dy·y) */
EXPORT(softmax_grad) void softmax_grad(const float *dy, const float *y, float *dx, int rows, int N) {
  int N4 = N & ~3;
  for (int r = 0; r < rows; r++) {
    const float *dr = dy + (long)r * N;
    const float *yr = y + (long)r * N;
    float *xr = dx + (long)r * N;
    v128_t sv = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < N4; i += 4) sv = MADD(wasm_v128_load(dr + i), wasm_v128_load(yr + i), sv);
    float s = hsum_(sv);
    for (int i = N4; i < N; i++) s += dr[i] * yr[i];
    v128_t ss = wasm_f32x4_splat(s);
    for (int i = 0; i < N4; i += 4)
      wasm_v128_store(xr + i, wasm_f32x4_mul(wasm_v128_load(yr + i), wasm_f32x4_sub(wasm_v128_load(dr + i), ss)));
    for (int i = N4; i < N; i++) xr[i] = yr[i] * (dr[i] - s);
  }
}

/*
 * im2col of NHWC x [B, H, W, C]: every k×k window (stride s, zero padding p) as one row of
 * out [B, Ho, Wo, k·k·C] in (kh, kw, c) order. col2im (its gradient): dx = the sum of every row's pieces
 * back at their pixels (dx zeroed here).
 */
EXPORT(im2col) void im2col(const float *x, float *out, int B, int H, int W, int C, int k, int s, int p, int Ho,
                           int Wo) {
  long kkc = (long)k * k * C;
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float *row = out + (((long)b * Ho + oy) * Wo + ox) * kkc;
        int ix0 = ox * s - p;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * s - p + ky;
          if (iy >= 0 && iy < H && ix0 >= 0 && ix0 + k <= W) {
            /* the window's row lies inside the image: k·C consecutive floats (patch embedding: C = 1) */
            const float *src = x + (((long)b * H + iy) * W + ix0) * C;
            float *d = row + (long)ky * k * C;
            for (int i = 0; i < k * C; i++) d[i] = src[i];
            continue;
          }
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - p + kx;
            float *d = row + ((long)ky * k + kx) * C;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
              for (int c = 0; c < C; c++) d[c] = 0.0f;
            } else {
              const float *src = x + (((long)b * H + iy) * W + ix) * C;
              for (int c = 0; c < C; c++) d[c] = src[c];
            }
          }
        }
      }
}

EXPORT(col2im) void col2im(const float *dcol, float *dx, int B, int H, int W, int C, int k, int s, int p, int Ho,
                           int Wo) {
  long kkc = (long)k * k * C;
  long n = (long)B * H * W * C;
  for (long i = 0; i < n; i++) dx[i] = 0.0f;
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        const float *row = dcol + (((long)b * Ho + oy) * Wo + ox) * kkc;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * s - p + ky;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - p + kx;
            if (ix < 0 || ix >= W) continue;
            const float *src = row + ((long)ky * k + kx) * C;
            float *d = dx + (((long)b * H + iy) * W + ix) * C;
            for (int c = 0; c < C; c++) d[c] += src[c];
          }
        }
      }
}

/*
 * Attention's head layout. x [B, N, T, h, d] (T groups of h heads: the fused qkv has T = 3) →
 * out_t [B·h, N, d] for t < T, group 0 multiplied by scale0 (q by 1/√d); heads_merge is the inverse
 * (T inputs [B·h, N, d] → [B, N, T, h, d], group 0 multiplied by scale0), so each is the other's gradient.
 * T ≤ 3: the outputs (inputs) are o0, o1, o2.
 */
EXPORT(heads_split) void heads_split(const float *x, float *o0, float *o1, float *o2, int B, int N, int T, int h,
                                     int d, float scale0) {
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++)
      for (int t = 0; t < T; t++) {
        float sc = t == 0 ? scale0 : 1.0f;
        for (int hd = 0; hd < h; hd++) {
          const float *src = x + ((((long)b * N + n) * T + t) * h + hd) * d;
          float *ot = t == 0 ? o0 : t == 1 ? o1 : o2; /* no arrays: this module must not use a stack */
          float *dst = ot + (((long)b * h + hd) * N + n) * d;
          for (int j = 0; j < d; j++) dst[j] = src[j] * sc;
        }
      }
}

EXPORT(heads_merge) void heads_merge(const float *i0, const float *i1, const float *i2, float *x, int B, int N,
                                     int T, int h, int d, float scale0) {
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++)
      for (int t = 0; t < T; t++) {
        float sc = t == 0 ? scale0 : 1.0f;
        for (int hd = 0; hd < h; hd++) {
          float *dst = x + ((((long)b * N + n) * T + t) * h + hd) * d;
          const float *it = t == 0 ? i0 : t == 1 ? i1 : i2;
          const float *src = it + (((long)b * h + hd) * N + n) * d;
          for (int j = 0; j < d; j++) dst[j] = src[j] * sc;
        }
      }
}

/* out[j] = Σ_r x[r·cols + j] */
EXPORT(col_sum) void col_sum(const float *x, float *out, int rows, int cols) {
  for (int j = 0; j < cols; j++) out[j] = 0.0f;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * cols;
    for (int j = 0; j < cols; j++) out[j] += xr[j];
  }
}

/* mean over the middle axis of x [A, R, C] → out [A, C] (sums in row order, then one division) */
EXPORT(mean_mid) void mean_mid(const float *x, float *out, int A, int R, int C) {
  for (int a = 0; a < A; a++) {
    float *o = out + (long)a * C;
    col_sum(x + (long)a * R * C, o, R, C);
    for (int j = 0; j < C; j++) o[j] = o[j] / (float)R;
  }
}

/* decoupled-decay Adam (PyTorch AdamW): one variable */
EXPORT(adamw) void adamw(const float *p, const float *g, const float *m, const float *v, float *po, float *mo,
                         float *vo, int n, float keep, float b1, float b2, float step, float isb2, float eps) {
  float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int i = 0; i < n; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] * keep - step * mi / (__builtin_sqrtf(vi) * isb2 + eps);
  }
}

/* 4×4 block of x (row stride sx) → y (row stride sy), transposed */
static inline void t4x4(const float *x, long sx, float *y, long sy) {
  v128_t r0 = wasm_v128_load(x), r1 = wasm_v128_load(x + sx), r2 = wasm_v128_load(x + 2 * sx),
         r3 = wasm_v128_load(x + 3 * sx);
  v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
  v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
  wasm_v128_store(y, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
  wasm_v128_store(y + sy, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
  wasm_v128_store(y + 2 * sy, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
  wasm_v128_store(y + 3 * sy, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
}

/* x [A, R, C, I] → y [A, C, R, I] (swap of two adjacent axis groups; I = 1: 4×4 SIMD tiles in 32×32 blocks) */
EXPORT(swap_axes) void swap_axes(const float *x, float *y, int A, int R, int C, int I) {
  long blk = (long)R * C * I;
  for (int a = 0; a < A; a++) {
    const float *xa = x + a * blk;
    float *ya = y + a * blk;
    if (I == 1) {
      int R4 = R & ~3, C4 = C & ~3;
      for (int r0 = 0; r0 < R4; r0 += 32) {
        int r1 = r0 + 32 < R4 ? r0 + 32 : R4;
        for (int c0 = 0; c0 < C4; c0 += 32) {
          int c1 = c0 + 32 < C4 ? c0 + 32 : C4;
          for (int r = r0; r < r1; r += 4)
            for (int c = c0; c < c1; c += 4) t4x4(xa + (long)r * C + c, C, ya + (long)c * R + r, R);
        }
      }
      for (int r = 0; r < R; r++)
        for (int c = (r < R4 ? C4 : 0); c < C; c++) ya[(long)c * R + r] = xa[(long)r * C + c];
    } else {
      for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) {
          const float *s = xa + ((long)r * C + c) * I;
          float *d = ya + ((long)c * R + r) * I;
          for (int i = 0; i < I; i++) d[i] = s[i];
        }
    }
  }
}

/* acc += x·y: one fused multiply-add in the relaxed-SIMD build (x64 vfmadd where the CPU has FMA3; the
 * engine loads that build only where the runtime validates it), a multiply and an add otherwise */
#ifdef __wasm_relaxed_simd__
#define FMA(acc, x, y) acc = __builtin_wasm_relaxed_madd_f32x4(x, y, acc)
#else
#define FMA(acc, x, y) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(x, y))
#endif

/*
 * Batched product C[g] = A[g]·B[g]: A(m, k) = A[g·M·K + m·sam + k·sak] (sam = K, sak = 1: A as [M, K];
 * sam = 1, sak = M: A given transposed as [K, M]), B [G, K, P], C [G, M, P]. 4×8 register tiles.
 * Blocking (GotoBLAS order): K in blocks of KB, rows in blocks of MC; within a block the 8-column panels
 * of B are the outer loop and the row tiles the inner one, so one B panel (8 × KB floats, 16 KB) stays in
 * L1 while it is used against all MC rows, and the A block (MC × KB) stays in L2. Without the row blocks
 * a wide B (e.g. [192, 768]: 590 KB) was streamed from L3 once per 4 rows.
 * Packed B (bp ≠ 0, filled by pack_b): the full 8-column panels of B[g] as [P8/8][K][8] at bp + g·K·P8, so
 * a panel is read contiguously. Read in place, a panel's rows lie P floats apart, and for P a multiple of
 * 64 (768 floats = 3 KB) they fall into a handful of L1 sets: a K block's rows competed for 4 sets ×
 * 8 ways.
 * KB = 512 (was 256): K = 384, 432, 768, 864 in one or two blocks, 1–4% faster (C's partial sums are
 * stored and reloaded once per K block).
 * The columns past P8 (P mod 8) always come from B itself, which may then be 0 when P8 = P.
 * Packed A (aq ≠ 0, with bp; scratch of MC·KB floats per thread): each row block's 4-row groups are copied
 * to [kn][4] once and used against every panel.
 * has_bias: C[g] = A[g]·B[g] + bias (bias [P], broadcast over rows), added where the accumulators start.
 * has_res: C = R + (A·B + bias) for a residual R laid out like C, rd floats after it (R − C, any sign: the
 * helpers' row and matrix splits move C and R together); added as the last K block is stored, in the
 * order of tf.add(R, A·B + bias).
 */
#define KB 512
#define MC 64
/* accumulator start: the bias (first K block), zero, or C's partial sum */
#define LD(acc, ptr, col) \
  acc = first ? (has_bias ? wasm_v128_load(bias + (col)) : wasm_f32x4_splat(0.0f)) : wasm_v128_load(ptr)
#define LD1(ptr, col) (first ? (has_bias ? bias[col] : 0.0f) : *(ptr))
/* store to C; fin (last K block of a product with a residual R): C = R + sum, R at ptr + rd */
#define ST(ptr, acc) wasm_v128_store(ptr, fin ? wasm_f32x4_add(wasm_v128_load((ptr) + rd), acc) : acc)
/* a 4×8 tile's accumulators c00 … c31 (row, half) from / to C at cr, row stride P */
#define LD4x8(cr, P)                                                                                     \
  LD(c00, cr, 0);                                                                                        \
  LD(c01, cr + 4, 4);                                                                                    \
  LD(c10, cr + P, 0);                                                                                    \
  LD(c11, cr + P + 4, 4);                                                                                \
  LD(c20, cr + 2 * P, 0);                                                                                \
  LD(c21, cr + 2 * P + 4, 4);                                                                            \
  LD(c30, cr + 3 * P, 0);                                                                                \
  LD(c31, cr + 3 * P + 4, 4)
#define ST4x8(cr, P)                                                                                     \
  ST(cr, c00);                                                                                           \
  ST(cr + 4, c01);                                                                                       \
  ST(cr + P, c10);                                                                                       \
  ST(cr + P + 4, c11);                                                                                   \
  ST(cr + 2 * P, c20);                                                                                   \
  ST(cr + 2 * P + 4, c21);                                                                               \
  ST(cr + 3 * P, c30);                                                                                   \
  ST(cr + 3 * P + 4, c31)

/*
 * rows a0.. (stride sam) × 8 columns: bk = B's column 0 of this tile at row 0 of the K block, ldb its row
 * stride (P in place, 8 packed); cr = C at the tile's corner (row stride P); bias already offset to p
 */
static inline void tile4x8(const float *a0, long sam, long sak, const float *bk, long ldb, float *cr, int P,
                           int kn, int first, const float *bias, int has_bias, int fin, long rd) {
  const float *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  LD4x8(cr, P);
  for (int k = 0; k < kn; k++) {
    const float *b = bk + (long)k * ldb;
    v128_t b0 = wasm_v128_load(b);
    v128_t b1 = wasm_v128_load(b + 4);
    long o = (long)k * sak;
    v128_t x0 = wasm_f32x4_splat(a0[o]);
    v128_t x1 = wasm_f32x4_splat(a1[o]);
    v128_t x2 = wasm_f32x4_splat(a2[o]);
    v128_t x3 = wasm_f32x4_splat(a3[o]);
    FMA(c00, x0, b0);
    FMA(c01, x0, b1);
    FMA(c10, x1, b0);
    FMA(c11, x1, b1);
    FMA(c20, x2, b0);
    FMA(c21, x2, b1);
    FMA(c30, x3, b0);
    FMA(c31, x3, b1);
  }
  ST4x8(cr, P);
}

/*
 * The same tile over packed operands (bmm's packed path): ap = the 4-row group of A as [kn][4], bp = the
 * B panel as [kn][8]. Each operand is walked by its own pointer and read at constant offsets, which
 * clang ≥ 19 emits as load offsets and V8 folds into the x64 addressing: 18 instructions per k
 * (6 loads, 8 FMAs, 2 pointer bumps, compare and branch) against 22 for tile4x8's strided form, whose
 * addresses V8 computes one `lea` each. Same multiply-adds in the same order (bit-identical results);
 * in isolation 1.00× on a quiet core and 1.05–1.15× while another tenant shares it (docs/ENGINE.md,
 * "Round 5").
 */
static inline void tile4x8p(const float *ap, const float *bp, float *cr, int P, int kn, int first,
                            const float *bias, int has_bias, int fin, long rd) {
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  LD4x8(cr, P);
  const float *ae = ap + 4 * (long)kn;
  for (; ap != ae; ap += 4, bp += 8) {
    v128_t b0 = wasm_v128_load(bp);
    v128_t b1 = wasm_v128_load(bp + 4);
    v128_t x0 = wasm_v128_load32_splat(ap);
    v128_t x1 = wasm_v128_load32_splat(ap + 1);
    v128_t x2 = wasm_v128_load32_splat(ap + 2);
    v128_t x3 = wasm_v128_load32_splat(ap + 3);
    FMA(c00, x0, b0);
    FMA(c01, x0, b1);
    FMA(c10, x1, b0);
    FMA(c11, x1, b1);
    FMA(c20, x2, b0);
    FMA(c21, x2, b1);
    FMA(c30, x3, b0);
    FMA(c31, x3, b1);
  }
  ST4x8(cr, P);
}

/* rows m..m+3, 4 columns (B in place, row stride P) */
static inline void tile4x4(const float *a0, long sam, long sak, const float *bk, float *cr, int P, int kn,
                           int first, const float *bias, int has_bias, int fin, long rd) {
  const float *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
  v128_t c0, c1, c2, c3;
  LD(c0, cr, 0);
  LD(c1, cr + P, 0);
  LD(c2, cr + 2 * P, 0);
  LD(c3, cr + 3 * P, 0);
  for (int k = 0; k < kn; k++) {
    v128_t b0 = wasm_v128_load(bk + (long)k * P);
    long o = (long)k * sak;
    FMA(c0, wasm_f32x4_splat(a0[o]), b0);
    FMA(c1, wasm_f32x4_splat(a1[o]), b0);
    FMA(c2, wasm_f32x4_splat(a2[o]), b0);
    FMA(c3, wasm_f32x4_splat(a3[o]), b0);
  }
  ST(cr, c0);
  ST(cr + P, c1);
  ST(cr + 2 * P, c2);
  ST(cr + 3 * P, c3);
}

/* rows m..m+3, one column (B in place) */
static inline void tile4x1(const float *a0, long sam, long sak, const float *bk, float *cr, int P, int kn,
                           int first, const float *bias, int has_bias, int fin, long rd) {
  const float *a1 = a0 + sam, *a2 = a1 + sam, *a3 = a2 + sam;
  float s0 = LD1(cr, 0), s1 = LD1(cr + P, 0), s2 = LD1(cr + 2 * P, 0), s3 = LD1(cr + 3 * P, 0);
  for (int k = 0; k < kn; k++) {
    float bv = bk[(long)k * P];
    long o = (long)k * sak;
    s0 += a0[o] * bv;
    s1 += a1[o] * bv;
    s2 += a2[o] * bv;
    s3 += a3[o] * bv;
  }
  cr[0] = fin ? s0 + cr[0 + rd] : s0;
  cr[P] = fin ? s1 + cr[P + rd] : s1;
  cr[2 * P] = fin ? s2 + cr[2 * P + rd] : s2;
  cr[3 * P] = fin ? s3 + cr[3 * P + rd] : s3;
}

/* one row (the last M mod 4), all columns: the first P8 from the packed panels when bq ≠ 0 */
static inline void row1(const float *a0, long sak, const float *b, const float *bq, long K, float *cr, int P,
                        int kn, int first, const float *bias, int has_bias, int fin, long rd) {
  int p = 0;
  if (bq) {
    for (; p + 8 <= P; p += 8) {
      const float *bk = bq + (long)p * K;
      v128_t c0, c1;
      LD(c0, cr + p, p);
      LD(c1, cr + p + 4, p + 4);
      for (int k = 0; k < kn; k++) {
        v128_t x = wasm_f32x4_splat(a0[(long)k * sak]);
        FMA(c0, x, wasm_v128_load(bk + 8 * k));
        FMA(c1, x, wasm_v128_load(bk + 8 * k + 4));
      }
      ST(cr + p, c0);
      ST(cr + p + 4, c1);
    }
  }
  for (; p + 4 <= P; p += 4) {
    v128_t c0;
    LD(c0, cr + p, p);
    for (int k = 0; k < kn; k++) FMA(c0, wasm_f32x4_splat(a0[(long)k * sak]), wasm_v128_load(b + (long)k * P + p));
    ST(cr + p, c0);
  }
  for (; p < P; p++) {
    float s0 = LD1(cr + p, p);
    for (int k = 0; k < kn; k++) s0 += a0[(long)k * sak] * b[(long)k * P + p];
    cr[p] = fin ? s0 + cr[p + rd] : s0;
  }
}

/* A's rows a.. (mn of them, a multiple of 4; strides sam, sak), kn values of K → aq [mn/4][kn][4] */
static inline void pack_a(const float *a, long sam, long sak, float *aq, int mn, int kn) {
  for (int m = 0; m < mn; m += 4) {
    const float *a0 = a + (long)m * sam;
    float *d = aq + (long)m * kn;
    if (sam == 1) { /* A given transposed: the 4 rows at one k are 4 consecutive floats */
      for (int k = 0; k < kn; k++) wasm_v128_store(d + 4 * k, wasm_v128_load(a0 + (long)k * sak));
    } else {
      int k = 0;
      for (; k + 4 <= kn; k += 4) t4x4(a0 + k, sam, d + 4 * k, 4);
      for (; k < kn; k++)
        for (int j = 0; j < 4; j++) d[4 * k + j] = a0[(long)j * sam + k];
    }
  }
}

/*
 * The 8-column panels of one matrix → d [P8/8][K][8] (P8 = its columns rounded down to 8). tb = 0: the
 * matrix is [K, ·] with row stride ld (panels are row pieces); tb = 1: it is given transposed, [·, K] with
 * row stride ld (panels via 4×4 transposes, then the K mod 4 tail).
 */
static inline void pack_panels(const float *b, long ld, float *d, int K, int P8, int tb) {
  int K4 = K & ~3;
  for (int p = 0; p < P8; p += 8, d += 8 * (long)K) {
    if (!tb) {
      for (int k = 0; k < K; k++) {
        wasm_v128_store(d + 8 * k, wasm_v128_load(b + (long)k * ld + p));
        wasm_v128_store(d + 8 * k + 4, wasm_v128_load(b + (long)k * ld + p + 4));
      }
    } else {
      const float *s = b + (long)p * ld; /* rows p..p+7 */
      for (int k = 0; k < K4; k += 4) {
        t4x4(s + k, ld, d + 8 * k, 8);
        t4x4(s + 4 * ld + k, ld, d + 8 * k + 4, 8);
      }
      for (int k = K4; k < K; k++)
        for (int j = 0; j < 8; j++) d[8 * k + j] = s[(long)j * ld + k];
    }
  }
}

/*
 * B's full 8-column panels → bp [G][P8/8][K][8] (P8 = P rounded down to 8), for bmm. tb = 0: B [G, K, P];
 * tb = 1: B given transposed as [G, P, K] (4×4 transposes; the product needs no swap_axes pass then).
 */
EXPORT(pack_b) void pack_b(const float *B, float *bp, int G, int K, int P, int tb) {
  int P8 = P & ~7;
  for (int g = 0; g < G; g++) pack_panels(B + (long)g * K * P, tb ? K : P, bp + (long)g * K * P8, K, P8, tb);
}

EXPORT(bmm) void bmm(const float *A, const float *B, float *C, int G, int M, int K, int P, int sam, int sak,
                     const float *bias, int has_bias, const float *bp, float *aq, int has_res, long rd) {
  int P8 = P & ~7;
  for (int g = 0; g < G; g++) {
    const float *ag = A + (long)g * M * K;
    const float *bg = B + (long)g * K * P;
    const float *bqg = bp ? bp + (long)g * K * P8 : 0;
    float *c = C + (long)g * M * P;
    for (int k0 = 0; k0 < K; k0 += KB) {
      int kn = K - k0 < KB ? K - k0 : KB;
      int first = k0 == 0;
      int fin = has_res && k0 + KB >= K;
      const float *a = ag + (long)k0 * sak;
      const float *b = bg + (long)k0 * P;
      const float *bq = bqg ? bqg + 8 * k0 : 0;
      for (int m0 = 0; m0 < M; m0 += MC) {
        int m1 = M - m0 < MC ? M : m0 + MC;
        int m4 = m0 + ((m1 - m0) & ~3);
        int p = 0;
        if (bq && aq) {
          pack_a(a + (long)m0 * sam, sam, sak, aq, m4 - m0, kn);
          for (; p < P8; p += 8)
            for (int m = m0; m < m4; m += 4)
              tile4x8p(aq + (long)(m - m0) * kn, bq + (long)p * K, c + (long)m * P + p, P, kn, first, bias + p,
                       has_bias, fin, rd);
        }
        for (; p < P8; p += 8) {
          const float *bk = bq ? bq + (long)p * K : b + p;
          long ldb = bq ? 8 : P;
          for (int m = m0; m < m4; m += 4)
            tile4x8(a + (long)m * sam, sam, sak, bk, ldb, c + (long)m * P + p, P, kn, first, bias + p, has_bias, fin, rd);
        }
        for (; p + 4 <= P; p += 4)
          for (int m = m0; m < m4; m += 4)
            tile4x4(a + (long)m * sam, sam, sak, b + p, c + (long)m * P + p, P, kn, first, bias + p, has_bias, fin, rd);
        for (; p < P; p++)
          for (int m = m0; m < m4; m += 4)
            tile4x1(a + (long)m * sam, sam, sak, b + p, c + (long)m * P + p, P, kn, first, bias + p, has_bias, fin, rd);
        for (int m = m4; m < m1; m++)
          row1(a + (long)m * sam, sak, b, bq, K, c + (long)m * P, P, kn, first, bias, has_bias, fin, rd);
      }
    }
  }
}

/* n floats src → dst (4 lanes, then the tail) */
static inline void copy_(float *dst, const float *src, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, wasm_v128_load(src + i));
  for (; i < n; i++) dst[i] = src[i];
}

/*
 * Attention of one (batch element, head) on packed operands, for N and d multiples of 8 (attention's
 * caller below checks): q (rows at stride sx) → [N/4][d][4], scale·k → panels [N/8][d][8], then
 * q·kᵀ on tile4x8p into P [N, N], softmax, P → [N/4][N][4], v → panels [d/8][N][8], and P·v on
 * tile4x8p straight into the head's columns of the merged output (row stride D). The same
 * multiply-adds in the same order as the unpacked path (bit-identical); 1.07–1.19× per layer in isolation
 * (docs/ENGINE.md, "Round 5"). scr: 3·N·d + N·N floats.
 */
static void attention_head_packed(const float *xb, long sx, int D, float *P, float *ob, float *scr, int N, int d,
                                  float scale, int compute) {
  float *qa = scr, *kp = qa + (long)N * d, *pa = kp + (long)N * d, *vp = pa + (long)N * N;
  if (compute) {
    const float *kb = xb + D;
    pack_a(xb, sx, 1, qa, N, d);
    pack_panels(kb, sx, kp, d, N, 1); /* kᵀ's panels: k's rows are kᵀ's columns */
    v128_t sv = wasm_f32x4_splat(scale);
    for (long i = 0, n = (long)N * d; i < n; i += 4) wasm_v128_store(kp + i, wasm_f32x4_mul(wasm_v128_load(kp + i), sv));
    for (int t = 0; t < N; t += 8)
      for (int m = 0; m < N; m += 4)
        tile4x8p(qa + (long)m * d, kp + (long)t * d, P + (long)m * N + t, N, d, 1, 0, 0, 0, 0);
    softmax(P, P, N, N);
  }
  pack_a(P, N, 1, pa, N, N);
  pack_panels(compute ? xb + 2 * D : xb, sx, vp, N, d, 0);
  for (int c = 0; c < d; c += 8)
    for (int m = 0; m < N; m += 4)
      tile4x8p(pa + (long)m * N, vp + (long)c * N, ob + (long)m * D + c, D, N, 1, 0, 0, 0, 0);
}

/*
 * Attention for inference, one kernel per layer: for each batch element b and head j (h heads of d),
 * P = softmax(scale·q·kᵀ) (compute = 1, written to probs [B, h, N, N]) or P = probs (compute = 0, a
 * reuse layer), then out [B, N, h·d] = P·v with the heads merged. q, k, v are read in place from x:
 * compute = 1: x = the qkv projection [B, N, 3, h, d] (token stride 3·h·d); compute = 0: x = v [B, N, h, d].
 * No head split or merge pass: for N and d multiples of 8 the head runs on packed operands
 * (attention_head_packed; scratch 3·N·d + N·N floats); otherwise kᵀ (scaled), v and one head's output
 * go through the scratch (3·N·d floats) and the two products are bmm's.
 */
EXPORT(attention) void attention(const float *x, float *probs, float *out, float *scr, int B, int N, int h, int d,
                                 float scale, int compute) {
  int D = h * d;
  long sx = compute ? 3L * D : D; /* token stride of x */
  float *kt = scr, *vp = scr + (long)d * N, *o = vp + (long)N * d;
  int N4 = N & ~3, d4 = d & ~3;
  int packed = (N & 7) == 0 && (d & 7) == 0;
  for (int b = 0; b < B; b++)
    for (int j = 0; j < h; j++) {
      const float *xb = x + (long)b * N * sx + (long)j * d;
      float *P = probs + ((long)b * h + j) * N * N;
      if (packed) {
        attention_head_packed(xb, sx, D, P, out + (long)b * N * D + (long)j * d, scr, N, d, scale, compute);
        continue;
      }
      if (compute) {
        const float *kb = xb + D;
        /* kᵀ [d, N] = scale · k: 4×4 transposes, then one scaling pass */
        for (int t = 0; t < N4; t += 4)
          for (int c = 0; c < d4; c += 4) t4x4(kb + (long)t * sx + c, sx, kt + (long)c * N + t, N);
        for (int t = 0; t < N; t++)
          for (int c = t < N4 ? d4 : 0; c < d; c++) kt[(long)c * N + t] = kb[(long)t * sx + c];
        v128_t sv = wasm_f32x4_splat(scale);
        long n = (long)d * N, i = 0;
        for (; i + 4 <= n; i += 4) wasm_v128_store(kt + i, wasm_f32x4_mul(wasm_v128_load(kt + i), sv));
        for (; i < n; i++) kt[i] *= scale;
        bmm(xb, kt, P, 1, N, d, N, sx, 1, 0, 0, 0, 0, 0, 0);
        softmax(P, P, N, N);
      }
      const float *vb = compute ? xb + 2 * D : xb;
      for (int t = 0; t < N; t++) copy_(vp + (long)t * d, vb + (long)t * sx, d);
      bmm(P, vp, o, 1, N, N, d, N, 1, 0, 0, 0, 0, 0, 0);
      for (int t = 0; t < N; t++) copy_(out + ((long)b * N + t) * D + (long)j * d, o + (long)t * d, d);
    }
}
