/** Fitting, normalisation, splits and augmentation: pure typed-array code against naive references. */
import { describe, expect, it } from "vitest";
import { augmentBatch, augmentOptions, defaultAugment, NO_AUGMENT } from "../../src/data/augment.js";
import { convertChannels, describeFit, fitDataset, fitImages, resize } from "../../src/data/fit.js";
import { buildLut, nextU32, seedState } from "../../src/data/kernels.js";
import { derivedState, RNG_TAG } from "../../src/data/seed.js";
import { classCounts, splitTrainVal, stratifiedQuota, subset } from "../../src/data/split.js";
import { computeStats, normalize } from "../../src/data/stats.js";
import { UsageError } from "../../src/errors.js";
import { Rng, type RngState } from "../../src/util/rng.js";
import { makeDataset } from "./helpers.js";

describe("fitting to the model input", () => {
  it("zero-pads 28x28 → 32x32 centred (2 pixels each side)", () => {
    const ds = makeDataset(3, 28, 28, 1);
    const f = fitDataset(ds, { size: 32 });
    expect([f.height, f.width, f.channels, f.n]).toEqual([32, 32, 1, 3]);
    for (let i = 0; i < 3; i++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          const want = inside ? ds.images[(i * 28 + y - 2) * 28 + x - 2] : 0;
          expect(f.images[(i * 32 + y) * 32 + x]).toBe(want);
        }
      }
    }
    expect(describeFit(28, 28, 1, { size: 32 })).toBe("zero-pad 28x28 → 32x32 (centred)");
  });

  it("odd padding goes bottom/right; the same size is a no-op", () => {
    const ds = makeDataset(1, 3, 3, 1);
    const f = fitImages(ds.images, 1, 3, 3, 1, { size: 6 });
    // top = floor(3/2) = 1, so rows 1..3 hold the image, rows 4 and 5 are padding
    expect(f.images[1 * 6 + 1]).toBe(ds.images[0]);
    expect(f.images[5 * 6 + 5]).toBe(0);
    expect(fitDataset(ds, { size: 3 })).toBe(ds);
  });

  it("larger images: resize shorter side, then centre-crop", () => {
    const ds = makeDataset(2, 64, 96, 3);
    const f = fitDataset(ds, { size: 32 });
    expect([f.height, f.width, f.channels]).toEqual([32, 32, 3]);
    expect(describeFit(64, 96, 3, { size: 32 })).toBe(
      "resize 64x96 → 32x48 (bilinear, antialiased), centre-crop → 32x32",
    );
    // the crop keeps the middle: compare with resize alone
    const r = resize(ds.images, 2, 64, 96, 3, 32, 48);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        expect(f.images[(32 + y) * 32 * 3 + x * 3 + 1]).toBe(r[(32 + y) * 48 * 3 + (x + 8) * 3 + 1]);
      }
    }
  });

  it("resize: exact 2x downscale uses PIL's antialiased triangle weights; constants stay constant", () => {
    // one row of 8 → 4: weights [1/8, 3/8, 3/8, 1/8] over pixels 2o−1..2o+2 (clipped and renormalised at edges)
    const row = Uint8Array.from([0, 80, 160, 240, 0, 80, 160, 240]);
    const out = resize(row, 1, 1, 8, 1, 1, 4);
    const ref = (o: number) => {
      let acc = 0;
      let sum = 0;
      [1, 3, 3, 1].forEach((w, k) => {
        const j = 2 * o - 1 + k;
        if (j >= 0 && j < 8) {
          acc += w * row[j];
          sum += w;
        }
      });
      return Math.round(acc / sum);
    };
    expect(Array.from(out)).toEqual([0, 1, 2, 3].map(ref));
    const flat = new Uint8Array(50 * 70 * 3).fill(123);
    expect(resize(flat, 1, 50, 70, 3, 17, 29).every((v) => v === 123)).toBe(true);
    expect(resize(flat, 1, 50, 70, 3, 91, 133).every((v) => v === 123)).toBe(true);
  });

  it("channels: grey → RGB replicates, RGB → grey uses PIL's luma", () => {
    expect(Array.from(convertChannels(Uint8Array.from([7, 200]), 2, 1, 3))).toEqual([7, 7, 7, 200, 200, 200]);
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const L = (r: number, g: number, b: number) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    expect(Array.from(convertChannels(rgb, 4, 3, 1))).toEqual([
      L(255, 0, 0),
      L(0, 255, 0),
      L(0, 0, 255),
      L(10, 20, 30),
    ]);
    expect(() => convertChannels(rgb, 3, 4, 1)).toThrow(UsageError);
    const f = fitDataset(makeDataset(2, 28, 28, 1), { size: 32, channels: 3 });
    expect([f.height, f.channels]).toEqual([32, 3]);
  });
});

describe("normalisation", () => {
  it("computeStats: per-channel mean and population std of pixels/255 (rounded to 1e-6)", () => {
    const ds = makeDataset(5, 6, 7, 3);
    const s = computeStats(ds);
    for (let c = 0; c < 3; c++) {
      const v: number[] = [];
      for (let i = c; i < ds.images.length; i += 3) v.push(ds.images[i] / 255);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
      expect(s.mean[c]).toBeCloseTo(m, 6);
      expect(s.std[c]).toBeCloseTo(sd, 6);
      expect(Math.round(s.mean[c] * 1e6)).toBe(s.mean[c] * 1e6);
    }
    expect(computeStats({ images: new Uint8Array(10), channels: 1 })).toEqual({ mean: [0], std: [1] });
  });

  it("normalize = (x/255 − mean)/std in float32, the same table as the batch kernel", () => {
    const pre = { mean: [0.2, 0.5], std: [0.3, 0.25] };
    const px = Uint8Array.from([0, 255, 17, 128, 255, 0]);
    const out = normalize(px, 2, pre);
    px.forEach((v, i) => {
      expect(out[i]).toBe(Math.fround((v / 255 - pre.mean[i % 2]) / pre.std[i % 2]));
    });
    expect(buildLut(pre.mean, pre.std, 2)[256 + 17]).toBe(Math.fround((17 / 255 - 0.5) / 0.25));
    expect(() => normalize(px, 2, { mean: [0], std: [1] })).toThrow(UsageError);
    expect(() => normalize(px, 2, { mean: [0, 0], std: [1, 0] })).toThrow(/std must be > 0/);
  });
});

describe("validation carve-out", () => {
  it("stratified, disjoint, complete, seeded", () => {
    const ds = makeDataset(103, 2, 2, 1, 4); // classes 26, 26, 26, 25
    const a = splitTrainVal(ds, { seed: 5, valFraction: 0.2 });
    expect(a.val.n).toBe(21);
    expect(a.train.n).toBe(82);
    const vc = classCounts(a.val);
    expect(vc.reduce((x, y) => x + y)).toBe(21);
    expect(Math.max(...vc) - Math.min(...vc)).toBeLessThanOrEqual(1);
    // disjoint and complete: pixel 0 of image i is (i·13) & 255, unique per i for i < 103 with 4 px…
    const key = (d: typeof ds, k: number) => Array.from(d.images.subarray(k * 4, k * 4 + 4)).join(",");
    const seen = new Set<string>();
    for (const part of [a.train, a.val]) for (let k = 0; k < part.n; k++) seen.add(key(part, k));
    expect(seen.size).toBe(103);
    const b = splitTrainVal(ds, { seed: 5, valFraction: 0.2 });
    expect(b.val.images).toEqual(a.val.images);
    const c = splitTrainVal(ds, { seed: 6, valFraction: 0.2 });
    expect(c.val.images).not.toEqual(a.val.images);
    expect(splitTrainVal(ds, { seed: 1, valSize: 10 }).val.n).toBe(10);
    expect(() => splitTrainVal(ds, { seed: 1, valSize: 103 })).toThrow(UsageError);
    expect(() => splitTrainVal(ds, { seed: 1, valFraction: 1.5 })).toThrow(UsageError);
  });

  it("largest-remainder quota", () => {
    expect(stratifiedQuota([50, 30, 20], 10)).toEqual([5, 3, 2]);
    expect(stratifiedQuota([1, 1, 1], 2)).toEqual([1, 1, 0]);
    expect(stratifiedQuota([60, 60, 60, 60, 60, 60, 60, 60, 60, 60], 6000 / 100)).toEqual(
      new Array(10).fill(6),
    );
  });

  it("subset keeps the label array type", () => {
    const ds = { ...makeDataset(4, 1, 1, 1), labels: Uint16Array.from([3, 2, 1, 0]) };
    const s = subset(ds, [3, 1]);
    expect(s.labels).toBeInstanceOf(Uint16Array);
    expect(Array.from(s.labels)).toEqual([0, 2]);
  });
});

/** Naive reference: pad with black, crop at (dy+p, dx+p), flip, normalise. */
function reference(
  ds: ReturnType<typeof makeDataset>,
  i: number,
  dy: number,
  dx: number,
  flip: boolean,
  p: number,
) {
  const { height: h, width: w, channels: c } = ds;
  const ph = h + 2 * p;
  const pw = w + 2 * p;
  const padded = new Uint8Array(ph * pw * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++)
        padded[((y + p) * pw + x + p) * c + k] = ds.images[((i * h + y) * w + x) * c + k];
    }
  }
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const cx = flip ? w - 1 - x : x;
      for (let k = 0; k < c; k++)
        out[(y * w + x) * c + k] = padded[((y + dy + p) * pw + cx + dx + p) * c + k];
    }
  }
  return out;
}

describe("augmentation (typed arrays)", () => {
  it("random crop with zero padding + flip matches a naive pad/crop/flip reference", () => {
    const ds = makeDataset(16, 9, 7, 2);
    const pre = { mean: [0.1, 0.2], std: [0.5, 0.4] };
    const aug = { cropPadding: 3, flipProb: 0.5 };
    const indices = Int32Array.from([5, 0, 15, 7, 7, 3, 11, 2, 9, 1]);
    const { x, y } = augmentBatch(ds, indices, pre, aug, [42, 1, 9]);
    // replay the kernel's draws: three uint32 per image (dy, dx, flip)
    const rng = derivedState([42, RNG_TAG.augment, 1, 9]);
    const lut = buildLut(pre.mean, pre.std, 2);
    const per = 9 * 7 * 2;
    const seenDy = new Set<number>();
    let flips = 0;
    indices.forEach((idx, k) => {
      const dy = Math.floor((nextU32(rng) / 2 ** 32) * 7) - 3;
      const dx = Math.floor((nextU32(rng) / 2 ** 32) * 7) - 3;
      const flip = nextU32(rng) / 2 ** 32 < 0.5;
      seenDy.add(dy);
      flips += flip ? 1 : 0;
      const ref = reference(ds, idx, dy, dx, flip, 3);
      const want = Float32Array.from(ref, (v, j) => lut[(j % 2) * 256 + v]);
      expect(x.subarray(k * per, (k + 1) * per)).toEqual(want);
      expect(y[k]).toBe(ds.labels[idx]);
    });
    expect(seenDy.size).toBeGreaterThan(1);
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(indices.length);
  });

  it("off: plain normalisation; same coordinates → same batch; other coordinates → different", () => {
    const ds = makeDataset(8, 6, 6, 1);
    const pre = { mean: [0.5], std: [0.25] };
    const idx = [0, 1, 2, 3, 4, 5, 6, 7];
    const plain = augmentBatch(ds, idx, pre, NO_AUGMENT, [1, 0, 0]);
    expect(plain.x).toEqual(normalize(ds.images, 1, pre));
    const aug = { cropPadding: 2, flipProb: 0.5 };
    const a = augmentBatch(ds, idx, pre, aug, [1, 0, 0]);
    expect(augmentBatch(ds, idx, pre, aug, [1, 0, 0]).x).toEqual(a.x);
    expect(augmentBatch(ds, idx, pre, aug, [1, 0, 1]).x).not.toEqual(a.x);
    expect(a.x).not.toEqual(plain.x);
  });

  it("defaults: no flip for digits, flip for Fashion-MNIST/CIFAR/folders; options validated", () => {
    expect(defaultAugment("mnist", 32)).toEqual({ cropPadding: 2, flipProb: 0 });
    expect(defaultAugment("idx", 32).flipProb).toBe(0);
    expect(defaultAugment("embedded", 32)).toEqual({ cropPadding: 2, flipProb: 0.5 });
    expect(defaultAugment("cifar10", 32)).toEqual({ cropPadding: 4, flipProb: 0.5 });
    // a streamed folder: ImageNet's RandomResizedCrop, no padding
    expect(defaultAugment("folder", 64)).toEqual({
      cropPadding: 0,
      flipProb: 0.5,
      randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
    });
    expect(augmentOptions(defaultAugment("mnist", 32), { flipProb: 0.25 })).toEqual({
      cropPadding: 2,
      flipProb: 0.25,
    });
    expect(() => augmentOptions(NO_AUGMENT, { cropPadding: -1 })).toThrow(UsageError);
    expect(() => augmentOptions(NO_AUGMENT, { flipProb: 2 })).toThrow(UsageError);
  });
});

describe("generator", () => {
  it("the kernel's xoshiro128** equals src/util/rng.ts from the same state", () => {
    const s = seedState([123, 4, 5]);
    const r = Rng.fromState(Array.from(s) as RngState);
    const copy = Uint32Array.from(s);
    for (let i = 0; i < 1000; i++) expect(nextU32(copy)).toBe(r.nextU32());
  });

  it("seed words: distinct coordinates give distinct streams; large seeds use their high bits", () => {
    const first = (w: number[]) => nextU32(seedState(w));
    const seen = new Set<number>();
    for (let e = 0; e < 50; e++) for (let i = 0; i < 50; i++) seen.add(first([7, RNG_TAG.augment, e, i]));
    expect(seen.size).toBe(2500);
    expect(first([2 ** 40 + 1])).not.toBe(first([1]));
    expect(first([1, 2])).not.toBe(first([2, 1]));
  });
});
