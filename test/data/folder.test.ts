import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fitImages } from "../../src/data/fit.js";
import { decodeImageFile, readImageFolder } from "../../src/data/folder.js";
import { loadImagesForModel } from "../../src/data/predict.js";
import { createLogger, setLogger } from "../../src/util/log.js";
import { bytes, encodeImage, expectDataError, tempDir, write } from "./helpers.js";

const dir = tempDir();

/** A smooth w×h×c gradient (JPEG-friendly), shifted by `k`. */
function gradient(w: number, h: number, c: number, k: number): Uint8Array {
  const px = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) px[(y * w + x) * c + ch] = (k * 20 + x * 8 + y * 4 + ch * 30) & 255;
  }
  return px;
}

describe("image folders (sharp)", () => {
  it("reads PNG (exact) and JPEG (lossy) images; classes sorted; labels by folder", async () => {
    const root = join(dir, "pets");
    const pngPx = bytes(8 * 6 * 3, 3);
    write(join(root, "dog", "b.png"), await encodeImage(pngPx, 8, 6, 3, "png"));
    write(join(root, "dog", "a.jpg"), await encodeImage(gradient(8, 6, 3, 1), 8, 6, 3, "jpeg"));
    write(join(root, "cat", "z.JPEG"), await encodeImage(gradient(8, 6, 3, 2), 8, 6, 3, "jpeg"));
    write(join(root, "cat", "notes.txt"), "not an image: ignored");
    write(join(root, "cat", ".hidden.png"), "ignored");
    const { train, val, test } = await readImageFolder(root);
    expect(val).toBeUndefined();
    expect(test).toBeUndefined();
    expect(train.classNames).toEqual(["cat", "dog"]);
    expect([train.n, train.height, train.width, train.channels, train.numClasses]).toEqual([3, 6, 8, 3, 2]);
    expect(Array.from(train.labels)).toEqual([0, 1, 1]); // cat/z.JPEG, dog/a.jpg, dog/b.png
    expect(Array.from(train.images.subarray(2 * 144, 3 * 144))).toEqual(Array.from(pngPx));
    const jpg = gradient(8, 6, 3, 1);
    let err = 0;
    for (let i = 0; i < jpg.length; i++) err += Math.abs(train.images[144 + i] - jpg[i]);
    expect(err / jpg.length).toBeLessThan(6);
  });

  it("greyscale PNG and JPEG give 1 channel; RGBA drops alpha", async () => {
    const g = bytes(5 * 4, 5);
    const png = await decodeImageFile(write(join(dir, "g.png"), await encodeImage(g, 5, 4, 1, "png")));
    expect([png.width, png.height, png.channels]).toEqual([5, 4, 1]);
    expect(Array.from(png.data)).toEqual(Array.from(g));
    const jpg = await decodeImageFile(
      write(join(dir, "g.jpg"), await encodeImage(gradient(5, 4, 1, 0), 5, 4, 1, "jpeg")),
    );
    expect(jpg.channels).toBe(1);
    const rgba = bytes(3 * 3 * 4, 9).map((v, i) => (i % 4 === 3 ? 255 : v));
    const a = await decodeImageFile(write(join(dir, "rgba.png"), await encodeImage(rgba, 3, 3, 4, "png")));
    expect(a.channels).toBe(3);
    expect(Array.from(a.data)).toEqual(Array.from(rgba).filter((_, i) => i % 4 !== 3));
  });

  it("train/val/test layout", async () => {
    const root = join(dir, "split");
    for (const split of ["train", "val", "test"]) {
      for (const cls of ["a", "b", "c"]) {
        write(
          join(root, split, cls, "1.png"),
          await encodeImage(bytes(16, cls.charCodeAt(0)), 4, 4, 1, "png"),
        );
      }
    }
    write(join(root, "train", "c", "2.png"), await encodeImage(bytes(16, 1), 4, 4, 1, "png"));
    const r = await readImageFolder(root);
    expect(r.train.n).toBe(4);
    expect(r.val?.n).toBe(3);
    expect(r.test?.n).toBe(3);
    expect(r.val?.classNames).toEqual(["a", "b", "c"]);
  });
});

describe("image folders: bad input", () => {
  it("empty class folder", async () => {
    const root = join(dir, "emptycls");
    write(join(root, "a", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    write(join(root, "b", "readme.txt"), "no images here");
    await expectDataError(
      () => readImageFolder(root),
      join(root, "b"),
      /empty class folder: no \.png, \.jpg or \.jpeg images/,
    );
  });

  it("no class folders", async () => {
    const root = join(dir, "flat");
    write(join(root, "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    await expectDataError(() => readImageFolder(root), root, /no class sub-folders/);
  });

  it("mixed image sizes", async () => {
    const root = join(dir, "mixsize");
    write(join(root, "a", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    const odd = write(join(root, "b", "2.png"), await encodeImage(bytes(20), 5, 4, 1, "png"));
    await expectDataError(
      () => readImageFolder(root),
      odd,
      /mixed image sizes or channels: 5x4x1 differs from 4x4x1 of .*a\/1\.png/,
    );
  });

  it("mixed channel counts (PNG grey vs JPEG colour)", async () => {
    const root = join(dir, "mixchan");
    write(join(root, "a", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    write(join(root, "b", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    const rgb = write(join(root, "a", "2.jpg"), await encodeImage(gradient(4, 4, 3, 0), 4, 4, 3, "jpeg"));
    await expectDataError(
      () => readImageFolder(root),
      rgb,
      /mixed image sizes or channels: 4x4x3 differs from 4x4x1/,
    );
  });

  it("mixed sizes between train and val", async () => {
    const root = join(dir, "mixsplit");
    for (const c of ["a", "b"]) {
      write(join(root, "train", c, "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
      write(join(root, "val", c, "1.png"), await encodeImage(bytes(36), 6, 6, 1, "png"));
    }
    await expectDataError(
      () => readImageFolder(root),
      join(root, "val"),
      /mixed image sizes or channels: 6x6x1 differs from the training images 4x4x1/,
    );
  });

  it("class folders differ between train and test", async () => {
    const root = join(dir, "clsdiff");
    for (const [split, c] of [
      ["train", "a"],
      ["train", "b"],
      ["test", "b"],
      ["test", "c"],
    ]) {
      write(join(root, split, c, "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    }
    await expectDataError(
      () => readImageFolder(root),
      join(root, "test"),
      /class folders \[b, c\] differ from those of .*train \[a, b\]/,
    );
  });

  it("unreadable images: garbage, truncated PNG, truncated JPEG, empty, wrong format", async () => {
    const png = await encodeImage(bytes(32 * 32 * 3), 32, 32, 3, "png");
    const jpg = await encodeImage(gradient(32, 32, 3, 0), 32, 32, 3, "jpeg");
    const cases: [string, Uint8Array, RegExp][] = [
      ["garbage.png", bytes(200), /unreadable image: not a PNG or JPEG file/],
      ["trunc.png", png.subarray(0, png.length >> 1), /unreadable image: /],
      ["trunc.jpg", jpg.subarray(0, jpg.length >> 1), /unreadable image: /],
      ["empty.jpeg", new Uint8Array(0), /unreadable image: empty file/],
      ["gif.png", Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1"), /not a PNG or JPEG file/],
    ];
    for (const [name, data, re] of cases) {
      const root = join(dir, `bad-${name}`);
      write(join(root, "a", "0.png"), png);
      write(join(root, "b", "0.png"), png);
      const f = write(join(root, "a", name), data);
      await expectDataError(() => readImageFolder(root), f, re);
    }
  });

  it("one class is refused: a classifier needs at least 2 (issue 15, defect 15)", async () => {
    const root = join(dir, "oneclass");
    write(join(root, "cats", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    await expectDataError(
      () => readImageFolder(root),
      root,
      /only one class sub-folder \(cats\): a classifier needs at least 2 classes/,
    );
    write(join(root, "train", "cats", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    rmSync(join(root, "cats"), { recursive: true });
    await expectDataError(() => readImageFolder(root), join(root, "train"), /only one class sub-folder/);
  });

  it("files that are not images are skipped with one warning that counts them", async () => {
    const root = join(dir, "junk");
    for (const c of ["a", "b"]) write(join(root, c, "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    write(join(root, "a", "notes.txt"), "x");
    write(join(root, "a", "scan.tiff"), "x");
    write(join(root, "b", "Thumbs.db"), "x");
    write(join(root, "b", ".DS_Store"), "hidden: not counted");
    const lines: string[] = [];
    setLogger(createLogger({ level: "info", write: (l) => lines.push(l) }));
    try {
      expect((await readImageFolder(root)).train.n).toBe(2);
    } finally {
      setLogger(createLogger());
    }
    expect(lines).toEqual([
      `psvit: warning: ${root}: 3 file(s) that are not .png, .jpg or .jpeg images skipped (the first: ${join(root, "a", "notes.txt")})\n`,
    ]);
    // a clean folder warns nothing
    rmSync(join(root, "a", "notes.txt"));
    rmSync(join(root, "a", "scan.tiff"));
    rmSync(join(root, "b", "Thumbs.db"));
    lines.length = 0;
    setLogger(createLogger({ level: "info", write: (l) => lines.push(l) }));
    try {
      await readImageFolder(root);
    } finally {
      setLogger(createLogger());
    }
    expect(lines).toEqual([]);
  });

  it("missing folder", async () => {
    await expectDataError(
      () => readImageFolder(join(dir, "nope")),
      join(dir, "nope"),
      /cannot read folder \(no such file\)/,
    );
  });
});

describe("images for predict", () => {
  it("fits the files to the model's input and normalises with the config's preprocess; one size for all", async () => {
    const small = bytes(20 * 20, 2);
    const big = gradient(50, 40, 3, 1);
    const big2 = gradient(50, 40, 3, 2);
    const a = write(join(dir, "predict", "small.png"), await encodeImage(small, 20, 20, 1, "png"));
    const b = write(join(dir, "predict", "big.png"), await encodeImage(big, 50, 40, 3, "png"));
    const c = write(join(dir, "predict", "big2.png"), await encodeImage(big2, 50, 40, 3, "png"));
    const pre = { mean: [0.5], std: [0.2] };
    const one = { size: 32, channels: 1 };
    const r = await loadImagesForModel([a], one, pre);
    expect(r.shape).toEqual([1, 32, 32, 1]);
    const wantA = fitImages(small, 1, 20, 20, 1, one).images;
    expect(r.x[6 * 32 + 6]).toBe(Math.fround((wantA[6 * 32 + 6] / 255 - 0.5) / 0.2));
    expect(r.x[0]).toBe(Math.fround((0 - 0.5) / 0.2)); // zero padding of the 20x20 image
    const rb = await loadImagesForModel([b, c], one, pre);
    expect(rb.shape).toEqual([2, 32, 32, 1]);
    const wantB = fitImages(big, 1, 40, 50, 3, one).images;
    const wantC = fitImages(big2, 1, 40, 50, 3, one).images;
    expect(rb.x[500]).toBe(Math.fround((wantB[500] / 255 - 0.5) / 0.2));
    expect(rb.x[1024 + 500]).toBe(Math.fround((wantC[500] / 255 - 0.5) / 0.2));
    // the rule of a folder dataset: images of one size and channel count
    await expectDataError(() => loadImagesForModel([a, b], one, pre), b, /mixed image sizes or channels/);
    await expectDataError(
      () => loadImagesForModel([join(dir, "predict", "none.png")], { size: 32, channels: 1 }),
      join(dir, "predict", "none.png"),
      /cannot read image \(no such file\)/,
    );
  });
});
