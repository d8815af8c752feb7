import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CIFAR10_CLASSES, parseCifar, readCifarDir } from "../../src/data/cifar.js";
import { cifarFile, expectDataError, tempDir, write } from "./helpers.js";

const dir = tempDir();

describe("CIFAR-10 binary", () => {
  it("reads records and converts planar CHW to NHWC", () => {
    const { file, pixels } = cifarFile([[3], [9], [0]]);
    const { images, labels } = parseCifar(file, "cifar10", "f");
    expect(Array.from(labels)).toEqual([3, 9, 0]);
    // image 1, pixel (row 5, col 17), channel g == planar byte 1024 + 5·32 + 17 of record 1
    const p = 5 * 32 + 17;
    expect(images[1 * 3072 + p * 3 + 0]).toBe(pixels[1 * 3072 + p]);
    expect(images[1 * 3072 + p * 3 + 1]).toBe(pixels[1 * 3072 + 1024 + p]);
    expect(images[1 * 3072 + p * 3 + 2]).toBe(pixels[1 * 3072 + 2048 + p]);
  });

  it("reads a cifar-10-batches-bin folder given its parent; batches in order; names from batches.meta.txt", async () => {
    const root = join(dir, "c10", "cifar-10-batches-bin");
    for (let b = 1; b <= 5; b++) write(join(root, `data_batch_${b}.bin`), cifarFile([[b], [b - 1]], b).file);
    write(join(root, "test_batch.bin"), cifarFile([[7]], 9).file);
    write(join(root, "batches.meta.txt"), `${CIFAR10_CLASSES.map((s) => s.toUpperCase()).join("\n")}\n\n`);
    const { train, test } = await readCifarDir(join(dir, "c10"), "cifar10");
    expect(train.n).toBe(10);
    expect(Array.from(train.labels)).toEqual([1, 0, 2, 1, 3, 2, 4, 3, 5, 4]);
    expect([train.height, train.width, train.channels, train.numClasses]).toEqual([32, 32, 3, 10]);
    expect(train.classNames?.[0]).toBe("AIRPLANE");
    expect(test?.n).toBe(1);
    const again = await readCifarDir(root, "cifar10");
    expect(again.train.labels).toEqual(train.labels);
  });

  it("bad input: truncated file, label out of range, missing batch, CIFAR-100 file, empty file", async () => {
    const good = cifarFile([[1], [2], [3]]).file;
    await expectDataError(
      () => parseCifar(good.subarray(0, good.length - 100), "cifar10", "t.bin"),
      "t.bin",
      /truncated or corrupt: 9119 bytes is not a whole number of 3073-byte CIFAR-10 records/,
    );
    expect(() => parseCifar(cifarFile([[1], [12]]).file, "cifar10", "x.bin")).toThrow(
      /^x\.bin: label 12 of record 1 \(byte offset 3073\) is out of range \(10 classes: 0\.\.9\)$/,
    );
    expect(() =>
      parseCifar(
        cifarFile([
          [1, 2],
          [3, 4],
          [5, 6],
        ]).file,
        "cifar10",
        "y.bin",
      ),
    ).toThrow(
      /is not a whole number of 3073-byte CIFAR-10 records \(its size fits CIFAR-100 records: wrong dataset kind\?\)/,
    );
    const e = write(join(dir, "empty", "data_batch_1.bin"), new Uint8Array(0));
    for (let b = 2; b <= 5; b++) write(join(dir, "empty", `data_batch_${b}.bin`), good);
    await expectDataError(
      () => readCifarDir(join(dir, "empty"), "cifar10"),
      e,
      /empty file: no CIFAR-10 records/,
    );
    const part = join(dir, "partial");
    for (const b of [1, 2, 4, 5]) write(join(part, `data_batch_${b}.bin`), good);
    await expectDataError(
      () => readCifarDir(part, "cifar10"),
      join(part, "data_batch_3.bin"),
      /missing CIFAR-10 training file/,
    );
    const none = join(dir, "none");
    write(join(none, "readme.txt"), "x");
    await expectDataError(() => readCifarDir(none, "cifar10"), none, /no CIFAR-10 training files/);
    const tr = join(dir, "trunc10");
    write(join(tr, "data_batch_1.bin"), good.subarray(0, 5000));
    for (let b = 2; b <= 5; b++) write(join(tr, `data_batch_${b}.bin`), good);
    await expectDataError(
      () => readCifarDir(tr, "cifar10"),
      join(tr, "data_batch_1.bin"),
      /truncated or corrupt: 5000 bytes/,
    );
    await expectDataError(
      () => readCifarDir(join(dir, "missing"), "cifar10"),
      join(dir, "missing"),
      /no such directory/,
    );
  });
});

describe("CIFAR-100 binary", () => {
  const root = join(dir, "c100", "cifar-100-binary");
  const records = [
    [3, 42],
    [19, 99],
    [0, 0],
  ];
  write(join(root, "train.bin"), cifarFile(records).file);
  write(join(root, "test.bin"), cifarFile([[5, 7]]).file);
  write(join(root, "fine_label_names.txt"), Array.from({ length: 100 }, (_, i) => `fine${i}`).join("\n"));
  write(join(root, "coarse_label_names.txt"), Array.from({ length: 20 }, (_, i) => `coarse${i}`).join("\n"));

  it("fine labels (100 classes) and coarse labels (20 classes)", async () => {
    const fine = await readCifarDir(join(dir, "c100"), "cifar100");
    expect(Array.from(fine.train.labels)).toEqual([42, 99, 0]);
    expect(fine.train.numClasses).toBe(100);
    expect(fine.train.classNames?.[99]).toBe("fine99");
    expect(Array.from(fine.test!.labels)).toEqual([7]);
    const coarse = await readCifarDir(root, "cifar100-coarse");
    expect(Array.from(coarse.train.labels)).toEqual([3, 19, 0]);
    expect(coarse.train.numClasses).toBe(20);
    expect(coarse.train.classNames?.[19]).toBe("coarse19");
    expect(fine.train.images).toEqual(coarse.train.images);
  });

  it("bad input: fine or coarse label out of range, CIFAR-10 file, wrong names file", async () => {
    expect(() => parseCifar(cifarFile([[1, 100]]).file, "cifar100", "f.bin")).toThrow(
      /^f\.bin: fine label 100 of record 0 \(byte offset 1\) is out of range \(100 classes: 0\.\.99\)$/,
    );
    expect(() => parseCifar(cifarFile([[20, 5]]).file, "cifar100-coarse", "c.bin")).toThrow(
      /^c\.bin: coarse label 20 of record 0 \(byte offset 0\) is out of range \(20 classes: 0\.\.19\)$/,
    );
    // the other label byte is range-checked too
    expect(() => parseCifar(cifarFile([[25, 5]]).file, "cifar100", "g.bin")).toThrow(
      /coarse label 25 of record 0 is out of range/,
    );
    expect(() => parseCifar(cifarFile([[1], [2]]).file, "cifar100", "h.bin")).toThrow(
      /not a whole number of 3074-byte CIFAR-100 records \(its size fits CIFAR-10 records/,
    );
    const bad = join(dir, "badnames");
    write(join(bad, "train.bin"), cifarFile(records).file);
    const names = write(join(bad, "fine_label_names.txt"), "a\nb\n");
    await expectDataError(() => readCifarDir(bad, "cifar100"), names, /has 2 class names, expected 100/);
  });
});
