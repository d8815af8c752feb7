/**
 * CIFAR-10 and CIFAR-100 "binary version" files (https://www.cs.toronto.edu/~kriz/cifar.html).
 * CIFAR-10 record: 1 label byte + 3072 pixel bytes; CIFAR-100 record: 1 coarse label byte, 1 fine
 * label byte, 3072 pixel bytes. Pixels are planar (1024 red, 1024 green, 1024 blue, each 32×32
 * row-major); they are converted to NHWC here.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { DataError } from "../errors.js";
import { errCode } from "./idx.js";
import type { Dataset } from "./types.js";

export type CifarKind = "cifar10" | "cifar100" | "cifar100-coarse";

const PIXELS = 32 * 32 * 3;

export const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

function layout(kind: CifarKind): {
  labelBytes: number;
  labelOffset: number;
  numClasses: number;
  name: string;
} {
  if (kind === "cifar10") return { labelBytes: 1, labelOffset: 0, numClasses: 10, name: "CIFAR-10" };
  if (kind === "cifar100") return { labelBytes: 2, labelOffset: 1, numClasses: 100, name: "CIFAR-100" };
  return { labelBytes: 2, labelOffset: 0, numClasses: 20, name: "CIFAR-100" };
}

/** Parse one CIFAR binary file's bytes. `file` is for messages only. */
export function parseCifar(
  bytes: Uint8Array,
  kind: CifarKind,
  file: string,
): { images: Uint8Array; labels: Uint8Array } {
  const { labelBytes, labelOffset, numClasses, name } = layout(kind);
  const record = labelBytes + PIXELS;
  if (bytes.length === 0) throw new DataError(`empty file: no ${name} records`, file);
  if (bytes.length % record !== 0) {
    const other = labelBytes === 1 ? PIXELS + 2 : PIXELS + 1;
    const hint =
      bytes.length % other === 0
        ? ` (its size fits ${labelBytes === 1 ? "CIFAR-100" : "CIFAR-10"} records: wrong dataset kind?)`
        : "";
    throw new DataError(
      `truncated or corrupt: ${bytes.length} bytes is not a whole number of ${record}-byte ${name} records${hint}`,
      file,
    );
  }
  const n = bytes.length / record;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * record;
    const label = bytes[base + labelOffset];
    if (label >= numClasses) {
      const which = kind === "cifar10" ? "label" : kind === "cifar100" ? "fine label" : "coarse label";
      throw new DataError(
        `${which} ${label} of record ${i} (byte offset ${base + labelOffset}) is out of range (${numClasses} classes: 0..${numClasses - 1})`,
        file,
      );
    }
    labels[i] = label;
    const px = base + labelBytes;
    const out = i * PIXELS;
    for (let p = 0; p < 1024; p++) {
      images[out + 3 * p] = bytes[px + p];
      images[out + 3 * p + 1] = bytes[px + 1024 + p];
      images[out + 3 * p + 2] = bytes[px + 2048 + p];
    }
  }
  // CIFAR-100 files also carry the other label byte; range-check it too so a corrupt file is caught.
  if (kind !== "cifar10") {
    const otherOffset = 1 - labelOffset;
    const otherClasses = kind === "cifar100" ? 20 : 100;
    for (let i = 0; i < n; i++) {
      const v = bytes[i * record + otherOffset];
      if (v >= otherClasses) {
        throw new DataError(
          `${otherOffset === 0 ? "coarse" : "fine"} label ${v} of record ${i} is out of range (${otherClasses} classes)`,
          file,
        );
      }
    }
  }
  return { images, labels };
}

async function readCifarFiles(
  files: string[],
  kind: CifarKind,
  source: string,
  classNames?: string[],
): Promise<Dataset> {
  const parts: { images: Uint8Array; labels: Uint8Array }[] = [];
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(f);
    } catch (err) {
      throw new DataError(`cannot read file (${errCode(err)})`, f);
    }
    parts.push(parseCifar(bytes, kind, f));
  }
  const n = parts.reduce((a, p) => a + p.labels.length, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return {
    images,
    labels,
    n,
    height: 32,
    width: 32,
    channels: 3,
    numClasses: layout(kind).numClasses,
    classNames,
    source,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Class names from a names file (one per line, blank lines ignored); must have `count` names. */
async function readNames(file: string, count: number): Promise<string[] | undefined> {
  if (!(await isFile(file))) return undefined;
  const names = (await readFile(file, "utf8"))
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== count) throw new DataError(`has ${names.length} class names, expected ${count}`, file);
  return names;
}

/**
 * Read a CIFAR binary folder: `dir` is the extracted folder (`cifar-10-batches-bin`,
 * `cifar-100-binary`) or the folder that contains it.
 */
export async function readCifarDir(
  dir: string,
  kind: CifarKind,
): Promise<{ train: Dataset; test?: Dataset }> {
  const sub = kind === "cifar10" ? "cifar-10-batches-bin" : "cifar-100-binary";
  if (!(await isDir(dir))) throw new DataError("no such directory", dir);
  const root = (await isDir(join(dir, sub))) ? join(dir, sub) : dir;
  if (kind === "cifar10") {
    const trainFiles = [1, 2, 3, 4, 5].map((i) => join(root, `data_batch_${i}.bin`));
    const present = await Promise.all(trainFiles.map(isFile));
    if (!present.some(Boolean)) {
      throw new DataError("no CIFAR-10 training files (data_batch_1.bin … data_batch_5.bin) found", root);
    }
    const missing = trainFiles.filter((_, i) => !present[i]);
    if (missing.length > 0) throw new DataError("missing CIFAR-10 training file", missing[0]);
    const names = (await readNames(join(root, "batches.meta.txt"), 10)) ?? CIFAR10_CLASSES;
    const train = await readCifarFiles(trainFiles, kind, root, names);
    const testFile = join(root, "test_batch.bin");
    const test = (await isFile(testFile))
      ? await readCifarFiles([testFile], kind, testFile, names)
      : undefined;
    return { train, test };
  }
  const trainFile = join(root, "train.bin");
  if (!(await isFile(trainFile))) throw new DataError("no CIFAR-100 training file train.bin found", root);
  const names =
    kind === "cifar100"
      ? await readNames(join(root, "fine_label_names.txt"), 100)
      : await readNames(join(root, "coarse_label_names.txt"), 20);
  const train = await readCifarFiles([trainFile], kind, trainFile, names);
  const testFile = join(root, "test.bin");
  const test = (await isFile(testFile)) ? await readCifarFiles([testFile], kind, testFile, names) : undefined;
  return { train, test };
}
