/**
 * Image folders at real scale (issue 20), the foundation: the folder index and its cache, decoding any
 * size and format (PNG, JPEG, WebP; grey and colour; alpha; EXIF orientation), the torchvision
 * transforms' geometry, and the streamed batches (determinism, resume mid-epoch, bad files, bounded
 * memory) on folders the test generates.
 */
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp, { type Sharp } from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeToInput, imageSize, sniffFormat } from "../../src/data/stream/decode.js";
import {
  FolderBatchStream,
  type FolderStreamOptions,
  vipsThreadsPerImage,
} from "../../src/data/stream/folder-stream.js";
import { orientedSizeFromHeader } from "../../src/data/stream/header.js";
import { buildFolderIndex, folderIndex } from "../../src/data/stream/index.js";
import {
  evalResizeCrop,
  IMAGENET_TRAIN,
  randomResizedCrop,
  roundHalfEven,
} from "../../src/data/stream/transforms.js";
import { DataError } from "../../src/errors.js";
import { Rng } from "../../src/util/rng.js";
import { tempDir } from "../helpers.js";

/** A w×h image: left half `a`, right half `b` (grey levels), `channels` 1, 3 or 4. */
function halves(w: number, h: number, channels: 1 | 3 | 4, a = 255, b = 0): Sharp {
  const px = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++) px[(y * w + x) * channels + c] = c === 3 ? 200 : x < w / 2 ? a : b;
  return sharp(Buffer.from(px), { raw: { width: w, height: h, channels } });
}

let root: string;
beforeAll(async () => {
  root = tempDir("psvit-stream-");
  mkdirSync(join(root, "cat"));
  mkdirSync(join(root, "dog", "more"), { recursive: true });
  await halves(40, 30, 3)
    .png()
    .toFile(join(root, "cat", "a-colour.png"));
  await halves(25, 50, 1)
    .jpeg()
    .toFile(join(root, "cat", "b-grey.jpg"));
  await halves(64, 48, 4)
    .webp({ lossless: true })
    .toFile(join(root, "dog", "c-alpha.webp"));
  // stored 40 wide × 20 high, left half white; EXIF 6: shown turned 90° clockwise (20 wide × 40 high)
  await halves(40, 20, 3)
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toFile(join(root, "dog", "d-rotated.jpg"));
  await halves(300, 200, 3, 10, 240)
    .jpeg()
    .toFile(join(root, "dog", "more", "e-large.jpeg"));
  writeFileSync(join(root, "dog", "notes.txt"), "not an image");
});

describe("the folder index", () => {
  it("lists classes in order, images recursively, skips other files", async () => {
    const ix = await buildFolderIndex(root);
    expect(ix.classNames).toEqual(["cat", "dog"]);
    expect(ix.files).toEqual([
      join("cat", "a-colour.png"),
      join("cat", "b-grey.jpg"),
      join("dog", "c-alpha.webp"),
      join("dog", "d-rotated.jpg"),
      join("dog", "more", "e-large.jpeg"),
    ]);
    expect(ix.labels).toEqual([0, 0, 1, 1, 1]);
    expect(ix.skipped.count).toBe(1);
  });

  it("is cached and listed again once a folder changes", async () => {
    const dir = tempDir();
    for (const c of ["x", "y"]) {
      mkdirSync(join(dir, c));
      await halves(8, 8, 1)
        .png()
        .toFile(join(dir, c, "1.png"));
    }
    const cache = join(tempDir(), "index.json");
    expect((await folderIndex(dir, cache)).cached).toBe(false);
    expect((await folderIndex(dir, cache)).cached).toBe(true);
    await halves(8, 8, 1)
      .png()
      .toFile(join(dir, "y", "2.png"));
    utimesSync(join(dir, "y"), new Date(), new Date(Date.now() + 5000)); // mtime granularity
    const again = await folderIndex(dir, cache);
    expect(again.cached).toBe(false);
    expect(again.index.files).toHaveLength(3);
  });

  it("an empty class folder is named", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "full"));
    mkdirSync(join(dir, "empty"));
    await halves(8, 8, 1)
      .png()
      .toFile(join(dir, "full", "1.png"));
    await expect(buildFolderIndex(dir)).rejects.toThrow(/empty: empty class folder/);
  });
});

describe("decoding any size and format", () => {
  it("every file becomes size×size×channels, grey and colour alike", async () => {
    const ix = await buildFolderIndex(root);
    for (const f of ix.files) {
      for (const channels of [1, 3] as const) {
        const px = await decodeToInput(join(root, f), { size: 16, channels });
        expect(px.length, f).toBe(16 * 16 * channels);
      }
    }
  });

  it("applies EXIF orientation: the stored left half is on top", async () => {
    const file = join(root, "dog", "d-rotated.jpg");
    expect(await imageSize(await import("node:fs/promises").then((f) => f.readFile(file)), file)).toEqual({
      height: 40,
      width: 20,
    });
    const px = await decodeToInput(file, { size: 16, channels: 1 }, (h, w) => ({
      top: 0,
      left: 0,
      height: h,
      width: w,
      flip: false,
    }));
    const row = (y: number) => px.subarray(y * 16, (y + 1) * 16).reduce((a, b) => a + b, 0) / 16;
    expect(row(1)).toBeGreaterThan(200);
    expect(row(14)).toBeLessThan(50);
  });

  it("flips when the plan says so; alpha is dropped", async () => {
    const file = join(root, "dog", "c-alpha.webp");
    const full = (flip: boolean) => (h: number, w: number) => ({
      top: 0,
      left: 0,
      height: h,
      width: w,
      flip,
    });
    const a = await decodeToInput(file, { size: 8, channels: 3 }, full(false));
    const b = await decodeToInput(file, { size: 8, channels: 3 }, full(true));
    expect(a[0]).toBeGreaterThan(200); // left white
    expect(b[0]).toBeLessThan(50); // mirrored: left black
    expect(a.length).toBe(8 * 8 * 3);
  });

  it("names a corrupt file and what it is not", async () => {
    const bad = join(tempDir(), "bad.jpg");
    writeFileSync(bad, "not an image at all");
    await expect(decodeToInput(bad, { size: 8, channels: 1 })).rejects.toThrow(DataError);
    await expect(decodeToInput(bad, { size: 8, channels: 1 })).rejects.toThrow(
      /bad\.jpg: unreadable image: not a PNG, JPEG or WebP/,
    );
    const truncated = join(tempDir(), "cut.jpg");
    const jpeg = await halves(64, 64, 3).jpeg().toBuffer();
    writeFileSync(truncated, jpeg.subarray(0, 200));
    await expect(decodeToInput(truncated, { size: 8, channels: 1 })).rejects.toThrow(
      /cut\.jpg: unreadable image/,
    );
  });
});

describe("sizes from the header", () => {
  it("JPEG (with EXIF orientation) and PNG sizes equal libvips' oriented size; WebP is left to sharp", async () => {
    const ix = await buildFolderIndex(root);
    const { readFile } = await import("node:fs/promises");
    for (const f of ix.files) {
      const bytes = await readFile(join(root, f));
      const format = sniffFormat(bytes)!;
      const fromHeader = orientedSizeFromHeader(bytes, format);
      if (format === "webp") expect(fromHeader).toBeNull();
      else expect(fromHeader, f).toEqual(await imageSize(bytes, f));
    }
    const rotated = await readFile(join(root, "dog", "d-rotated.jpg"));
    expect(orientedSizeFromHeader(rotated, "jpeg")).toEqual({ height: 40, width: 20 });
    // progressive JPEG, every orientation
    for (let o = 1; o <= 8; o++) {
      const b = await halves(30, 10, 3)
        .jpeg({ progressive: true })
        .withMetadata({ orientation: o })
        .toBuffer();
      expect(orientedSizeFromHeader(b, "jpeg")).toEqual(await imageSize(b, `o${o}`));
    }
    expect(orientedSizeFromHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0, 4]), "jpeg")).toBeNull();
  });
});

describe("the transforms' geometry", () => {
  it("RandomResizedCrop: inside the image, area and ratio in range, seeded", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 500; i++) {
      const [H, W] = [100 + (i % 300), 120 + ((i * 7) % 400)];
      const c = randomResizedCrop(H, W, rng);
      expect(c.top >= 0 && c.left >= 0 && c.top + c.height <= H && c.left + c.width <= W).toBe(true);
      const frac = (c.height * c.width) / (H * W);
      expect(frac).toBeGreaterThan(0.07);
      expect(frac).toBeLessThanOrEqual(1);
      expect(c.width / c.height).toBeGreaterThan(0.7);
      expect(c.width / c.height).toBeLessThan(1.4);
    }
    expect(randomResizedCrop(300, 400, new Rng(3))).toEqual(randomResizedCrop(300, 400, new Rng(3)));
    const flips = Array.from(
      { length: 400 },
      (_, i) => randomResizedCrop(50, 50, new Rng(i), IMAGENET_TRAIN).flip,
    );
    expect(flips.filter(Boolean).length).toBeGreaterThan(150);
    expect(flips.filter(Boolean).length).toBeLessThan(250);
  });

  it("RandomResizedCrop falls back to the centre crop with the ratio clamped (a 1000×10 strip)", () => {
    expect(randomResizedCrop(1000, 10, new Rng(1))).toMatchObject({
      top: 493,
      left: 0,
      height: 13,
      width: 10,
    });
  });

  it("eval: resize the shorter side to int(size/0.875), centre crop with Python's rounding", () => {
    // 375×500 (the ImageNet mean), 224: resize to 256×341, crop left round(58.5) = 58
    expect(evalResizeCrop(375, 500, 224)).toEqual({
      resizeH: 256,
      resizeW: 341,
      crop: { top: 16, left: 58, height: 224, width: 224, flip: false },
    });
    expect(evalResizeCrop(500, 375, 224).crop).toMatchObject({ top: 58, left: 16 });
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });
});

describe("decode threads", () => {
  it("one libvips thread per image up to the pool's size in cores, the rest of the cores shared beyond it", () => {
    expect([1, 2, 4].map((c) => vipsThreadsPerImage(c, 4))).toEqual([1, 1, 1]);
    expect([5, 8, 16, 64].map((c) => vipsThreadsPerImage(c, 4))).toEqual([2, 2, 4, 16]);
    expect(vipsThreadsPerImage(16, 16)).toBe(1);
  });
});

describe("streamed batches", () => {
  const base = (over: Partial<FolderStreamOptions> = {}): FolderStreamOptions => ({
    batchSize: 2,
    seed: 5,
    size: 12,
    channels: 3,
    preprocess: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    shuffle: true,
    crop: IMAGENET_TRAIN,
    flipProb: 0.5,
    ...over,
  });

  it("the same seed gives the same batches; a resumed stream continues at the exact image", async () => {
    const ix = await buildFolderIndex(root);
    const a = new FolderBatchStream(ix, base());
    const first = [await a.next(), await a.next(), await a.next(), await a.next()];
    const b = new FolderBatchStream(ix, base());
    await b.next();
    const state = b.state(); // mid-epoch 0 (3 batches per epoch), at batch 1
    await b.close();
    const c = new FolderBatchStream(ix, base({ resume: state }));
    const resumed = [await c.next(), await c.next(), await c.next()];
    for (let i = 0; i < 3; i++) {
      expect(resumed[i].epoch).toBe(first[i + 1].epoch);
      expect(resumed[i].index).toBe(first[i + 1].index);
      expect(Array.from(resumed[i].y)).toEqual(Array.from(first[i + 1].y));
      expect(Array.from(resumed[i].x)).toEqual(Array.from(first[i + 1].x));
    }
    expect(first[3].epoch).toBe(1);
    const other = new FolderBatchStream(ix, base({ seed: 6 }));
    const o = await other.next();
    expect(Array.from(o.x)).not.toEqual(Array.from(first[0].x));
    await Promise.all([a.close(), c.close(), other.close()]);
    expect(() => new FolderBatchStream(ix, base({ resume: { ...state, seed: 9 } }))).toThrow(/cannot resume/);
  });

  it("eval: one pass in index order, the eval transform, labels in order", async () => {
    const ix = await buildFolderIndex(root);
    const s = new FolderBatchStream(ix, base({ shuffle: false, crop: null, batchSize: 2 }));
    const labels: number[] = [];
    for await (const b of s.pass()) labels.push(...b.y);
    expect(labels).toEqual(ix.labels);
    await expect(s.next()).rejects.toThrow(/one pass/);
  });

  it("a bad file stops the stream with its name; --skip-bad-images leaves it out and counts it", async () => {
    const dir = tempDir();
    for (const c of ["a", "b"]) {
      mkdirSync(join(dir, c));
      for (let i = 0; i < 3; i++)
        await halves(10 + i, 12, 3)
          .png()
          .toFile(join(dir, c, `${i}.png`));
    }
    writeFileSync(join(dir, "b", "broken.png"), "\x89PNG\r\n\x1a\n garbage");
    const ix = await buildFolderIndex(dir);
    const all = { shuffle: false, crop: null, batchSize: 8 } as const;
    const strict = new FolderBatchStream(ix, base(all));
    await expect(strict.next()).rejects.toThrow(/broken\.png: unreadable image/);
    const lenient = new FolderBatchStream(ix, base({ ...all, skipBadImages: true }));
    const b = await lenient.next();
    expect(b.size).toBe(6);
    expect(lenient.skipped()).toMatchObject({ count: 1, first: join(dir, "b", "broken.png") });
  });

  it("never holds more than the prefetch window decoded, on a folder larger than it", async () => {
    const dir = tempDir();
    for (const c of ["a", "b"]) {
      mkdirSync(join(dir, c));
      for (let i = 0; i < 20; i++)
        await halves(16 + i, 16, 1)
          .png()
          .toFile(join(dir, c, `${i}.png`));
    }
    const ix = await buildFolderIndex(dir);
    const s = new FolderBatchStream(
      ix,
      base({ channels: 1, preprocess: { mean: [0], std: [1] }, batchSize: 4, prefetch: 2 }),
    );
    for (let i = 0; i < 25; i++) {
      const b = await s.next();
      expect(b.size).toBe(4);
      await new Promise((r) => setTimeout(r, 2)); // the caller computes; the window fills
    }
    expect(s.peakHeld()).toBeGreaterThan(4);
    expect(s.peakHeld()).toBeLessThanOrEqual((2 + 1) * 4);
    await s.close();
  });
});
