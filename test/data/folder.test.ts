import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fitImages } from "../../src/data/fit.js";
import { decodeImageFile } from "../../src/data/folder.js";
import { loadImagesForModel } from "../../src/data/predict.js";
import { resolveData } from "../../src/data/resolve.js";
import { materialize } from "../../src/data/stream/split.js";
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

/** An image folder through `--data folder:DIR`: streamed splits, decoded here for inspection. */
async function readFolder(root: string, size = 8, channels: 1 | 3 = 3, extra: Record<string, unknown> = {}) {
  const r = await resolveData(`folder:${root}`, { seed: 0, imageSize: size, channels, ...extra });
  const skip = extra.skipBadImages === true;
  return {
    ...r,
    train: await materialize(r.train, skip),
    val: await materialize(r.val, skip),
    test: r.test ? await materialize(r.test, skip) : undefined,
  };
}

describe("image folders (sharp, streamed)", () => {
  it("reads PNG and JPEG images of any size; classes sorted; labels by folder", async () => {
    const root = join(dir, "pets");
    for (let i = 0; i < 5; i++) {
      write(join(root, "dog", `b${i}.png`), await encodeImage(bytes(8 * 6 * 3, 3 + i), 8, 6, 3, "png"));
      write(join(root, "dog", `a${i}.jpg`), await encodeImage(gradient(20, 14, 3, 1), 20, 14, 3, "jpeg"));
      write(join(root, "cat", `z${i}.JPEG`), await encodeImage(gradient(9, 30, 1, 2), 9, 30, 1, "jpeg"));
    }
    write(join(root, "cat", "notes.txt"), "not an image: ignored");
    write(join(root, "cat", ".hidden.png"), "ignored");
    const { train, info } = await readFolder(root);
    expect(info.classNames).toEqual(["cat", "dog"]);
    expect(train.n + info.splits.val.n).toBe(15);
    expect([train.height, train.width, train.channels, train.numClasses]).toEqual([8, 8, 3, 2]);
    expect(info.splits.train.perClass.map((c, k) => c + info.splits.val.perClass[k])).toEqual([5, 10]);
    expect(train.images.length).toBe(train.n * 8 * 8 * 3);
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
    write(join(root, "train", "c", "2.png"), await encodeImage(bytes(36, 1), 6, 6, 1, "png"));
    const r = await readFolder(root, 4, 1);
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
      () => readFolder(root),
      join(root, "b"),
      /empty class folder: no \.png, \.jpg, \.jpeg or \.webp images/,
    );
  });

  it("no class folders", async () => {
    const root = join(dir, "flat");
    write(join(root, "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    await expectDataError(() => readFolder(root), root, /no class sub-folders/);
  });

  it("class folders differ between train and test", async () => {
    const root = join(dir, "clsdiff");
    for (const [split, c] of [
      ["train", "a"],
      ["train", "b"],
      ["test", "b"],
      ["test", "c"],
    ]) {
      for (let i = 0; i < 5; i++)
        write(join(root, split, c, `${i}.png`), await encodeImage(bytes(16), 4, 4, 1, "png"));
    }
    await expectDataError(
      () => readFolder(root),
      join(root, "test"),
      /class folders \[b, c\] differ from those of .*train \[a, b\]/,
    );
  });

  it("unreadable images stop with the file named: garbage, truncated PNG, truncated JPEG, empty, wrong format", async () => {
    const png = await encodeImage(bytes(32 * 32 * 3), 32, 32, 3, "png");
    const jpg = await encodeImage(gradient(32, 32, 3, 0), 32, 32, 3, "jpeg");
    const cases: [string, Uint8Array, RegExp][] = [
      ["garbage.png", bytes(200), /unreadable image: not a PNG, JPEG or WebP file/],
      ["trunc.png", png.subarray(0, png.length >> 1), /unreadable image: /],
      ["trunc.jpg", jpg.subarray(0, jpg.length >> 1), /unreadable image: /],
      ["empty.jpeg", new Uint8Array(0), /unreadable image: empty file/],
      [
        "gif.png",
        Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1"),
        /not a PNG, JPEG or WebP file/,
      ],
    ];
    for (const [name, data, re] of cases) {
      const root = join(dir, `bad-${name}`);
      for (let i = 0; i < 4; i++) {
        write(join(root, "a", `${i}.png`), png);
        write(join(root, "b", `${i}.png`), png);
      }
      const f = write(join(root, "a", name), data);
      await expectDataError(() => readFolder(root), f, re);
      // --skip-bad-images: left out and counted
      const r = await readFolder(root, 8, 3, { skipBadImages: true });
      expect(r.train.n + r.val.n, name).toBe(8);
    }
  });

  it("one class is refused: a classifier needs at least 2 (issue 15, defect 15)", async () => {
    const root = join(dir, "oneclass");
    write(join(root, "cats", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    await expectDataError(
      () => readFolder(root),
      root,
      /only one class sub-folder \(cats\): a classifier needs at least 2 classes/,
    );
    write(join(root, "train", "cats", "1.png"), await encodeImage(bytes(16), 4, 4, 1, "png"));
    rmSync(join(root, "cats"), { recursive: true });
    await expectDataError(() => readFolder(root), join(root, "train"), /only one class sub-folder/);
  });

  it("files that are not images are skipped with one warning that counts them", async () => {
    const root = join(dir, "junk");
    for (const c of ["a", "b"])
      for (let i = 0; i < 5; i++)
        write(join(root, c, `${i}.png`), await encodeImage(bytes(16), 4, 4, 1, "png"));
    write(join(root, "a", "notes.txt"), "x");
    write(join(root, "a", "scan.tiff"), "x");
    write(join(root, "b", "Thumbs.db"), "x");
    write(join(root, "b", ".DS_Store"), "hidden: not counted");
    const lines: string[] = [];
    setLogger(createLogger({ level: "info", write: (l) => lines.push(l) }));
    try {
      expect((await readFolder(root)).info.splits.train.n).toBe(9);
    } finally {
      setLogger(createLogger());
    }
    expect(lines).toEqual([
      `psvit: warning: ${root}: 3 file(s) that are not .png, .jpg, .jpeg or .webp images skipped (the first: ${join(root, "a", "notes.txt")})\n`,
    ]);
  });

  it("missing folder", async () => {
    await expectDataError(() => readFolder(join(dir, "nope")), join(dir, "nope"), /no such directory/);
  });
});

describe("predict's decoder", () => {
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
});

describe("images for predict", () => {
  it("fits the files to the model's input and normalises with the config's preprocess; any sizes", async () => {
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
    // mixed sizes and channels: each image fitted on its own
    const mixed = await loadImagesForModel([a, b], one, pre);
    expect(mixed.shape).toEqual([2, 32, 32, 1]);
    expect(mixed.x[6 * 32 + 6]).toBe(r.x[6 * 32 + 6]);
    await expectDataError(
      () => loadImagesForModel([join(dir, "predict", "none.png")], { size: 32, channels: 1 }),
      join(dir, "predict", "none.png"),
      /cannot read image \(no such file\)/,
    );
  });
});
