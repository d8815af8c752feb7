import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { encodeIdx, parseIdx, readIdxImages, readIdxLabels, readIdxPair } from "../../src/data/idx.js";
import { expectDataError, idxFixture, tempDir, write } from "./helpers.js";

const dir = tempDir();
const fx = idxFixture(12, 5, 4, 3);

describe("IDX reader", () => {
  it("reads raw and gzip files to the same dataset", async () => {
    const raw = await readIdxPair(
      write(join(dir, "a-images"), fx.images),
      write(join(dir, "a-labels"), fx.labels),
    );
    const gz = await readIdxPair(
      write(join(dir, "b-images.gz"), gzipSync(fx.images)),
      write(join(dir, "b-labels.gz"), gzipSync(fx.labels)),
    );
    for (const ds of [raw, gz]) {
      expect([ds.n, ds.height, ds.width, ds.channels, ds.numClasses]).toEqual([12, 5, 4, 1, 3]);
      // pixel (i, y, x) = (i·31 + y·7 + x) & 255
      expect(ds.images[(7 * 5 + 3) * 4 + 2]).toBe((7 * 31 + 3 * 7 + 2) & 255);
      expect(Array.from(ds.labels.slice(0, 5))).toEqual([0, 1, 2, 0, 1]);
    }
    expect(Buffer.from(gz.images).equals(Buffer.from(raw.images))).toBe(true);
  });

  it("detects gzip by content, not by name", async () => {
    const img = await readIdxImages(write(join(dir, "gz-without-suffix"), gzipSync(fx.images)));
    expect(img.n).toBe(12);
    const lab = await readIdxLabels(write(join(dir, "raw-with-suffix.gz"), fx.labels));
    expect(lab.length).toBe(12);
  });

  it("reads 4-dimensional image files as channels", async () => {
    const px = new Uint8Array(2 * 3 * 3 * 3).map((_, i) => i);
    const img = await readIdxImages(write(join(dir, "rgb-images"), encodeIdx([2, 3, 3, 3], px)));
    expect([img.n, img.height, img.width, img.channels]).toEqual([2, 3, 3, 3]);
  });

  it("round-trips encodeIdx/parseIdx", () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(parseIdx(encodeIdx([2, 3], data), "x")).toEqual({ dims: [2, 3], data });
  });
});

describe("IDX bad input: one clear DataError naming the file", () => {
  it("truncated raw image data", async () => {
    const f = write(join(dir, "trunc-images"), fx.images.subarray(0, fx.images.length - 10));
    await expectDataError(
      () => readIdxImages(f),
      f,
      /truncated: dimensions 12x5x4 need 240 data bytes, found 230/,
    );
  });

  it("truncated header", async () => {
    const f = write(join(dir, "short-header"), fx.images.subarray(0, 9));
    await expectDataError(() => readIdxImages(f), f, /truncated: 9 bytes, too short for an IDX header/);
    const g = write(join(dir, "tiny"), new Uint8Array([0, 0]));
    await expectDataError(() => readIdxImages(g), g, /truncated: 2 bytes/);
  });

  it("truncated gzip stream", async () => {
    const gz = gzipSync(fx.images);
    const f = write(join(dir, "trunc-images.gz"), gz.subarray(0, gz.length - 20));
    await expectDataError(() => readIdxImages(f), f, /truncated or corrupt gzip data/);
  });

  it("corrupt gzip stream", async () => {
    const gz = Uint8Array.from(gzipSync(fx.images));
    for (let i = 12; i < gz.length - 8; i++) gz[i] ^= 0x5a;
    const f = write(join(dir, "corrupt-images.gz"), gz);
    await expectDataError(() => readIdxImages(f), f, /truncated or corrupt gzip data/);
  });

  it("wrong magic number", async () => {
    const bad = Uint8Array.from(fx.images);
    bad[0] = 0x12;
    bad[1] = 0x34;
    const f = write(join(dir, "magic-images"), bad);
    await expectDataError(() => readIdxImages(f), f, /wrong magic number 0x12340803: not an IDX file/);
    const png = write(join(dir, "png-as-idx"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]));
    await expectDataError(() => readIdxLabels(png), png, /wrong magic number 0x89504e47/);
  });

  it("unsupported data type", async () => {
    const bad = Uint8Array.from(fx.images);
    bad[2] = 0x0d;
    const f = write(join(dir, "float-images"), bad);
    await expectDataError(() => readIdxImages(f), f, /IDX data type 0x0d \(float\) is not supported/);
  });

  it("labels file given as images and vice versa", async () => {
    const l = write(join(dir, "swap-labels"), fx.labels);
    await expectDataError(
      () => readIdxImages(l),
      l,
      /expected an IDX image file .* found 1 dimension\(s\) — is this a labels file\?/,
    );
    const i = write(join(dir, "swap-images"), fx.images);
    await expectDataError(
      () => readIdxLabels(i),
      i,
      /expected an IDX labels file .* is this an images file\?/,
    );
  });

  it("trailing bytes", async () => {
    const f = write(join(dir, "long-labels"), new Uint8Array([...fx.labels, 1, 2]));
    await expectDataError(() => readIdxLabels(f), f, /corrupt: 2 unexpected bytes after the 12 data/);
  });

  it("label count != image count (names the labels file)", async () => {
    const img = write(join(dir, "count-images"), fx.images);
    const lab = write(join(dir, "count-labels"), encodeIdx([11], new Uint8Array(11)));
    await expectDataError(() => readIdxPair(img, lab), lab, /label count 11 != image count 12/);
  });

  it("label out of range (fixed class count)", async () => {
    const img = write(join(dir, "range-images"), fx.images);
    const labels = new Uint8Array(12);
    labels[9] = 10;
    const lab = write(join(dir, "range-labels"), encodeIdx([12], labels));
    await expectDataError(
      () => readIdxPair(img, lab, { numClasses: 10 }),
      lab,
      /label 10 at index 9 is out of range \(10 classes: 0\.\.9\)/,
    );
  });

  it("empty files and missing files", async () => {
    const e = write(join(dir, "empty-images"), new Uint8Array(0));
    await expectDataError(() => readIdxImages(e), e, /truncated: 0 bytes/);
    const zero = write(join(dir, "zero-images"), encodeIdx([0, 28, 28], new Uint8Array(0)));
    await expectDataError(() => readIdxImages(zero), zero, /empty: IDX image dimensions 0x28x28/);
    const missing = join(dir, "nope-images");
    await expectDataError(() => readIdxImages(missing), missing, /cannot read file \(no such file\)/);
  });
});
