/**
 * The hot, pure kernels of the data pipeline: the seeded generator and batch assembly
 * (augment + normalise into a Float32Array).
 *
 * This module must stay import-free and every function must be a top-level `function` declaration
 * that refers only to its parameters, its locals and the other functions listed in KERNEL_SOURCES:
 * the prefetch worker is built from their source text (`Function.prototype.toString`), so the
 * worker and the synchronous path run literally the same code and produce bit-identical batches.
 */

/** murmur3's 32-bit finaliser: a bijective avalanche mix of a 32-bit word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A xoshiro128** state (4 × uint32) seeded from a list of non-negative integers (each up to 2^53),
 * e.g. [seed, purpose tag, epoch, batch index]. Counter-based: the same words always give the same
 * state, so any batch's random numbers can be recreated from its coordinates alone.
 */
export function seedState(words: ArrayLike<number>): Uint32Array {
  let h = 0x6a09e667;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const lo = w >>> 0;
    const hi = Math.floor(w / 4294967296) >>> 0;
    h = fmix32((h ^ fmix32((lo + 0x9e3779b9) >>> 0)) >>> 0);
    h = fmix32((h ^ fmix32((hi + 0x7f4a7c15 + i) >>> 0)) >>> 0);
  }
  const s = new Uint32Array(4);
  // splitmix32 from h fills the state; xoshiro must not start from all zeros.
  let x = h;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    s[i] = fmix32(x);
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

/** Next uint32 of xoshiro128** (Blackman & Vigna); advances `s` in place. */
export function nextU32(s: Uint32Array): number {
  const s1 = s[1];
  const m = Math.imul(s1, 5);
  const r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
  const t = s1 << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  const s3 = s[3];
  s[3] = (s3 << 11) | (s3 >>> 21);
  return r;
}

/**
 * Normalisation lookup table: lut[c·256 + v] = float32((v/255 − mean[c]) / std[c]). Every path
 * (training batches, evaluation, predict) normalises through this table, so they agree bit for bit.
 */
export function buildLut(mean: ArrayLike<number>, std: ArrayLike<number>, channels: number): Float32Array {
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean[c]) / std[c];
  }
  return lut;
}

/**
 * Assemble one batch: for each k, image `indices[k]` of `images` (NHWC uint8, h×w×c each) is
 * optionally augmented (random crop with zero padding, then horizontal flip), normalised through
 * `lut`, and written to `outX` at k·h·w·c; its label goes to `outY[k]`. With `rng` null no
 * augmentation is done. With `rng` set, exactly three numbers are drawn per image (dy, dx, flip)
 * whatever the options, so the stream of random numbers does not depend on which options are on.
 */
export function prepareBatch(
  images: Uint8Array,
  labels: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  indices: ArrayLike<number>,
  lut: Float32Array,
  pad: number,
  flipProb: number,
  rng: Uint32Array | null,
  outX: Float32Array,
  outY: Int32Array,
): void {
  const per = h * w * c;
  const span = 2 * pad + 1;
  for (let k = 0; k < indices.length; k++) {
    const idx = indices[k];
    const src = idx * per;
    const dst = k * per;
    outY[k] = labels[idx];
    let dy = 0;
    let dx = 0;
    let flip = false;
    if (rng !== null) {
      dy = Math.floor((nextU32(rng) / 4294967296) * span) - pad;
      dx = Math.floor((nextU32(rng) / 4294967296) * span) - pad;
      flip = nextU32(rng) / 4294967296 < flipProb;
    }
    if (dy === 0 && dx === 0 && !flip) {
      for (let p = 0; p < per; p += c) {
        for (let ch = 0; ch < c; ch++) outX[dst + p + ch] = lut[ch * 256 + images[src + p + ch]];
      }
      continue;
    }
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      const rowOut = dst + y * w * c;
      if (sy < 0 || sy >= h) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < c; ch++) outX[rowOut + x * c + ch] = lut[ch * 256];
        }
        continue;
      }
      const rowIn = src + sy * w * c;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        const o = rowOut + x * c;
        if (sx < 0 || sx >= w) {
          for (let ch = 0; ch < c; ch++) outX[o + ch] = lut[ch * 256];
        } else {
          const i = rowIn + sx * c;
          for (let ch = 0; ch < c; ch++) outX[o + ch] = lut[ch * 256 + images[i + ch]];
        }
      }
    }
  }
}

/** The kernels, in dependency order, for building the prefetch worker's source. */
export const KERNEL_SOURCES: readonly ((...args: never[]) => unknown)[] = [
  fmix32,
  seedState,
  nextU32,
  buildLut,
  prepareBatch,
];
