/**
 * Training and evaluation batches streamed from an image folder: nothing is held decoded but the
 * batches in the prefetch window. The same contract as the in-memory BatchStream (src/data/batch.ts):
 * epoch e's order is a permutation seeded by (seed, "permutation", e); image k of batch (e, i) takes
 * its crop and flip from a generator seeded by (seed, "augment", e, i, k). So every batch is a pure
 * function of (seed, epoch, index), a resumed run continues at the exact image with the same crops,
 * and the order the decoder finishes in changes nothing.
 *
 * Decoding (./batch-maker.ts): on a thread of the stream's own, up to `concurrency` files at once
 * (default: four per core), the parallelism across images on libuv's pool and, for sharp, where there
 * are more cores than pool threads, within each image (`vipsThreadsPerImage`); the next `prefetch`
 * batches are decoded while the caller computes. `peakHeld()` reports the
 * most images held decoded at once, which never exceeds (prefetch + 1) · batchSize: the
 * batch being handed over and the `prefetch` after it.
 *
 * Bad files: a DataError naming the file stops the stream, or with `skipBadImages` the image is left
 * out of its batch (the batch is one smaller) and counted in `skipped()`.
 */
import { availableParallelism } from "node:os";
import sharp from "sharp";
import { UsageError } from "../../errors.js";
import { buildLut } from "../kernels.js";
import { EpochOrders } from "../seed.js";
import { checkPreprocess } from "../stats.js";
import type { Preprocess } from "../types.js";
import { type BatchMaker, LocalMaker, type MakerOptions, ThreadMaker } from "./batch-maker.js";
import type { FolderIndex } from "./index.js";
import type { RandomResizedCropOptions } from "./transforms.js";

export interface FolderBatch {
  x: Float32Array;
  y: Int32Array;
  size: number;
  epoch: number;
  index: number;
}

export interface FolderStreamState {
  kind: "psvit.folder-stream";
  version: 1;
  seed: number;
  epoch: number;
  index: number;
  batchSize: number;
  n: number;
  dropLast: boolean;
  shuffle: boolean;
  crop: RandomResizedCropOptions | null;
  flipProb: number;
}

export interface FolderStreamOptions {
  batchSize: number;
  seed: number;
  size: number;
  channels: 1 | 3;
  preprocess: Preprocess;
  /** Training: a seeded order per epoch, epoch after epoch; else one pass in index order. */
  shuffle: boolean;
  /** RandomResizedCrop (its flipProb unused), or null: the eval transform (resize + centre crop). */
  crop: RandomResizedCropOptions | null;
  /** Probability of a horizontal flip (training streams). */
  flipProb?: number;
  /** Which entries of the index (a split); default all. */
  subset?: Int32Array;
  dropLast?: boolean;
  /** Batches decoded ahead (default 2). */
  prefetch?: number;
  /** Files decoded at once (default: four per core). */
  concurrency?: number;
  skipBadImages?: boolean;
  resume?: FolderStreamState;
  /** Make batches on a decoding thread of the stream's own (default true; see ./batch-maker.ts). */
  thread?: boolean;
}

interface Slot {
  epoch: number;
  index: number;
  /** Images of the batch (held decoded from the moment its decoding starts until it is taken). */
  count: number;
  promise: Promise<FolderBatch>;
}

/**
 * libvips threads per image. sharp runs each pipeline on one of libuv's pool threads, and that pool
 * has UV_THREADPOOL_SIZE threads (default 4, fixed before psvit's code runs), so at most that many
 * images decode at once; each image gets the cores beyond them: 1 thread on up to 4 cores (the
 * measured case: 2 cores), ceil(cores / pool) on more. Not measured on more than 2 cores.
 */
export function vipsThreadsPerImage(
  cores = availableParallelism(),
  pool = Number(process.env.UV_THREADPOOL_SIZE) || 4,
): number {
  return Math.max(1, Math.ceil(cores / Math.max(1, pool)));
}

export class FolderBatchStream {
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  readonly n: number;
  private epoch = 0;
  private index = 0;
  private readonly entries: Int32Array;
  private readonly lut: Float32Array;
  private readonly orders: EpochOrders;
  private readonly window: Slot[] = [];
  private readonly prefetch: number;
  private readonly maker: BatchMaker;
  private held = 0;
  private peak = 0;
  /** Distinct unreadable files met so far (each is met again every epoch). */
  private readonly badFiles = new Set<string>();
  private firstSkipped?: string;
  private closed = false;
  private stats = { batches: 0, waitMs: 0, decodeMs: 0, images: 0 };

  constructor(
    index_: FolderIndex,
    private readonly o: FolderStreamOptions,
  ) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
      throw new UsageError(`batch size must be an integer >= 1, got ${o.batchSize}`);
    if (!Number.isSafeInteger(o.seed) || o.seed < 0)
      throw new UsageError(`seed must be an integer >= 0, got ${o.seed}`);
    checkPreprocess(o.preprocess, o.channels);
    this.entries = o.subset ?? Int32Array.from(index_.files.keys());
    this.n = this.entries.length;
    if (this.n === 0) throw new UsageError(`no images to batch in ${index_.root}`);
    this.batchSize = o.batchSize;
    const dropLast = o.dropLast ?? false;
    this.stepsPerEpoch = dropLast ? Math.floor(this.n / o.batchSize) : Math.ceil(this.n / o.batchSize);
    if (this.stepsPerEpoch === 0)
      throw new UsageError(`batch size ${o.batchSize} with dropLast leaves no batch from ${this.n} images`);
    this.lut = buildLut(o.preprocess.mean, o.preprocess.std, o.channels);
    this.orders = new EpochOrders(this.n, o.seed);
    this.prefetch = o.prefetch ?? 2;
    if (o.resume) this.restore(o.resume);
    sharp.concurrency(vipsThreadsPerImage());
    const maker: MakerOptions = {
      root: index_.root,
      files: index_.files,
      labels: index_.labels,
      size: o.size,
      channels: o.channels,
      lut: this.lut,
      seed: o.seed,
      shuffle: o.shuffle,
      crop: o.crop,
      flipProb: o.flipProb ?? 0,
      skipBadImages: o.skipBadImages ?? false,
      // four files in flight per core: decodes overlap the file reads, the thread hops and the copies
      // (measured: 2 per core 386, 4 per core 429 images/s on 2 cores, bench/folder-throughput.mjs)
      concurrency: o.concurrency ?? 4 * availableParallelism(),
    };
    this.maker =
      (o.thread ?? true) ? (ThreadMaker.start(maker) ?? new LocalMaker(maker)) : new LocalMaker(maker);
  }

  private restore(s: FolderStreamState): void {
    const bad: string[] = [];
    if (s.kind !== "psvit.folder-stream" || s.version !== 1) bad.push("not a folder-stream state");
    if (s.seed !== this.o.seed) bad.push(`seed ${s.seed} != ${this.o.seed}`);
    if (s.n !== this.n) bad.push(`${s.n} images != ${this.n}`);
    if (s.batchSize !== this.batchSize) bad.push(`batch size ${s.batchSize} != ${this.batchSize}`);
    const same =
      JSON.stringify([s.shuffle, s.crop, s.flipProb]) ===
      JSON.stringify([this.o.shuffle, this.o.crop, this.o.flipProb ?? 0]);
    if (!same) bad.push("transforms differ");
    if (!(Number.isInteger(s.index) && s.index >= 0 && s.index < this.stepsPerEpoch))
      bad.push(`bad position ${s.index}`);
    if (bad.length) throw new UsageError(`cannot resume the data stream: ${bad.join(", ")}`);
    this.epoch = s.epoch;
    this.index = s.index;
  }

  state(): FolderStreamState {
    return {
      kind: "psvit.folder-stream",
      version: 1,
      seed: this.o.seed,
      epoch: this.epoch,
      index: this.index,
      batchSize: this.batchSize,
      n: this.n,
      dropLast: this.o.dropLast ?? false,
      shuffle: this.o.shuffle,
      crop: this.o.crop,
      flipProb: this.o.flipProb ?? 0,
    };
  }

  get step(): number {
    return this.epoch * this.stepsPerEpoch + this.index;
  }

  /** Most images held decoded (or being decoded) at once so far, the batch being handed over included. */
  peakHeld(): number {
    return this.peak;
  }

  /** The distinct files left out (skipBadImages), and the first of them. */
  skipped(): { count: number; first?: string } {
    return { count: this.badFiles.size, first: this.firstSkipped };
  }

  timing(): { batches: number; waitMsMean: number; waitMsTotal: number; imagesPerSec: number } {
    const b = this.stats.batches || 1;
    return {
      batches: this.stats.batches,
      waitMsMean: this.stats.waitMs / b,
      waitMsTotal: this.stats.waitMs,
      imagesPerSec: this.stats.decodeMs > 0 ? (1000 * this.stats.images) / this.stats.decodeMs : 0,
    };
  }

  /** Entry positions (into the index) of batch (epoch, index). */
  batchEntries(epoch: number, index: number): Int32Array {
    const start = index * this.batchSize;
    const end = Math.min(this.n, start + this.batchSize);
    // an eval stream walks its entries in order: no permutation to make or index through
    if (!this.o.shuffle) return this.entries.slice(start, end);
    return this.orders
      .of(epoch)
      .slice(start, end)
      .map((k) => this.entries[k]);
  }

  private async make(epoch: number, index: number): Promise<FolderBatch> {
    const t0 = performance.now();
    const ids = this.batchEntries(epoch, index);
    const made = await this.maker.make(epoch, index, ids);
    for (const file of made.skipped) {
      this.badFiles.add(file);
      this.firstSkipped ??= file;
    }
    this.stats.decodeMs += performance.now() - t0;
    this.stats.images += ids.length;
    return { x: made.x, y: made.y, size: made.y.length, epoch, index };
  }

  private advance(p: { epoch: number; index: number }) {
    return p.index + 1 >= this.stepsPerEpoch
      ? { epoch: p.epoch + 1, index: 0 }
      : { epoch: p.epoch, index: p.index + 1 };
  }

  private slotAt(pos: { epoch: number; index: number }): Slot {
    const count = Math.min(this.batchSize, this.n - pos.index * this.batchSize);
    this.held += count;
    this.peak = Math.max(this.peak, this.held);
    const promise = this.make(pos.epoch, pos.index);
    promise.catch(() => {}); // a prefetched batch nobody asks for must not be an unhandled rejection
    return { ...pos, count, promise };
  }

  /** Keep `prefetch` batches decoding beyond the current position. */
  private fill(): void {
    let pos = this.window.length
      ? this.advance(this.window[this.window.length - 1])
      : { epoch: this.epoch, index: this.index };
    // an eval stream is one pass: nothing past its last batch
    while (this.window.length < this.prefetch && (this.o.shuffle || pos.epoch === 0)) {
      this.window.push(this.slotAt(pos));
      pos = this.advance(pos);
    }
  }

  /** The next batch; the position advances by one. */
  async next(): Promise<FolderBatch> {
    if (this.closed) throw new Error("folder stream is closed");
    if (!this.o.shuffle && this.epoch > 0) throw new Error("an eval stream makes one pass");
    const t0 = performance.now();
    const head = this.window.shift() ?? this.slotAt({ epoch: this.epoch, index: this.index });
    ({ epoch: this.epoch, index: this.index } = this.advance(head));
    this.fill();
    let b: FolderBatch;
    try {
      b = await head.promise;
    } finally {
      this.held -= head.count;
    }
    this.stats.batches++;
    this.stats.waitMs += performance.now() - t0;
    return b;
  }

  /** Every batch of one eval pass. */
  async *pass(): AsyncGenerator<FolderBatch> {
    for (let i = 0; i < this.stepsPerEpoch; i++) yield await this.next();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.window.map((s) => s.promise));
    this.window.length = 0;
    await this.maker.close();
  }

  /** Where batches are made: "thread" (a decoding thread of the stream's own) or "local". */
  get makerKind(): "thread" | "local" {
    return this.maker instanceof ThreadMaker ? "thread" : "local";
  }
}
