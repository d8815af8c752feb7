/**
 * Image folders as streamed splits: `DIR/<class>/…`, with the validation split carved out stratified by
 * the seed (as for every other source, src/data/split.ts), or `DIR/train|val|test/<class>/…`. Nothing is
 * decoded here but a seeded sample of at most 512 training images for the normalisation statistics.
 * `inMemory` decodes a split with the eval transform for the consumers that need all of it at once
 * (a search's fitness set, the queue's published data).
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { DataError, UsageError } from "../../errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { derivedRng, permutation, RNG_TAG } from "../seed.js";
import { carveIndices, type SplitOptions } from "../split.js";
import { computeStats } from "../stats.js";
import { type Dataset, isStreamed, type Preprocess, type Split, type StreamedSplit } from "../types.js";
import { decodeToInput } from "./decode.js";
import { type FolderIndex, folderIndex } from "./index.js";

export interface StreamTarget {
  size: number;
  channels: 1 | 3;
}

function splitOf(
  index: FolderIndex,
  entries: Int32Array,
  t: StreamTarget,
  source: string,
  indexName: string,
): StreamedSplit {
  return {
    kind: "stream",
    indexName,
    index,
    entries,
    labels: Int32Array.from(entries, (e) => index.labels[e]),
    n: entries.length,
    height: t.size,
    width: t.size,
    channels: t.channels,
    numClasses: index.classNames.length,
    classNames: index.classNames,
    source,
  };
}

const all = (index: FolderIndex) => Int32Array.from(index.files.keys());

/** Where a folder index is cached in a run directory. */
export function indexCacheFile(dir: string, name: string): string {
  return join(dir, `data-index-${name}.json`);
}

/** Write the folder indexes of streamed splits into a run directory (a fresh run, once it exists). */
export async function saveFolderIndexes(
  data: { train: Split; val: Split; test?: Split },
  dir: string,
): Promise<void> {
  const seen = new Map<string, FolderIndex>();
  for (const s of [data.train, data.val, data.test]) if (s && isStreamed(s)) seen.set(s.indexName, s.index);
  for (const [name, index] of seen)
    await writeFileAtomic(indexCacheFile(dir, name), new TextEncoder().encode(JSON.stringify(index)));
}

/** The splits of an image folder, streamed. `cacheDir` holds the folder indexes (a run directory). */
export async function streamedFolder(
  dir: string,
  target: StreamTarget,
  opts: SplitOptions & { cacheDir?: string; includeTest?: boolean },
): Promise<{ train: StreamedSplit; val: StreamedSplit; test?: StreamedSplit; shippedVal: boolean }> {
  let subdirs: string[];
  try {
    subdirs = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name);
  } catch {
    throw new DataError("cannot read folder", dir);
  }
  const splitLayout = subdirs.includes("train") && subdirs.every((d) => ["train", "val", "test"].includes(d));
  const cache = (name: string) => (opts.cacheDir ? indexCacheFile(opts.cacheDir, name) : undefined);
  if (!splitLayout) {
    const { index } = await folderIndex(dir, cache("folder"));
    const { train, val } = carveIndices(index.labels, index.classNames.length, opts);
    return {
      train: splitOf(index, train, target, dir, "folder"),
      val: splitOf(index, val, target, dir, "folder"),
      shippedVal: false,
    };
  }
  const load = async (name: string) => {
    const { index } = await folderIndex(join(dir, name), cache(name));
    return index;
  };
  const trainIx = await load("train");
  const check = (ix: FolderIndex) => {
    if (ix.classNames.join("\n") !== trainIx.classNames.join("\n"))
      throw new DataError(
        `class folders [${ix.classNames.join(", ")}] differ from those of ${trainIx.root} [${trainIx.classNames.join(", ")}]`,
        ix.root,
      );
    return ix;
  };
  const train = splitOf(trainIx, all(trainIx), target, trainIx.root, "train");
  let val: StreamedSplit;
  let shippedVal = false;
  if (subdirs.includes("val")) {
    const ix = check(await load("val"));
    val = splitOf(ix, all(ix), target, ix.root, "val");
    shippedVal = true;
  } else {
    const carved = carveIndices(trainIx.labels, trainIx.classNames.length, opts);
    return {
      train: splitOf(trainIx, carved.train, target, trainIx.root, "train"),
      val: splitOf(trainIx, carved.val, target, trainIx.root, "train"),
      ...(opts.includeTest !== false && subdirs.includes("test") ? { test: await testSplit() } : {}),
      shippedVal,
    };
  }
  async function testSplit() {
    const ix = check(await load("test"));
    return splitOf(ix, all(ix), target, ix.root, "test");
  }
  return {
    train,
    val,
    ...(opts.includeTest !== false && subdirs.includes("test") ? { test: await testSplit() } : {}),
    shippedVal,
  };
}

/**
 * Decode entries with the eval transform, `concurrency` at a time, into one NHWC buffer. With
 * `skipBad`, unreadable files are left out: the result holds the good ones, in order, and says which.
 */
async function decodeEntries(
  s: StreamedSplit,
  positions: ArrayLike<number>,
  skipBad = false,
  concurrency = 8,
): Promise<{ images: Uint8Array; kept: Int32Array }> {
  const per = s.height * s.width * s.channels;
  const out = new Uint8Array(positions.length * per);
  const ok = new Uint8Array(positions.length);
  let next = 0;
  const worker = async () => {
    while (next < positions.length) {
      const k = next++;
      const file = join(s.index.root, s.index.files[s.entries[positions[k]]]);
      try {
        out.set(await decodeToInput(file, { size: s.height, channels: s.channels }), k * per);
        ok[k] = 1;
      } catch (e) {
        if (!(skipBad && e instanceof DataError)) throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, positions.length) }, worker));
  const kept = Int32Array.from(Array.from(positions).filter((_, k) => ok[k]));
  if (kept.length === positions.length) return { images: out, kept };
  const images = new Uint8Array(kept.length * per);
  let j = 0;
  for (let k = 0; k < positions.length; k++)
    if (ok[k]) images.set(out.subarray(k * per, (k + 1) * per), j++ * per);
  return { images, kept };
}

/** Per-channel mean/std of a seeded sample of at most `max` images (eval transform). */
export async function streamedStats(
  s: StreamedSplit,
  seed: number,
  max = 512,
  skipBad = false,
): Promise<Preprocess> {
  const perm = permutation(s.n, derivedRng([seed, RNG_TAG.split, 0x57a7]));
  const pick = perm.subarray(0, Math.min(max, s.n));
  return computeStats({ images: (await decodeEntries(s, pick, skipBad)).images, channels: s.channels });
}

/** The whole split decoded with the eval transform (for consumers that need it in memory). */
export async function inMemory(s: StreamedSplit, skipBad = false): Promise<Dataset> {
  if (s.n === 0) throw new UsageError(`no images in ${s.source}`);
  const { images, kept } = await decodeEntries(
    s,
    Int32Array.from({ length: s.n }, (_, i) => i),
    skipBad,
  );
  return {
    images,
    labels: Int32Array.from(kept, (k) => s.labels[k]),
    n: kept.length,
    height: s.height,
    width: s.width,
    channels: s.channels,
    numClasses: s.numClasses,
    classNames: s.classNames,
    source: s.source,
  };
}

/** A split in memory: as it is, or a streamed one decoded with the eval transform. */
export async function materialize(s: Split, skipBad = false): Promise<Dataset> {
  return isStreamed(s) ? inMemory(s, skipBad) : s;
}
