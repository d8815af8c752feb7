/**
 * Batching. A `BatchStream` walks a training set epoch by epoch in a seeded order and yields
 * augmented, normalised Float32Array batches (NHWC) plus Int32Array labels; the trainer turns them
 * into tensors.
 *
 * Reproducibility: epoch e's order is a permutation drawn from a generator seeded with
 * (seed, "permutation", e), and batch (e, i)'s augmentation from (seed, "augment", e, i). So every
 * batch is a pure function of (seed, epoch, index): the stream's `state()` — seed, epoch, index and
 * the shapes it was made for — is all a resumed run needs to continue at the exact next batch with
 * bit-identical contents, whether batches are made in the worker or synchronously.
 *
 * Prefetching: by default a worker thread (worker_threads) prepares the next `prefetch` batches
 * while the main thread computes (tfjs-wasm runs on the main thread). The worker runs the same
 * kernel source as the synchronous path (see kernels.ts). It is unref'd while idle, so a stream that
 * is never closed cannot keep the process alive; `close()` terminates it.
 */
import { Worker } from "node:worker_threads";
import { UsageError } from "../errors.js";
import { NO_AUGMENT } from "./augment.js";
import { buildLut, KERNEL_SOURCES, prepareBatch } from "./kernels.js";
import { derivedState, EpochOrders, RNG_TAG } from "./seed.js";
import { checkPreprocess } from "./stats.js";
import type { AugmentOptions, Dataset, Preprocess } from "./types.js";

export interface Batch {
  /** size·H·W·C floats, NHWC, normalised (and augmented for training streams). */
  x: Float32Array;
  /** size class indices. */
  y: Int32Array;
  size: number;
  /** Coordinates of this batch: epoch from 0, index within the epoch from 0. */
  epoch: number;
  index: number;
}

/** Everything needed to continue a stream exactly (JSON-serialisable; store it in checkpoints). */
export interface BatchStreamState {
  kind: "psvit.batch-stream";
  version: 1;
  /** The stream's random numbers are derived from (seed, tag, epoch[, index]) with xoshiro128**. */
  rng: "xoshiro128**/counter";
  seed: number;
  /** The next batch to be returned. */
  epoch: number;
  index: number;
  batchSize: number;
  n: number;
  dropLast: boolean;
  augment: AugmentOptions;
}

export interface BatchStreamOptions {
  batchSize: number;
  seed: number;
  /** Normalisation (the training split's stats). */
  preprocess: Preprocess;
  /** Augmentation (training only); default none. */
  augment?: AugmentOptions;
  /** Drop the last, partial batch of each epoch (default false). */
  dropLast?: boolean;
  /** Continue from a saved `state()`. */
  resume?: BatchStreamState;
  /** Batches prepared ahead (default 2). 0: synchronous, no worker. */
  prefetch?: number;
}

export interface StreamTiming {
  batches: number;
  /** Mean time to prepare one batch (in the worker or inline). */
  prepMsMean: number;
  /** Mean time `next()` blocked the caller: the data time the training step actually pays. */
  waitMsMean: number;
  waitMsTotal: number;
}

interface Pending {
  promise: Promise<Batch>;
  resolve(b: Batch): void;
  reject(e: unknown): void;
  epoch: number;
  index: number;
}

const WORKER_MAIN = `
const { parentPort } = require("node:worker_threads");
let ds = null;
parentPort.on("message", (m) => {
  if (m.type === "init") { ds = m; return; }
  const t0 = performance.now();
  const per = ds.h * ds.w * ds.c;
  const x = new Float32Array(m.indices.length * per);
  const y = new Int32Array(m.indices.length);
  prepareBatch(ds.images, ds.labels, ds.h, ds.w, ds.c, m.indices, ds.lut, ds.pad, ds.flipProb, m.rng, x, y);
  parentPort.postMessage({ id: m.id, x, y, ms: performance.now() - t0 }, [x.buffer, y.buffer]);
});
`;

/** The prefetch worker's full source: the kernels' own text plus a message loop. */
export function workerSource(): string {
  return `"use strict";\n${KERNEL_SOURCES.map((f) => f.toString()).join("\n")}\n${WORKER_MAIN}`;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new UsageError(`seed must be an integer >= 0, got ${seed}`);
}

export class BatchStream {
  readonly batchSize: number;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly augment: AugmentOptions;
  readonly stepsPerEpoch: number;
  /** "worker" when a prefetch worker is running, "sync" otherwise. */
  readonly mode: "worker" | "sync";

  private epoch: number;
  private index: number;
  private readonly lut: Float32Array;
  private readonly orders: EpochOrders;
  private worker?: Worker;
  private readonly queue: Pending[] = [];
  private readonly byId = new Map<number, Pending>();
  private nextId = 0;
  private waiting = 0;
  private closed = false;
  private failure?: Error;
  private readonly prefetch: number;
  private stats = { batches: 0, prepMs: 0, waitMs: 0 };

  constructor(
    private readonly ds: Dataset,
    opts: BatchStreamOptions,
  ) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new UsageError(`batch size must be an integer >= 1, got ${batchSize}`);
    checkSeed(opts.seed);
    checkPreprocess(opts.preprocess, ds.channels);
    if (ds.n === 0) throw new UsageError(`no images to batch in ${ds.source}`);
    this.batchSize = batchSize;
    this.seed = opts.seed;
    this.dropLast = opts.dropLast ?? false;
    this.augment = opts.augment ?? NO_AUGMENT;
    this.stepsPerEpoch = this.dropLast ? Math.floor(ds.n / batchSize) : Math.ceil(ds.n / batchSize);
    if (this.stepsPerEpoch === 0) {
      throw new UsageError(`batch size ${batchSize} with dropLast leaves no batch from ${ds.n} images`);
    }
    this.lut = buildLut(opts.preprocess.mean, opts.preprocess.std, ds.channels);
    this.orders = new EpochOrders(ds.n, opts.seed);
    this.epoch = 0;
    this.index = 0;
    if (opts.resume) this.restore(opts.resume);
    this.prefetch = opts.prefetch ?? 2;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) {
      throw new UsageError(`prefetch must be an integer >= 0, got ${opts.prefetch}`);
    }
    this.mode = this.prefetch > 0 && this.startWorker() ? "worker" : "sync";
  }

  private restore(s: BatchStreamState): void {
    if (s.kind !== "psvit.batch-stream" || s.version !== 1)
      throw new UsageError("cannot resume: not a batch-stream state");
    const mismatch: string[] = [];
    if (s.seed !== this.seed) mismatch.push(`seed ${s.seed} != ${this.seed}`);
    if (s.n !== this.ds.n) mismatch.push(`${s.n} images != ${this.ds.n}`);
    if (s.batchSize !== this.batchSize) mismatch.push(`batch size ${s.batchSize} != ${this.batchSize}`);
    if (s.dropLast !== this.dropLast) mismatch.push(`dropLast ${s.dropLast} != ${this.dropLast}`);
    if (s.augment.cropPadding !== this.augment.cropPadding || s.augment.flipProb !== this.augment.flipProb) {
      mismatch.push("augmentation options differ");
    }
    if (mismatch.length > 0) throw new UsageError(`cannot resume the data stream: ${mismatch.join(", ")}`);
    if (
      !Number.isInteger(s.epoch) ||
      s.epoch < 0 ||
      !Number.isInteger(s.index) ||
      s.index < 0 ||
      s.index >= this.stepsPerEpoch
    ) {
      throw new UsageError(`cannot resume the data stream: bad position epoch ${s.epoch}, index ${s.index}`);
    }
    this.epoch = s.epoch;
    this.index = s.index;
  }

  /** The position of the next batch, with everything needed to continue from it. */
  state(): BatchStreamState {
    return {
      kind: "psvit.batch-stream",
      version: 1,
      rng: "xoshiro128**/counter",
      seed: this.seed,
      epoch: this.epoch,
      index: this.index,
      batchSize: this.batchSize,
      n: this.ds.n,
      dropLast: this.dropLast,
      augment: { ...this.augment },
    };
  }

  /** Training step count so far (epoch·stepsPerEpoch + index). */
  get step(): number {
    return this.epoch * this.stepsPerEpoch + this.index;
  }

  /** Data-time measurements since the stream was made. */
  timing(): StreamTiming {
    const b = this.stats.batches || 1;
    return {
      batches: this.stats.batches,
      prepMsMean: this.stats.prepMs / b,
      waitMsMean: this.stats.waitMs / b,
      waitMsTotal: this.stats.waitMs,
    };
  }

  /** The sample order of `epoch`. */
  order(epoch: number): Int32Array {
    return this.orders.of(epoch);
  }

  private indicesOf(epoch: number, index: number): Int32Array {
    const start = index * this.batchSize;
    return this.order(epoch).slice(start, Math.min(this.ds.n, start + this.batchSize));
  }

  private rngOf(epoch: number, index: number): Uint32Array | null {
    const a = this.augment;
    return a.cropPadding > 0 || a.flipProb > 0
      ? derivedState([this.seed, RNG_TAG.augment, epoch, index])
      : null;
  }

  private advance(pos: { epoch: number; index: number }): { epoch: number; index: number } {
    return pos.index + 1 >= this.stepsPerEpoch
      ? { epoch: pos.epoch + 1, index: 0 }
      : { epoch: pos.epoch, index: pos.index + 1 };
  }

  /** Make batch (epoch, index) on this thread. */
  private makeSync(epoch: number, index: number): Batch {
    const t0 = performance.now();
    const indices = this.indicesOf(epoch, index);
    const { height: h, width: w, channels: c } = this.ds;
    const x = new Float32Array(indices.length * h * w * c);
    const y = new Int32Array(indices.length);
    prepareBatch(
      this.ds.images,
      this.ds.labels,
      h,
      w,
      c,
      indices,
      this.lut,
      this.augment.cropPadding,
      this.augment.flipProb,
      this.rngOf(epoch, index),
      x,
      y,
    );
    this.stats.prepMs += performance.now() - t0;
    return { x, y, size: indices.length, epoch, index };
  }

  private startWorker(): boolean {
    let worker: Worker;
    try {
      worker = new Worker(workerSource(), { eval: true });
    } catch {
      return false;
    }
    worker.unref();
    const images =
      this.ds.images.buffer instanceof SharedArrayBuffer ? this.ds.images : sharedCopy(this.ds.images);
    worker.postMessage({
      type: "init",
      images,
      labels: Int32Array.from(this.ds.labels),
      h: this.ds.height,
      w: this.ds.width,
      c: this.ds.channels,
      lut: this.lut,
      pad: this.augment.cropPadding,
      flipProb: this.augment.flipProb,
    });
    worker.on("message", (m: { id: number; x: Float32Array; y: Int32Array; ms: number }) => {
      const p = this.byId.get(m.id);
      if (!p) return;
      this.byId.delete(m.id);
      this.stats.prepMs += m.ms;
      p.resolve({ x: m.x, y: m.y, size: m.y.length, epoch: p.epoch, index: p.index });
    });
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => {
      if (!this.closed) this.fail(new Error(`data prefetch worker exited unexpectedly (code ${code})`));
    });
    this.worker = worker;
    return true;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.byId.values()) p.reject(err);
    this.byId.clear();
  }

  private request(epoch: number, index: number): Pending {
    let resolve!: (b: Batch) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Batch>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // a prefetched batch nobody asks for must not be an unhandled rejection
    const p: Pending = { promise, resolve, reject, epoch, index };
    if (this.failure) {
      reject(this.failure);
      return p;
    }
    const id = this.nextId++;
    this.byId.set(id, p);
    const indices = this.indicesOf(epoch, index);
    this.worker!.postMessage({ type: "batch", id, indices, rng: this.rngOf(epoch, index) }, [
      indices.buffer as ArrayBuffer,
    ]);
    return p;
  }

  /** Keep `prefetch` requests in flight beyond the current position. */
  private fill(): void {
    let pos =
      this.queue.length > 0
        ? this.advance(this.queue[this.queue.length - 1])
        : { epoch: this.epoch, index: this.index };
    while (this.queue.length < this.prefetch) {
      this.queue.push(this.request(pos.epoch, pos.index));
      pos = this.advance(pos);
    }
  }

  /** The next batch (synchronous streams only). */
  nextSync(): Batch {
    if (this.mode !== "sync") throw new Error("nextSync() is for streams made with prefetch: 0");
    if (this.closed) throw new Error("batch stream is closed");
    const t0 = performance.now();
    const b = this.makeSync(this.epoch, this.index);
    ({ epoch: this.epoch, index: this.index } = this.advance({ epoch: this.epoch, index: this.index }));
    this.stats.batches++;
    this.stats.waitMs += performance.now() - t0;
    return b;
  }

  /** The next batch; the position advances by one. */
  async next(): Promise<Batch> {
    if (this.closed) throw new Error("batch stream is closed");
    if (this.mode === "sync") return this.nextSync();
    const t0 = performance.now();
    const head = this.queue.shift() ?? this.request(this.epoch, this.index);
    ({ epoch: this.epoch, index: this.index } = this.advance({ epoch: this.epoch, index: this.index }));
    this.fill(); // the worker starts on the following batches before we wait
    this.waiting++;
    this.worker!.ref();
    try {
      const b = await head.promise;
      this.stats.batches++;
      this.stats.waitMs += performance.now() - t0;
      return b;
    } finally {
      if (--this.waiting === 0 && this.worker) this.worker.unref();
    }
  }

  /** Stop the worker (if any). Idempotent; awaiting callers get an error. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.fail(new Error("batch stream closed"));
    this.queue.length = 0;
    if (w) await w.terminate();
  }
}

function sharedCopy(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(a.length));
  out.set(a);
  return out;
}

/**
 * Evaluation batches: the dataset in its stored order, normalised, no augmentation; the last batch
 * may be smaller.
 */
export function* evalBatches(ds: Dataset, batchSize: number, pre: Preprocess): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UsageError(`batch size must be an integer >= 1, got ${batchSize}`);
  checkPreprocess(pre, ds.channels);
  const lut = buildLut(pre.mean, pre.std, ds.channels);
  const per = ds.height * ds.width * ds.channels;
  for (let start = 0, index = 0; start < ds.n; start += batchSize, index++) {
    const size = Math.min(batchSize, ds.n - start);
    const indices = new Int32Array(size);
    for (let k = 0; k < size; k++) indices[k] = start + k;
    const x = new Float32Array(size * per);
    const y = new Int32Array(size);
    prepareBatch(ds.images, ds.labels, ds.height, ds.width, ds.channels, indices, lut, 0, 0, null, x, y);
    yield { x, y, size, epoch: 0, index };
  }
}
