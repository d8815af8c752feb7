/**
 * `--data` specs → train / val / test datasets, fitted to the model input, with the training
 * split's normalisation stats. Forms:
 *
 *   (none) | embedded        the committed Fashion-MNIST subset (ships its own train/val/test)
 *   fashion-mnist[:DIR]      IDX files in DIR, --data-dir, or /usr/share/datasets/fashion-mnist
 *   mnist:DIR                MNIST IDX files in DIR (or `mnist` with --data-dir)
 *   cifar10:DIR              CIFAR-10 binary (cifar-10-batches-bin or its parent)
 *   cifar100:DIR             CIFAR-100 binary, fine labels (100 classes)
 *   cifar100-coarse:DIR      CIFAR-100 binary, coarse labels (20 superclasses)
 *   folder:DIR               image folder, one sub-folder per class (or DIR/train, DIR/val, DIR/test)
 *   idx:IMAGES[,LABELS]      one IDX images file and its labels (guessed from the name if left out)
 *
 * Validation is carved from the training set, stratified and seeded, except where the source ships
 * one (embedded, folder with val/). The test set is returned for final reports only.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { DataError, UsageError } from "../errors.js";
import { log } from "../util/log.js";
import { type DataKind, defaultAugment } from "./augment.js";
import { readCifarDir } from "./cifar.js";
import {
  embeddedDir,
  embeddedFiles,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  readEmbedded,
} from "./embedded.js";
import { describeFit, type FitTarget, fitDataset } from "./fit.js";
import { readIdxPair } from "./idx.js";
import { classCounts, splitTrainVal } from "./split.js";
import { computeStats } from "./stats.js";
import { jpegDecoder } from "./stream/native.js";
import { streamedFolder, streamedStats } from "./stream/split.js";
import type { AugmentOptions, Dataset, Preprocess, Split, StreamedSplit } from "./types.js";

export interface ResolveOptions {
  /** Folder for `fashion-mnist` / `mnist` without `:DIR`. */
  dataDir?: string;
  /** Validation fraction carved from the training set (default 0.1). */
  valFraction?: number;
  /** Validation size carved from the training set (overrides valFraction). */
  valSize?: number;
  /** Seed of the validation carve-out. */
  seed: number;
  /** Model input size (square); undefined keeps the native size. */
  imageSize?: number;
  /** Model input channels (1 or 3); undefined keeps the native channels. */
  channels?: number;
  /** Load the test split too (default true). */
  includeTest?: boolean;
  /** Where an image folder's index is cached (a run directory); default: listed every time. */
  indexCacheDir?: string;
  /** Image folders: leave unreadable files out (counted) instead of stopping at the first. */
  skipBadImages?: boolean;
}

export interface SplitInfo {
  n: number;
  perClass: number[];
  source: string;
}

/** What a `--data` spec resolved to: recorded in the run and printed by `psvit data`. */
export interface DataInfo {
  spec: string;
  kind: DataKind;
  /** Where the data came from (folder or files). */
  location: string;
  numClasses: number;
  classNames: string[];
  native: { height: number; width: number; channels: number };
  input: { height: number; width: number; channels: number };
  /** How images were fitted to the input (docs/DATA.md). */
  fit: string;
  validation:
    | { method: "shipped"; note: string }
    | { method: "stratified"; seed: number; valFraction?: number; valSize: number };
  splits: { train: SplitInfo; val: SplitInfo; test?: SplitInfo };
  /** The training split's per-channel stats (SPEC §1 `preprocess`). */
  preprocess: Preprocess;
  /** Default training augmentation for this data (docs/DATA.md). */
  augment: AugmentOptions;
}

export interface ResolvedData {
  /** In memory, or streamed from disk (image folders: src/data/stream). */
  train: Split;
  val: Split;
  test?: Split;
  info: DataInfo;
}

export const DATA_FORMS =
  "embedded, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, folder:DIR, idx:IMAGES[,LABELS]";

interface Loaded {
  kind: DataKind;
  location: string;
  train: Dataset;
  val?: Dataset;
  test?: Dataset;
  valNote?: string;
}

function parseSpec(spec: string | undefined): { kind: DataKind; arg?: string } {
  if (spec === undefined || spec === "" || spec === "embedded" || spec === "default")
    return { kind: "embedded" };
  const colon = spec.indexOf(":");
  const head = (colon < 0 ? spec : spec.slice(0, colon)).toLowerCase();
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  const kinds: Record<string, DataKind> = {
    "fashion-mnist": "fashion-mnist",
    fashionmnist: "fashion-mnist",
    fmnist: "fashion-mnist",
    mnist: "mnist",
    cifar10: "cifar10",
    "cifar-10": "cifar10",
    cifar100: "cifar100",
    "cifar-100": "cifar100",
    "cifar100-coarse": "cifar100-coarse",
    folder: "folder",
    idx: "idx",
  };
  const kind = kinds[head];
  if (!kind)
    throw new UsageError(`--data ${JSON.stringify(spec)}: unknown data source; use one of: ${DATA_FORMS}`);
  if (arg !== undefined && arg.trim() === "")
    throw new UsageError(`--data ${spec}: empty path after "${head}:"`);
  return { kind, arg };
}

function requireDir(dir: string, hint = ""): string {
  const abs = resolvePath(dir);
  let ok = false;
  try {
    ok = statSync(abs).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new DataError(`no such directory${hint}`, dir);
  return abs;
}

/** The first of `names` (with or without .gz) that exists in `dir`. */
function findFile(dir: string, names: string[]): string | undefined {
  for (const name of names) {
    for (const candidate of [name, `${name}.gz`]) {
      const p = join(dir, candidate);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/** MNIST-layout IDX files: train-images-idx3-ubyte[.gz] (or train-images.idx3-ubyte), t10k-… for test. */
async function readMnistDir(
  dir: string,
  kind: "mnist" | "fashion-mnist",
): Promise<{ train: Dataset; test?: Dataset }> {
  const pick = (prefix: string) => ({
    images: findFile(dir, [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`]),
    labels: findFile(dir, [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`]),
  });
  const tr = pick("train");
  if (!tr.images) throw new DataError("no train-images-idx3-ubyte[.gz] found", dir);
  if (!tr.labels) throw new DataError("no train-labels-idx1-ubyte[.gz] found", dir);
  const classNames =
    kind === "fashion-mnist" ? FASHION_MNIST_CLASSES : Array.from({ length: 10 }, (_, i) => String(i));
  const train = await readIdxPair(tr.images, tr.labels, { numClasses: 10, classNames, source: tr.images });
  const te = pick("t10k");
  let test: Dataset | undefined;
  if (te.images || te.labels) {
    if (!te.images) throw new DataError("no t10k-images-idx3-ubyte[.gz] found next to t10k labels", dir);
    if (!te.labels) throw new DataError("no t10k-labels-idx1-ubyte[.gz] found next to t10k images", dir);
    test = await readIdxPair(te.images, te.labels, { numClasses: 10, classNames, source: te.images });
  }
  return { train, test };
}

/** Labels file for an IDX images file when none is given. */
export function guessLabelsFile(images: string): string | undefined {
  const dir = dirname(images);
  const base = basename(images).replace(/\.gz$/i, "");
  const candidates = new Set<string>();
  candidates.add(base.replace("images-idx3-ubyte", "labels-idx1-ubyte"));
  candidates.add(base.replace("images.idx3-ubyte", "labels.idx1-ubyte"));
  candidates.add(base.replace(/images/g, "labels").replace(/idx3/g, "idx1"));
  candidates.delete(base);
  return findFile(dir, [...candidates]);
}

async function load(kind: DataKind, arg: string | undefined, opts: ResolveOptions): Promise<Loaded> {
  const withTest = opts.includeTest ?? true;
  switch (kind) {
    case "embedded": {
      if (arg !== undefined) throw new UsageError(`--data embedded takes no path`);
      const dir = embeddedDir();
      const [train, val, test] = await Promise.all([
        readEmbedded("train", dir),
        readEmbedded("val", dir),
        withTest ? readEmbedded("test", dir) : Promise.resolve(undefined),
      ]);
      return {
        kind,
        location: dirname(embeddedFiles("train", dir).images),
        train,
        val,
        test,
        valNote: "shipped with the embedded subset (200 per class from the official training set)",
      };
    }
    case "fashion-mnist":
    case "mnist": {
      const raw = arg ?? opts.dataDir ?? (kind === "fashion-mnist" ? FASHION_MNIST_SYSTEM_DIR : undefined);
      if (raw === undefined)
        throw new UsageError("--data mnist needs a folder: --data mnist:DIR (or --data-dir DIR)");
      const hint =
        kind === "fashion-mnist" && raw === FASHION_MNIST_SYSTEM_DIR
          ? " (install it: apt-get install -y dataset-fashion-mnist, or pass --data-dir DIR)"
          : "";
      const dir = requireDir(raw, hint);
      const { train, test } = await readMnistDir(dir, kind);
      return { kind, location: dir, train, test: withTest ? test : undefined };
    }
    case "cifar10":
    case "cifar100":
    case "cifar100-coarse": {
      if (arg === undefined) throw new UsageError(`--data ${kind} needs a folder: --data ${kind}:DIR`);
      const { train, test } = await readCifarDir(requireDir(arg), kind);
      return { kind, location: resolvePath(arg), train, test: withTest ? test : undefined };
    }
    case "folder":
      throw new Error("resolveData: image folders are streamed (resolveFolder), not loaded");
    case "idx": {
      if (arg === undefined) throw new UsageError("--data idx needs files: --data idx:IMAGES[,LABELS]");
      const comma = arg.indexOf(",");
      const images = comma < 0 ? arg : arg.slice(0, comma);
      let labels = comma < 0 ? undefined : arg.slice(comma + 1);
      if (!existsSync(images)) throw new DataError("no such file", images);
      if (labels === undefined) {
        labels = guessLabelsFile(images);
        if (labels === undefined) {
          throw new UsageError(
            `--data idx:${images}: no labels file found next to it; give --data idx:IMAGES,LABELS`,
          );
        }
      }
      const train = await readIdxPair(images, labels);
      return { kind, location: resolvePath(images), train };
    }
  }
}

function splitInfo(ds: Pick<Dataset, "n" | "labels" | "numClasses" | "source">): SplitInfo {
  return { n: ds.n, perClass: classCounts(ds), source: ds.source };
}

/** Resolve a `--data` spec (see the module comment) into fitted splits, stats and a description. */
export async function resolveData(spec: string | undefined, opts: ResolveOptions): Promise<ResolvedData> {
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0)
    throw new UsageError(`seed must be an integer >= 0, got ${opts.seed}`);
  if (opts.imageSize !== undefined && (!Number.isInteger(opts.imageSize) || opts.imageSize < 1)) {
    throw new UsageError(`image size must be a positive integer, got ${opts.imageSize}`);
  }
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new UsageError(`input channels must be 1 or 3, got ${opts.channels}`);
  }
  const { kind, arg } = parseSpec(spec);
  if (kind === "folder") return resolveFolder(spec!, arg, opts);
  const loaded = await load(kind, arg, opts);
  const native = { height: loaded.train.height, width: loaded.train.width, channels: loaded.train.channels };

  let train = loaded.train;
  let val = loaded.val;
  let validation: DataInfo["validation"];
  if (val) {
    validation = { method: "shipped", note: loaded.valNote ?? "given by the source" };
  } else {
    const split = splitTrainVal(train, opts);
    train = split.train;
    val = split.val;
    validation = {
      method: "stratified",
      seed: opts.seed,
      ...(opts.valSize === undefined ? { valFraction: opts.valFraction ?? 0.1 } : {}),
      valSize: val.n,
    };
  }
  const target: FitTarget = { size: opts.imageSize, channels: opts.channels };
  train = fitDataset(train, target);
  val = fitDataset(val, target);
  const test = loaded.test ? fitDataset(loaded.test, target) : undefined;
  const preprocess = computeStats(train);
  const classNames = train.classNames ?? Array.from({ length: train.numClasses }, (_, i) => String(i));
  const info: DataInfo = {
    spec: spec ?? "embedded",
    kind,
    location: loaded.location,
    numClasses: train.numClasses,
    classNames,
    native,
    input: { height: train.height, width: train.width, channels: train.channels },
    fit: describeFit(native.height, native.width, native.channels, target),
    validation,
    splits: { train: splitInfo(train), val: splitInfo(val), ...(test ? { test: splitInfo(test) } : {}) },
    preprocess,
    augment: defaultAugment(kind, train.height),
  };
  return { train, val, test, info };
}

/** Which decoder a folder's JPEGs go through (their pixels differ by a grey level between the two). */
function decoderNote(): string {
  const d = jpegDecoder();
  return d.name === "turbojpeg"
    ? "JPEGs by libjpeg-turbo with Pillow's resampling (psvit's native decoder), other files by libvips"
    : `every file by libvips (sharp): the native JPEG decoder is not used (${d.why})`;
}

/**
 * An image folder: streamed splits (nothing decoded but a sample for the statistics), any sizes and
 * formats, each image transformed to the model's input (docs/DATA.md "Image folders").
 */
async function resolveFolder(
  spec: string,
  arg: string | undefined,
  opts: ResolveOptions,
): Promise<ResolvedData> {
  if (arg === undefined) throw new UsageError("--data folder needs a folder: --data folder:DIR");
  const dir = requireDir(arg);
  const size = opts.imageSize ?? 224;
  const channels = (opts.channels ?? 3) as 1 | 3;
  const r = await streamedFolder(
    dir,
    { size, channels },
    {
      seed: opts.seed,
      valFraction: opts.valFraction,
      valSize: opts.valSize,
      cacheDir: opts.indexCacheDir,
      includeTest: opts.includeTest ?? true,
    },
  );
  const skipped = r.train.index.skipped;
  if (skipped.count > 0)
    log().warn(
      `${dir}: ${skipped.count} file(s) that are not .png, .jpg, .jpeg or .webp images skipped (the first: ${skipped.first})`,
    );
  const preprocess = await streamedStats(r.train, opts.seed, 512, opts.skipBadImages);
  const info: DataInfo = {
    spec,
    kind: "folder",
    location: dir,
    numClasses: r.train.numClasses,
    classNames: r.train.classNames,
    native: { height: 0, width: 0, channels: 0 },
    input: { height: size, width: size, channels },
    fit: `streamed from disk, any size: training RandomResizedCrop + flip (the recipe's), evaluation resize the shorter side to ${Math.floor(size / 0.875)} and centre-crop ${size}; ${decoderNote()}`,
    validation: r.shippedVal
      ? { method: "shipped", note: "the folder's val/ sub-folder" }
      : {
          method: "stratified",
          seed: opts.seed,
          ...(opts.valSize === undefined ? { valFraction: opts.valFraction ?? 0.1 } : {}),
          valSize: r.val.n,
        },
    splits: {
      train: splitInfo(r.train),
      val: splitInfo(r.val),
      ...(r.test ? { test: splitInfo(r.test) } : {}),
    },
    preprocess,
    augment: defaultAugment("folder", size),
  };
  return { train: r.train, val: r.val, ...(r.test ? { test: r.test as StreamedSplit } : {}), info };
}
