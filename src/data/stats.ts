/**
 * Normalisation. `computeStats` measures the per-channel mean and (population) standard deviation
 * of the training split's pixels scaled to [0, 1]; `normalize` applies (x/255 − mean)/std. The same
 * `normalize` serves training, evaluation and `predict` with a config's `preprocess` (SPEC §1).
 */
import { UsageError } from "../errors.js";
import { buildLut } from "./kernels.js";
import type { Dataset, Preprocess } from "./types.js";

/** Round to 6 decimals: stats are recorded in JSON configs and must equal what training used. */
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Per-channel mean and std of pixels/255 over the whole dataset (rounded to 1e-6; a constant channel gets std 1). */
export function computeStats(ds: Pick<Dataset, "images" | "channels">): Preprocess {
  const c = ds.channels;
  const hist = new Float64Array(c * 256);
  const px = ds.images;
  for (let i = 0; i < px.length; i += c) {
    for (let ch = 0; ch < c; ch++) hist[ch * 256 + px[i + ch]]++;
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let n = 0;
    let s = 0;
    for (let v = 0; v < 256; v++) {
      n += hist[ch * 256 + v];
      s += hist[ch * 256 + v] * (v / 255);
    }
    const m = n > 0 ? s / n : 0;
    let ss = 0;
    for (let v = 0; v < 256; v++) ss += hist[ch * 256 + v] * (v / 255 - m) ** 2;
    mean.push(round6(m));
    const sd = round6(Math.sqrt(n > 0 ? ss / n : 0));
    std.push(sd > 0 ? sd : 1); // a constant channel: leave its scale alone
  }
  return { mean, std };
}

/** The identity preprocessing (SPEC default: mean 0, std 1). */
export function identityPreprocess(channels: number): Preprocess {
  return { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
}

export function checkPreprocess(pre: Preprocess, channels: number): void {
  if (pre.mean.length !== channels || pre.std.length !== channels) {
    throw new UsageError(
      `preprocess has ${pre.mean.length} mean and ${pre.std.length} std values for ${channels}-channel images`,
    );
  }
  if (pre.std.some((s) => !(s > 0)))
    throw new UsageError(`preprocess std must be > 0, got [${pre.std.join(", ")}]`);
}

/** Normalise NHWC uint8 pixels to float32: (x/255 − mean[c]) / std[c]. */
export function normalize(
  images: Uint8Array,
  channels: number,
  pre: Preprocess,
  out?: Float32Array,
): Float32Array {
  checkPreprocess(pre, channels);
  const lut = buildLut(pre.mean, pre.std, channels);
  const dst = out ?? new Float32Array(images.length);
  if (dst.length < images.length)
    throw new RangeError(`normalize: output has ${dst.length} < ${images.length} floats`);
  for (let i = 0; i < images.length; i += channels) {
    for (let ch = 0; ch < channels; ch++) dst[i + ch] = lut[ch * 256 + images[i + ch]];
  }
  return dst;
}
