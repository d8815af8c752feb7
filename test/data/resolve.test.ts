import { existsSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { dataCommand } from "../../src/cli/commands/data.js";
import { captureIo } from "../../src/cli/io.js";
import { encodeIdx } from "../../src/data/idx.js";
import { guessLabelsFile, resolveData } from "../../src/data/resolve.js";
import type { Dataset } from "../../src/data/types.js";
import { DataError, UsageError } from "../../src/errors.js";
import {
  bytes,
  cifarFile,
  encodeImage,
  expectDataError,
  FMNIST_DIR,
  idxFixture,
  tempDir,
  write,
} from "./helpers.js";

const dir = tempDir();

function requireFashionMnist(): void {
  if (!existsSync(join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))) {
    throw new Error(
      `Fashion-MNIST is not installed at ${FMNIST_DIR}: run \`apt-get install -y dataset-fashion-mnist\` (.ci/run does). ` +
        "These tests must not be skipped.",
    );
  }
}

describe("--data (embedded default)", () => {
  it("undefined → the committed Fashion-MNIST subset: shipped splits, 32x32x1, train stats", async () => {
    const { train, val, test, info } = await resolveData(undefined, { seed: 3, imageSize: 32, channels: 1 });
    expect([train.n, val.n, test?.n]).toEqual([10000, 2000, 2000]);
    expect([train.height, train.width, train.channels]).toEqual([32, 32, 1]);
    expect(info.kind).toBe("embedded");
    expect(info.validation.method).toBe("shipped");
    expect(info.splits.train.perClass).toEqual(new Array(10).fill(1000));
    expect(info.splits.val.perClass).toEqual(new Array(10).fill(200));
    expect(info.splits.test?.perClass).toEqual(new Array(10).fill(200));
    expect(info.classNames[9]).toBe("Ankle boot");
    expect(info.fit).toBe("zero-pad 28x28 → 32x32 (centred)");
    // the padded border is black and 28·28/32·32 of pixels are the image: mean ≈ 0.286·0.766
    expect(info.preprocess.mean[0]).toBeGreaterThan(0.2);
    expect(info.preprocess.mean[0]).toBeLessThan(0.24);
    expect(info.augment).toEqual({ cropPadding: 2, flipProb: 0.5 });
    const again = await resolveData("embedded", { seed: 99, imageSize: 32, includeTest: false });
    expect(again.test).toBeUndefined();
    expect(again.info.preprocess).toEqual(info.preprocess); // seed does not touch a shipped split
  });

  it("channels 3 replicates grey", async () => {
    const { train } = await resolveData(undefined, {
      seed: 0,
      imageSize: 32,
      channels: 3,
      includeTest: false,
    });
    expect(train.channels).toBe(3);
    const images = (train as Dataset).images; // the embedded data is held in memory
    expect(images[(33 * 16 + 5) * 3]).toBe(images[(33 * 16 + 5) * 3 + 2]);
  });
});

describe("--data fashion-mnist (the real dataset, /usr/share/datasets/fashion-mnist)", () => {
  it("reads 60,000 + 10,000 images; carves a stratified, seeded validation set", async () => {
    requireFashionMnist();
    const { train, val, test, info } = await resolveData("fashion-mnist", {
      seed: 7,
      imageSize: 32,
      valSize: 5000,
    });
    expect([train.n, val.n, test?.n]).toEqual([55000, 5000, 10000]);
    expect(info.splits.val.perClass).toEqual(new Array(10).fill(500));
    expect(info.splits.test?.perClass).toEqual(new Array(10).fill(1000));
    expect(info.location).toBe(FMNIST_DIR);
    expect(info.validation).toEqual({ method: "stratified", seed: 7, valSize: 5000 });
    expect([train.height, train.channels]).toEqual([32, 1]);
    // native stats of Fashion-MNIST are known: mean 0.2860, std 0.3530 at 28×28
    const native = await resolveData("fashion-mnist", { seed: 7, valSize: 5000, includeTest: false });
    expect(native.info.preprocess.mean[0]).toBeCloseTo(0.286, 2);
    expect(native.info.preprocess.std[0]).toBeCloseTo(0.353, 2);
  });

  it("--data-dir and fashion-mnist:DIR point elsewhere; a missing folder is one clear DataError", async () => {
    requireFashionMnist();
    const viaArg = await resolveData(`fashion-mnist:${FMNIST_DIR}`, {
      seed: 1,
      includeTest: false,
      valFraction: 0.5,
    });
    expect(viaArg.train.n).toBe(30000);
    const missing = join(dir, "no-fmnist");
    await expectDataError(
      () => resolveData("fashion-mnist", { seed: 1, dataDir: missing }),
      missing,
      /no such directory/,
    );
  });
});

describe("--data with every source format (temp files)", () => {
  it("mnist:DIR with raw and dot-style names; labels beyond 9 rejected", async () => {
    const fx = idxFixture(40, 28, 28, 10);
    const m = join(dir, "mnist");
    write(join(m, "train-images.idx3-ubyte"), fx.images);
    write(join(m, "train-labels.idx1-ubyte"), fx.labels);
    write(join(m, "t10k-images-idx3-ubyte.gz"), gzipSync(fx.images));
    write(join(m, "t10k-labels-idx1-ubyte.gz"), gzipSync(fx.labels));
    const r = await resolveData(`mnist:${m}`, { seed: 1, valFraction: 0.25, imageSize: 32 });
    expect([r.train.n, r.val.n, r.test?.n]).toEqual([30, 10, 40]);
    expect(r.info.augment.flipProb).toBe(0);
    expect(r.info.classNames).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    const bad = join(dir, "mnist-bad");
    const labels = new Uint8Array(40);
    labels[3] = 11;
    write(join(bad, "train-images-idx3-ubyte"), fx.images);
    const lf = write(join(bad, "train-labels-idx1-ubyte"), encodeIdx([40], labels));
    await expectDataError(
      () => resolveData(`mnist:${bad}`, { seed: 1 }),
      lf,
      /label 11 at index 3 is out of range \(10 classes/,
    );
    const empty = join(dir, "mnist-empty");
    write(join(empty, "x"), "");
    await expectDataError(
      () => resolveData(`mnist:${empty}`, { seed: 1 }),
      empty,
      /no train-images-idx3-ubyte\[\.gz\] found/,
    );
  });

  it("idx:IMAGES guesses the labels file; idx:IMAGES,LABELS; a count mismatch names the labels file", async () => {
    const fx = idxFixture(20, 6, 6, 4);
    const img = write(join(dir, "idx", "foo-images-idx3-ubyte.gz"), gzipSync(fx.images));
    const lab = write(join(dir, "idx", "foo-labels-idx1-ubyte"), fx.labels);
    expect(guessLabelsFile(img)).toBe(lab);
    const r = await resolveData(`idx:${img}`, { seed: 2, valSize: 4 });
    expect([r.train.n, r.val.n, r.train.numClasses, r.test]).toEqual([16, 4, 4, undefined]);
    const other = write(join(dir, "idx", "other-labels"), encodeIdx([19], new Uint8Array(19)));
    await expectDataError(
      () => resolveData(`idx:${img},${other}`, { seed: 2 }),
      other,
      /label count 19 != image count 20/,
    );
    const lone = write(join(dir, "idx", "lone.bin"), fx.images);
    await expect(resolveData(`idx:${lone}`, { seed: 2 })).rejects.toThrow(UsageError);
    await expectDataError(
      () => resolveData(`idx:${join(dir, "idx", "nope")}`, { seed: 2 }),
      join(dir, "idx", "nope"),
      /no such file/,
    );
  });

  it("cifar10:DIR and cifar100:DIR / cifar100-coarse:DIR", async () => {
    const c10 = join(dir, "c10", "cifar-10-batches-bin");
    for (let b = 1; b <= 5; b++)
      write(
        join(c10, `data_batch_${b}.bin`),
        cifarFile(
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((l) => [l]),
          b,
        ).file,
      );
    const r = await resolveData(`cifar10:${join(dir, "c10")}`, { seed: 1, valSize: 10, imageSize: 32 });
    expect([r.train.n, r.val.n, r.train.channels, r.test]).toEqual([40, 10, 3, undefined]);
    expect(r.info.splits.val.perClass).toEqual(new Array(10).fill(1));
    expect(r.info.preprocess.mean).toHaveLength(3);
    expect(r.info.augment).toEqual({ cropPadding: 4, flipProb: 0.5 });
    const c100 = join(dir, "c100");
    write(join(c100, "train.bin"), cifarFile(Array.from({ length: 40 }, (_, i) => [i % 20, i % 100])).file);
    const fine = await resolveData(`cifar100:${c100}`, { seed: 1, valSize: 4, imageSize: 32, channels: 1 });
    expect([fine.train.numClasses, fine.train.channels]).toEqual([100, 1]);
    const coarse = await resolveData(`cifar100-coarse:${c100}`, { seed: 1, valSize: 4 });
    expect(coarse.train.numClasses).toBe(20);
  });

  it("folder:DIR: JPEG/PNG classes, streamed and transformed to the input", async () => {
    const f = join(dir, "folder");
    for (const cls of ["ants", "bees"]) {
      for (let i = 0; i < 5; i++) {
        const fmt = i % 2 === 0 ? "png" : "jpeg";
        write(
          join(f, cls, `${i}.${fmt === "png" ? "png" : "jpg"}`),
          await encodeImage(bytes(48 * 40 * 3, i + cls.length), 48, 40, 3, fmt),
        );
      }
    }
    const r = await resolveData(`folder:${f}`, { seed: 4, valSize: 2, imageSize: 32 });
    expect([r.train.n, r.val.n, r.train.height, r.train.width, r.train.channels]).toEqual([8, 2, 32, 32, 3]);
    expect(r.info.classNames).toEqual(["ants", "bees"]);
    expect(r.info.fit).toMatch(
      /^streamed from disk, any size: training RandomResizedCrop \+ flip .* resize the shorter side to 36 and centre-crop 32; (JPEGs by libjpeg-turbo|every file by libvips)/,
    );
    expect(r.info.augment.randomResizedCrop).toEqual({ scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    expect(r.info.splits.val.perClass).toEqual([1, 1]);
  });

  it("bad --data specs are UsageErrors; bad options too", async () => {
    await expect(resolveData("imagenet:/x", { seed: 1 })).rejects.toThrow(
      /unknown data source; use one of: embedded, fashion-mnist/,
    );
    await expect(resolveData("cifar10", { seed: 1 })).rejects.toThrow(UsageError);
    await expect(resolveData("folder:", { seed: 1 })).rejects.toThrow(UsageError);
    await expect(resolveData("mnist", { seed: 1 })).rejects.toThrow(/--data mnist needs a folder/);
    await expect(resolveData(undefined, { seed: 1, channels: 2 })).rejects.toThrow(UsageError);
    await expect(resolveData(undefined, { seed: -3 })).rejects.toThrow(UsageError);
    const err = await resolveData(`cifar10:${join(dir, "nothing")}`, { seed: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
  });
});

describe("psvit data", () => {
  it("prints sizes, classes, per-class counts and mean/std; --json", async () => {
    const io = captureIo();
    await dataCommand({ imageSize: 32 }, io);
    const text = io.stdout.join("");
    expect(text).toMatch(/data: +embedded \(embedded\)/);
    expect(text).toMatch(/images: +28x28x1 → input 32x32x1/);
    expect(text).toMatch(/Ankle boot +1000 +200 +200/);
    expect(text).toMatch(/total +10000 +2000 +2000/);
    expect(text).toMatch(/mean: +\[0\.2\d{3}\]/);
    const json = captureIo();
    await dataCommand({ imageSize: 32, json: true }, json);
    const info = JSON.parse(json.stdout.join(""));
    expect(info.splits.train.n).toBe(10000);
    expect(info.preprocess.std).toHaveLength(1);
    expect(info.input).toEqual({ height: 32, width: 32, channels: 1 });
  });
});
