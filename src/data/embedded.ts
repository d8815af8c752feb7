/**
 * The embedded default dataset: a stratified subset of Fashion-MNIST committed in `data/`
 * (1,000 training + 200 validation images per class from the official training set, 200 per class
 * from the official test set; IDX, gzip), so that psvit runs on a fresh machine with nothing
 * downloaded. `buildEmbedded` makes it, reproducibly, from the Debian package's files; the script
 * scripts/make-embedded-data.ts writes it and a test checks the committed bytes against it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DataError } from "../errors.js";
import { encodeIdx, gzipDeterministic, readIdxPair } from "./idx.js";
import { derivedRng, permutation, RNG_TAG } from "./seed.js";
import { subset } from "./split.js";
import type { Dataset } from "./types.js";

export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

/** Seed of the embedded subset's selection (fixed: the committed files depend on it). */
export const EMBEDDED_SEED = 20170825;
export const EMBEDDED_PER_CLASS = { train: 1000, val: 200, test: 200 } as const;
export const EMBEDDED_SPLITS = ["train", "val", "test"] as const;
export type EmbeddedSplit = (typeof EMBEDDED_SPLITS)[number];

/** Folder of the committed subset (`<package root>/data/fashion-mnist-small`, from src/ or dist/). */
export function embeddedDir(): string {
  return fileURLToPath(new URL("../../data/fashion-mnist-small/", import.meta.url));
}

export function embeddedFiles(split: EmbeddedSplit, dir = embeddedDir()): { images: string; labels: string } {
  return {
    images: join(dir, `${split}-images-idx3-ubyte.gz`),
    labels: join(dir, `${split}-labels-idx1-ubyte.gz`),
  };
}

/** Read one split of the embedded subset. */
export async function readEmbedded(split: EmbeddedSplit, dir = embeddedDir()): Promise<Dataset> {
  const f = embeddedFiles(split, dir);
  if (!existsSync(f.images)) {
    throw new DataError(
      "the embedded Fashion-MNIST subset is missing (run scripts/make-embedded-data.ts)",
      f.images,
    );
  }
  return readIdxPair(f.images, f.labels, {
    numClasses: 10,
    classNames: FASHION_MNIST_CLASSES,
    source: `embedded:fashion-mnist-small/${split}`,
  });
}

/** Stratified pick: per class, a seeded shuffle of that class's indices; `takes` consecutive slices. */
function stratifiedPick(ds: Dataset, takes: number[], stream: number): number[][] {
  const out = takes.map(() => [] as number[]);
  for (let c = 0; c < ds.numClasses; c++) {
    const members: number[] = [];
    for (let i = 0; i < ds.n; i++) if (ds.labels[i] === c) members.push(i);
    const need = takes.reduce((a, b) => a + b, 0);
    if (members.length < need)
      throw new DataError(`class ${c} has ${members.length} images, need ${need}`, ds.source);
    const perm = permutation(members.length, derivedRng([EMBEDDED_SEED, RNG_TAG.embedded, stream, c]));
    let at = 0;
    takes.forEach((k, s) => {
      for (let j = 0; j < k; j++) out[s].push(members[perm[at++]]);
    });
  }
  return out.map((idx) => idx.sort((a, b) => a - b));
}

/** Select the embedded subset's three splits from the official Fashion-MNIST files in `srcDir`. */
export async function selectEmbedded(
  srcDir = FASHION_MNIST_SYSTEM_DIR,
): Promise<Record<EmbeddedSplit, Dataset>> {
  const train = await readIdxPair(
    join(srcDir, "train-images-idx3-ubyte.gz"),
    join(srcDir, "train-labels-idx1-ubyte.gz"),
    { numClasses: 10 },
  );
  const test = await readIdxPair(
    join(srcDir, "t10k-images-idx3-ubyte.gz"),
    join(srcDir, "t10k-labels-idx1-ubyte.gz"),
    {
      numClasses: 10,
    },
  );
  const [trainIdx, valIdx] = stratifiedPick(train, [EMBEDDED_PER_CLASS.train, EMBEDDED_PER_CLASS.val], 0);
  const [testIdx] = stratifiedPick(test, [EMBEDDED_PER_CLASS.test], 1);
  return { train: subset(train, trainIdx), val: subset(train, valIdx), test: subset(test, testIdx) };
}

/**
 * Build the embedded subset from the official Fashion-MNIST files in `srcDir`. Returns file name →
 * bytes (IDX, deterministic gzip) for the six data files.
 */
export async function buildEmbedded(srcDir = FASHION_MNIST_SYSTEM_DIR): Promise<Map<string, Uint8Array>> {
  const splits = await selectEmbedded(srcDir);
  const files = new Map<string, Uint8Array>();
  for (const split of EMBEDDED_SPLITS) {
    const ds = splits[split];
    files.set(
      `${split}-images-idx3-ubyte.gz`,
      gzipDeterministic(encodeIdx([ds.n, ds.height, ds.width], ds.images)),
    );
    files.set(
      `${split}-labels-idx1-ubyte.gz`,
      gzipDeterministic(encodeIdx([ds.n], Uint8Array.from(ds.labels))),
    );
  }
  return files;
}
