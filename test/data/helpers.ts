/** Fixture writers for the data tests: tiny IDX, CIFAR and image-folder files, valid and corrupt. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { afterAll, expect } from "vitest";
import { encodeIdx } from "../../src/data/idx.js";
import type { Dataset } from "../../src/data/types.js";
import { DataError } from "../../src/errors.js";

/** A temp folder removed after the test file. */
export function tempDir(prefix = "psvit-data-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function write(file: string, bytes: Uint8Array | string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  return file;
}

/** Deterministic pseudo-random bytes (LCG) for fixture pixels. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** IDX images [n, h, w] with pixel value (i·31 + y·7 + x) & 255, and labels i % classes. */
export function idxFixture(
  n: number,
  h: number,
  w: number,
  classes = 10,
): { images: Uint8Array; labels: Uint8Array } {
  const px = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) px[(i * h + y) * w + x] = (i * 31 + y * 7 + x) & 255;
  }
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % classes;
  return { images: encodeIdx([n, h, w], px), labels: encodeIdx([n], labels) };
}

/** A CIFAR record file: labels given, pixels planar per record from `bytes`. */
export function cifarFile(labels: number[][], seed = 7): { file: Uint8Array; pixels: Uint8Array } {
  const lb = labels[0]?.length ?? 1;
  const rec = lb + 3072;
  const pixels = bytes(labels.length * 3072, seed);
  const file = new Uint8Array(labels.length * rec);
  labels.forEach((l, i) => {
    file.set(l, i * rec);
    file.set(pixels.subarray(i * 3072, (i + 1) * 3072), i * rec + lb);
  });
  return { file, pixels };
}

/** Encode raw HWC pixels as PNG or JPEG. */
export async function encodeImage(
  px: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  format: "png" | "jpeg",
): Promise<Buffer> {
  let img = sharp(Buffer.from(px), { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace("b-w"); // else sharp writes sRGB
  return format === "png" ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

/** Expect `fn` to reject with a DataError whose message starts with `file` and matches `problem`. */
export async function expectDataError(
  fn: () => Promise<unknown> | unknown,
  file: string,
  problem: RegExp,
): Promise<DataError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a DataError about ${file}`).toBeInstanceOf(DataError);
  const e = caught as DataError;
  expect(
    e.message.startsWith(`${file}: `),
    `message ${JSON.stringify(e.message)} should start with ${file}`,
  ).toBe(true);
  expect(e.message).toMatch(problem);
  expect(e.message).not.toContain("\n");
  expect(e.exitCode).toBe(2);
  return e;
}

/** A small in-memory dataset: pixel (i, y, x, c) = (i·13 + y·5 + x·3 + c·71) & 255, label i % classes. */
export function makeDataset(n: number, h: number, w: number, c: number, classes = 4): Dataset {
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++)
          images[((i * h + y) * w + x) * c + k] = (i * 13 + y * 5 + x * 3 + k * 71) & 255;
      }
    }
  }
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % classes;
  return { images, labels, n, height: h, width: w, channels: c, numClasses: classes, source: "memory" };
}

export const FMNIST_DIR = "/usr/share/datasets/fashion-mnist";
