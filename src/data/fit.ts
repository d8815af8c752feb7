/**
 * Fitting a dataset to the model's input (square `size`, `channels`). The policy, applied to the
 * whole set (all images of a dataset share one size):
 *
 * 1. Channels: 1 → 3 replicates the grey value; 3 → 1 takes the ITU-R 601 luma
 *    L = (19595·R + 38470·G + 7471·B + 32768) >> 16 (PIL's `convert("L")`).
 * 2. Size: if the image fits (H ≤ size and W ≤ size) it is zero-padded (black), centred, the odd
 *    pixel going to the bottom/right (Fashion-MNIST 28×28 → 32×32: 2 pixels on every side).
 *    Otherwise the shorter side is resized to `size` (the longer to floor(long·size/short)) with an
 *    antialiased triangle (bilinear) filter as PIL's `resize(BILINEAR)`, then the centre is cropped,
 *    the odd pixel again cut from the bottom/right.
 *
 * Pure: typed arrays in, typed arrays out. The same code fits images at predict time.
 */
import { UsageError } from "../errors.js";
import type { Dataset } from "./types.js";

export interface FitTarget {
  size?: number;
  channels?: number;
}

/** A one-line description of what `fitDataset` does to images of this shape. */
export function describeFit(h: number, w: number, c: number, target: FitTarget): string {
  const steps: string[] = [];
  const tc = target.channels ?? c;
  if (tc !== c) steps.push(c === 1 ? "grey → RGB (replicate)" : "RGB → grey (luma)");
  const s = target.size;
  if (s !== undefined && !(h === s && w === s)) {
    if (h <= s && w <= s) steps.push(`zero-pad ${h}x${w} → ${s}x${s} (centred)`);
    else {
      const [rh, rw] = resizedShape(h, w, s);
      steps.push(`resize ${h}x${w} → ${rh}x${rw} (bilinear, antialiased), centre-crop → ${s}x${s}`);
    }
  }
  return steps.length === 0 ? "none (already the input size)" : steps.join(", then ");
}

function resizedShape(h: number, w: number, s: number): [number, number] {
  return h <= w ? [s, Math.max(s, Math.floor((w * s) / h))] : [Math.max(s, Math.floor((h * s) / w)), s];
}

/** Convert channels of NHWC images. */
export function convertChannels(images: Uint8Array, pixels: number, from: number, to: number): Uint8Array {
  if (from === to) return images;
  const out = new Uint8Array(pixels * to);
  if (from === 1 && to === 3) {
    for (let p = 0; p < pixels; p++) {
      const v = images[p];
      out[3 * p] = v;
      out[3 * p + 1] = v;
      out[3 * p + 2] = v;
    }
    return out;
  }
  if (from === 3 && to === 1) {
    for (let p = 0; p < pixels; p++) {
      out[p] = (19595 * images[3 * p] + 38470 * images[3 * p + 1] + 7471 * images[3 * p + 2] + 32768) >>> 16;
    }
    return out;
  }
  throw new UsageError(
    `cannot convert images with ${from} channels to ${to} channels (1 and 3 are supported)`,
  );
}

/** Zero-pad (dst larger) or crop (dst smaller) each image around its centre. */
export function padOrCrop(
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
): Uint8Array {
  const out = new Uint8Array(n * oh * ow * c);
  const top = Math.floor((oh - h) / 2); // > 0: padding; < 0: crop offset (negated)
  const left = Math.floor((ow - w) / 2);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < oh; y++) {
      const sy = y - top;
      if (sy < 0 || sy >= h) continue;
      const x0 = Math.max(0, left);
      const x1 = Math.min(ow, left + w);
      const srcStart = ((i * h + sy) * w + (x0 - left)) * c;
      out.set(images.subarray(srcStart, srcStart + (x1 - x0) * c), ((i * oh + y) * ow + x0) * c);
    }
  }
  return out;
}

/** Per-output-pixel filter taps along one axis (PIL's antialiased bilinear: triangle, support ∝ scale). */
function taps(
  inSize: number,
  outSize: number,
): { start: Int32Array; count: Int32Array; weights: Float64Array } {
  const scale = inSize / outSize;
  const fscale = Math.max(scale, 1);
  const support = fscale; // triangle filter support 1, widened when downsampling
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxTaps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.floor(center - support + 0.5), 0);
    const hi = Math.min(Math.floor(center + support + 0.5), inSize);
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const t = Math.abs((j - center + 0.5) / fscale);
      const wgt = t < 1 ? 1 - t : 0;
      weights[o * maxTaps + (j - lo)] = wgt;
      sum += wgt;
    }
    for (let j = lo; j < hi; j++) weights[o * maxTaps + (j - lo)] /= sum || 1;
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, weights };
}

/** Resize each NHWC image h×w → oh×ow (separable antialiased bilinear, rounded and clamped to uint8). */
export function resize(
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
): Uint8Array {
  const tx = taps(w, ow);
  const ty = taps(h, oh);
  const mx = tx.weights.length / ow;
  const my = ty.weights.length / oh;
  const out = new Uint8Array(n * oh * ow * c);
  const tmp = new Float64Array(h * ow * c);
  for (let i = 0; i < n; i++) {
    const base = i * h * w * c;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let k = 0; k < tx.count[x]; k++) {
            acc += tx.weights[x * mx + k] * images[base + (y * w + tx.start[x] + k) * c + ch];
          }
          tmp[(y * ow + x) * c + ch] = acc;
        }
      }
    }
    const obase = i * oh * ow * c;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let k = 0; k < ty.count[y]; k++)
            acc += ty.weights[y * my + k] * tmp[((ty.start[y] + k) * ow + x) * c + ch];
          const v = Math.round(acc);
          out[obase + (y * ow + x) * c + ch] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return out;
}

/** Fit NHWC images of one shape to `target` (see the module comment for the policy). */
export function fitImages(
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  target: FitTarget,
): { images: Uint8Array; height: number; width: number; channels: number } {
  const tc = target.channels ?? c;
  let out = convertChannels(images, n * h * w, c, tc);
  const s = target.size;
  if (s === undefined || (h === s && w === s)) return { images: out, height: h, width: w, channels: tc };
  if (!Number.isInteger(s) || s <= 0) throw new UsageError(`image size must be a positive integer, got ${s}`);
  if (h <= s && w <= s)
    return { images: padOrCrop(out, n, h, w, tc, s, s), height: s, width: s, channels: tc };
  const [rh, rw] = resizedShape(h, w, s);
  out = resize(out, n, h, w, tc, rh, rw);
  return { images: padOrCrop(out, n, rh, rw, tc, s, s), height: s, width: s, channels: tc };
}

/** `fitImages` on a Dataset; returns the same object when nothing changes. */
export function fitDataset(ds: Dataset, target: FitTarget): Dataset {
  const tc = target.channels ?? ds.channels;
  const s = target.size;
  if (tc === ds.channels && (s === undefined || (ds.height === s && ds.width === s))) return ds;
  const fitted = fitImages(ds.images, ds.n, ds.height, ds.width, ds.channels, target);
  return { ...ds, ...fitted };
}
