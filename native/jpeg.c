/*
 * psvit's fast JPEG path for image folders (src/data/stream/native.ts): libjpeg-turbo's TurboJPEG API
 * decodes, then the crop and resize are done here with Pillow's antialiased bilinear resampling
 * (the arithmetic torchvision's transforms run on), 8-bit fixed point, horizontal pass then vertical.
 *
 * Why by hand: libvips through sharp costs ≈ 1.55 ms per 500×375 JPEG against libjpeg-turbo's
 * 0.54 ms (docs/BENCHMARKS.md, "Image folders at scale"); no npm package ships libjpeg-turbo's API
 * with prebuilt binaries. Built by scripts/build-native.mjs against Debian's libturbojpeg0-dev; where
 * it is not built, psvit decodes with sharp.
 *
 * decode(bytes, channels, orientation, geometry, flip, callback(err, pixels)):
 *   geometry: Float64Array [in0, in1, outSize, o0, n, lo, hi] for x, then the same for y (type Axis)
 *   in the coordinates of the image after its EXIF orientation.
 * Runs on libuv's thread pool; `pixels` is a Buffer of n_y × n_x × channels bytes (HWC).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define PRECISION_BITS (32 - 8 - 2)

/* One axis of the resampling: a resize of source [in0, in1) to outSize pixels, of which outputs
 * [o0, o0 + n) are wanted, reading source pixels in [lo, hi) only (Pillow clamps to its image: the crop
 * for a RandomResizedCrop, the whole picture for the eval transform's resize). */
typedef struct {
  double in0, in1;
  int outSize, o0, n, lo, hi;
} Axis;

typedef struct {
  int ksize;
  int *xmin, *xcount; /* per output: first source index, number of taps */
  int *k;             /* n × ksize fixed-point weights */
} Coeffs;

static double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc (Resample.c), for the wanted outputs only. */
static int precompute(const Axis *a, Coeffs *c) {
  double scale = (a->in1 - a->in0) / a->outSize;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  c->ksize = ksize;
  c->xmin = malloc(sizeof(int) * a->n);
  c->xcount = malloc(sizeof(int) * a->n);
  c->k = calloc((size_t)a->n * ksize, sizeof(int));
  double *pre = malloc(sizeof(double) * ksize);
  if (!c->xmin || !c->xcount || !c->k || !pre) {
    free(pre);
    return 0;
  }
  for (int i = 0; i < a->n; i++) {
    int xx = a->o0 + i;
    double center = a->in0 + (xx + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < a->lo) xmin = a->lo;
    int xmax = (int)(center + support + 0.5);
    if (xmax > a->hi) xmax = a->hi;
    xmax -= xmin;
    if (xmax > ksize) xmax = ksize;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      double w = bilinear((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? pre[x] / ww : pre[x];
      c->k[i * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS)) : (int)(0.5 + v * (1 << PRECISION_BITS));
    }
    c->xmin[i] = xmin;
    c->xcount[i] = xmax;
  }
  free(pre);
  return 1;
}

static void freeCoeffs(Coeffs *c) {
  free(c->xmin);
  free(c->xcount);
  free(c->k);
}

static inline unsigned char clip8(int in) {
  if (in >= (1 << PRECISION_BITS << 8)) return 255;
  if (in <= 0) return 0;
  return (unsigned char)(in >> PRECISION_BITS);
}

/* The image as its EXIF orientation (2–8) shows it: W×H from the stored W0×H0, channels C. */
static unsigned char *orient(const unsigned char *img, int o, int W0, int H0, int C) {
  int W = o >= 5 ? H0 : W0, H = o >= 5 ? W0 : H0;
  unsigned char *out = malloc((size_t)W * H * C);
  if (!out) return NULL;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int sx, sy;
      switch (o) {
        case 2: sx = W0 - 1 - x; sy = y; break;
        case 3: sx = W0 - 1 - x; sy = H0 - 1 - y; break;
        case 4: sx = x; sy = H0 - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H0 - 1 - x; break;
        case 7: sx = W0 - 1 - y; sy = H0 - 1 - x; break;
        case 8: sx = W0 - 1 - y; sy = x; break;
        default: sx = x; sy = y;
      }
      memcpy(out + ((size_t)y * W + x) * C, img + ((size_t)sy * W0 + sx) * C, C);
    }
  return out;
}

/* out[i] (C channels) = Pillow's 8-bit sum of src[(x0 + t) * stride] × k[t] over the taps */
static inline void taps(unsigned char *out, const unsigned char *src, size_t stride, const int *k, int cnt,
                        int C) {
  if (C == 3) {
    int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
    for (int t = 0; t < cnt; t++, src += stride) {
      s0 += src[0] * k[t];
      s1 += src[1] * k[t];
      s2 += src[2] * k[t];
    }
    out[0] = clip8(s0);
    out[1] = clip8(s1);
    out[2] = clip8(s2);
  } else {
    int s0 = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < cnt; t++, src += stride) s0 += src[0] * k[t];
    out[0] = clip8(s0);
  }
}

typedef struct {
  napi_async_work work;
  napi_ref bytesRef, callbackRef;
  const unsigned char *bytes;
  size_t length;
  int channels, orientation, flip;
  Axis ax, ay;
  unsigned char *out;
  /* float mode: normalised values written to sink[sinkOffset …] through lut (256 per channel) */
  float *sink;
  const float *lut;
  size_t sinkOffset;
  napi_ref sinkRef, lutRef;
  char error[200];
} Job;

static void execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  tjhandle h = tjInitDecompress();
  unsigned char *img = NULL, *tmp = NULL;
  Coeffs cx = {0}, cy = {0};
  if (!h) {
    snprintf(j->error, sizeof j->error, "tjInitDecompress failed");
    return;
  }
  int W0, H0, subsamp, colorspace;
  if (tjDecompressHeader3(h, j->bytes, (unsigned long)j->length, &W0, &H0, &subsamp, &colorspace) != 0) {
    snprintf(j->error, sizeof j->error, "%s", tjGetErrorStr2(h));
    goto done;
  }
  int C = j->channels;
  /* grey from a colour JPEG: decoded to RGB, then Pillow's convert("L") (ITU-R 601-2 luma, 16-bit
   * fixed point); a grey JPEG is decoded as it is */
  int viaRgb = C == 1 && colorspace != TJCS_GRAY;
  img = malloc((size_t)W0 * H0 * (viaRgb ? 3 : C));
  if (!img) {
    snprintf(j->error, sizeof j->error, "out of memory for a %dx%d image", W0, H0);
    goto done;
  }
  /* accurate DCT and fancy upsampling (TurboJPEG's defaults, as Pillow decodes); any warning
   * (a truncated file, say) is an error here, so that the caller decodes the file with sharp instead */
  if (tjDecompress2(h, j->bytes, (unsigned long)j->length, img, W0, 0, H0, C == 1 && !viaRgb ? TJPF_GRAY : TJPF_RGB,
                    TJFLAG_STOPONWARNING) != 0) {
    snprintf(j->error, sizeof j->error, "%s", tjGetErrorStr2(h));
    goto done;
  }
  if (viaRgb) {
    size_t px = (size_t)W0 * H0;
    for (size_t i = 0; i < px; i++) {
      const unsigned char *p = img + i * 3;
      img[i] = (unsigned char)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
  }
  int W = W0;
  if (j->orientation >= 2 && j->orientation <= 8) {
    unsigned char *shown = orient(img, j->orientation, W0, H0, C);
    if (!shown) {
      snprintf(j->error, sizeof j->error, "out of memory for a %dx%d image", W0, H0);
      goto done;
    }
    free(img);
    img = shown;
    if (j->orientation >= 5) W = H0;
  }
  if (!precompute(&j->ax, &cx) || !precompute(&j->ay, &cy)) {
    snprintf(j->error, sizeof j->error, "out of memory for the resampling weights");
    goto done;
  }
  /* horizontal pass over the source rows the vertical pass reads */
  int ylo = j->ay.hi, yhi = j->ay.lo;
  for (int i = 0; i < j->ay.n; i++) {
    if (cy.xcount[i] == 0) continue;
    if (cy.xmin[i] < ylo) ylo = cy.xmin[i];
    if (cy.xmin[i] + cy.xcount[i] > yhi) yhi = cy.xmin[i] + cy.xcount[i];
  }
  if (yhi < ylo) yhi = ylo;
  int nx = j->ax.n, ny = j->ay.n;
  tmp = malloc((size_t)(yhi - ylo + 1) * nx * C);
  j->out = malloc((size_t)nx * ny * C);
  if (!tmp || !j->out) {
    snprintf(j->error, sizeof j->error, "out of memory for the resize");
    goto done;
  }
  for (int y = ylo; y < yhi; y++) {
    const unsigned char *src = img + (size_t)y * W * C;
    unsigned char *row = tmp + (size_t)(y - ylo) * nx * C;
    for (int i = 0; i < nx; i++)
      taps(row + i * C, src + (size_t)cx.xmin[i] * C, C, cx.k + (size_t)i * cx.ksize, cx.xcount[i], C);
  }
  /* vertical pass, mirrored on the way out when asked */
  size_t rowBytes = (size_t)nx * C;
  for (int r = 0; r < ny; r++) {
    const int *k = cy.k + (size_t)r * cy.ksize;
    const unsigned char *src = tmp + (size_t)(cy.xmin[r] - ylo) * rowBytes;
    unsigned char *dst = j->out + (size_t)r * rowBytes;
    for (int i = 0; i < nx; i++)
      taps(dst + (size_t)(j->flip ? nx - 1 - i : i) * C, src + (size_t)i * C, rowBytes, k, cy.xcount[r], C);
  }
  if (j->sink) {
    size_t n = (size_t)nx * ny * C;
    float *dst = j->sink + j->sinkOffset;
    if (C == 3)
      for (size_t i = 0; i < n; i += 3) {
        dst[i] = j->lut[j->out[i]];
        dst[i + 1] = j->lut[256 + j->out[i + 1]];
        dst[i + 2] = j->lut[512 + j->out[i + 2]];
      }
    else
      for (size_t i = 0; i < n; i++) dst[i] = j->lut[j->out[i]];
  }
done:
  freeCoeffs(&cx);
  freeCoeffs(&cy);
  free(tmp);
  free(img);
  if (j->error[0]) {
    free(j->out);
    j->out = NULL;
  }
  tjDestroy(h);
}

static void freeOut(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value cb, undef, args[2];
  napi_get_reference_value(env, j->callbackRef, &cb);
  napi_get_undefined(env, &undef);
  if (status != napi_ok || j->error[0] || !j->out) {
    j->sink = NULL;
    napi_value msg;
    napi_create_string_utf8(env, j->error[0] ? j->error : "decode cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &args[0]);
    args[1] = undef;
  } else if (j->sink) {
    args[0] = undef; /* written into the sink */
    args[1] = undef;
  } else {
    args[0] = undef;
    size_t n = (size_t)j->ax.n * j->ay.n * j->channels;
    napi_create_external_buffer(env, n, j->out, freeOut, NULL, &args[1]);
    j->out = NULL;
  }
  napi_call_function(env, undef, cb, 2, args, NULL);
  if (j->sinkRef) napi_delete_reference(env, j->sinkRef);
  if (j->lutRef) napi_delete_reference(env, j->lutRef);
  napi_delete_reference(env, j->bytesRef);
  napi_delete_reference(env, j->callbackRef);
  napi_delete_async_work(env, j->work);
  free(j->out);
  free(j);
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* decode(bytes: Uint8Array, channels, orientation, geometry: Float64Array(14), flip, callback
 *        [, sink: Float32Array, sinkOffset, lut: Float32Array(256 × channels)]) */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 6 && argc != 9) return fail(env, "decode: 6 or 9 arguments expected");
  Job *j = calloc(1, sizeof(Job));
  if (!j) return fail(env, "decode: out of memory");
  napi_typedarray_type type;
  size_t length, offset;
  void *bytes;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &bytes, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    free(j);
    return fail(env, "decode: bytes must be a Uint8Array");
  }
  j->bytes = bytes;
  j->length = length;
  napi_get_value_int32(env, argv[1], &j->channels);
  napi_get_value_int32(env, argv[2], &j->orientation);
  double *g;
  size_t glen;
  if (napi_get_typedarray_info(env, argv[3], &type, &glen, (void **)&g, &ab, &offset) != napi_ok ||
      type != napi_float64_array || glen != 14) {
    free(j);
    return fail(env, "decode: geometry must be a Float64Array of 14");
  }
  j->ax = (Axis){g[0], g[1], (int)g[2], (int)g[3], (int)g[4], (int)g[5], (int)g[6]};
  j->ay = (Axis){g[7], g[8], (int)g[9], (int)g[10], (int)g[11], (int)g[12], (int)g[13]};
  bool flip;
  napi_get_value_bool(env, argv[4], &flip);
  j->flip = flip;
  if ((j->channels != 1 && j->channels != 3) || j->ax.n <= 0 || j->ay.n <= 0 || j->ax.outSize <= 0 ||
      j->ay.outSize <= 0 || j->ax.hi <= j->ax.lo || j->ay.hi <= j->ay.lo) {
    free(j);
    return fail(env, "decode: bad channels or geometry");
  }
  if (argc == 9) {
    size_t slen, llen;
    float *sink, *lut;
    double off;
    if (napi_get_typedarray_info(env, argv[6], &type, &slen, (void **)&sink, &ab, &offset) != napi_ok ||
        type != napi_float32_array ||
        napi_get_typedarray_info(env, argv[8], &type, &llen, (void **)&lut, &ab, &offset) != napi_ok ||
        type != napi_float32_array || napi_get_value_double(env, argv[7], &off) != napi_ok) {
      free(j);
      return fail(env, "decode: sink and lut must be Float32Arrays, sinkOffset a number");
    }
    size_t need = (size_t)j->ax.n * j->ay.n * j->channels;
    if (off < 0 || off != floor(off) || (size_t)off + need > slen || llen != (size_t)256 * j->channels) {
      free(j);
      return fail(env, "decode: the sink is too small for the image at that offset, or lut is not 256 x channels");
    }
    j->sink = sink;
    j->sinkOffset = (size_t)off;
    j->lut = lut;
    napi_create_reference(env, argv[6], 1, &j->sinkRef);
    napi_create_reference(env, argv[8], 1, &j->lutRef);
  }
  napi_create_reference(env, argv[0], 1, &j->bytesRef);
  napi_create_reference(env, argv[5], 1, &j->callbackRef);
  napi_value name;
  napi_create_string_utf8(env, "psvit.decodeJpeg", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  return exports;
}
