/**
 * Making one batch of an image folder: read, decode and transform its files (up to `concurrency` at
 * once), normalise each into its slot of the batch as it arrives, leave out unreadable files when asked.
 *
 * A `FolderBatchStream` makes its batches on a thread of its own (`ThreadMaker`, the default): the
 * training step runs the engine synchronously on the main thread, and every stage of a file's way (open,
 * read, decode, normalise) needs a turn of the event loop that made it, so decodes made there stalled
 * for the length of each step — a 1.4 s step of a 224×224 model on wasm still waited ≈ 52 ms for its
 * batch (bench/folder-wait.mjs). On its own thread the next batches are made while the step runs, and the
 * finished batch arrives in one message, its arrays transferred, not copied. `LocalMaker` makes them on
 * the calling thread (where the thread's script is not built, or when asked).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { DataError } from "../../errors.js";
import { derivedRng, RNG_TAG } from "../seed.js";
import { decodeInto } from "./decode.js";
import { type RandomResizedCropOptions, randomResizedCrop } from "./transforms.js";

export interface MakerOptions {
  root: string;
  files: string[];
  labels: ArrayLike<number>;
  size: number;
  channels: 1 | 3;
  /** Per-channel lookup table uint8 → normalised float (buildLut). */
  lut: Float32Array;
  seed: number;
  shuffle: boolean;
  crop: RandomResizedCropOptions | null;
  flipProb: number;
  skipBadImages: boolean;
  concurrency: number;
}

export interface MadeBatch {
  x: Float32Array;
  y: Int32Array;
  /** Files left out of this batch (skipBadImages). */
  skipped: string[];
}

export interface BatchMaker {
  make(epoch: number, index: number, ids: Int32Array): Promise<MadeBatch>;
  close(): Promise<void>;
}

/** Makes batches on the calling thread. */
export class LocalMaker implements BatchMaker {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly o: MakerOptions) {}

  private async slot(): Promise<void> {
    while (this.active >= this.o.concurrency) await new Promise<void>((ok) => this.waiters.push(ok));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiters.shift()?.();
  }

  /** Image k of the batch into its slot of x; the file's name when it is left out. */
  private async decodeOne(
    entry: number,
    epoch: number,
    index: number,
    k: number,
    x: Float32Array,
  ): Promise<string | undefined> {
    await this.slot();
    const file = join(this.o.root, this.o.files[entry]);
    const { crop, shuffle } = this.o;
    const flipProb = shuffle ? this.o.flipProb : 0;
    try {
      const rng = derivedRng([this.o.seed, RNG_TAG.augment, epoch, index, k]);
      const plan = crop
        ? (h: number, w: number) => randomResizedCrop(h, w, rng, { ...crop, flipProb })
        : undefined;
      const flipEval = !crop && flipProb > 0 && rng.float() < flipProb;
      const per = this.o.size * this.o.size * this.o.channels;
      const target = { size: this.o.size, channels: this.o.channels };
      // the native decoder normalises into the batch itself; sharp's bytes are normalised here
      const p = await decodeInto(file, target, plan, flipEval, { x, offset: k * per, lut: this.o.lut });
      if (p) this.normaliseInto(p, x, k);
      return undefined;
    } catch (e) {
      if (!(e instanceof DataError) || !this.o.skipBadImages) throw e;
      return file; // left out
    } finally {
      this.release();
    }
  }

  /** Normalise one decoded image into its slot of the batch (as soon as it is decoded). */
  private normaliseInto(p: Uint8Array, x: Float32Array, slot: number): void {
    const per = p.length;
    const off = slot * per;
    const lut = this.o.lut;
    if (this.o.channels === 3) {
      // one pass, the three channels' tables side by side
      for (let i = 0; i < per; i += 3) {
        x[off + i] = lut[p[i]];
        x[off + i + 1] = lut[256 + p[i + 1]];
        x[off + i + 2] = lut[512 + p[i + 2]];
      }
    } else for (let i = 0; i < per; i++) x[off + i] = lut[p[i]];
  }

  async make(epoch: number, index: number, ids: Int32Array): Promise<MadeBatch> {
    const per = this.o.size * this.o.size * this.o.channels;
    let x = new Float32Array(ids.length * per);
    const got = await Promise.all(Array.from(ids, (entry, k) => this.decodeOne(entry, epoch, index, k, x)));
    let y = Int32Array.from(ids, (e) => this.o.labels[e]);
    const skipped = got.filter((p): p is string => typeof p === "string");
    if (skipped.length) {
      // skipped bad files: close the gaps, keep the order
      const good = got.flatMap((p, k) => (typeof p === "string" ? [] : [k]));
      const xs = new Float32Array(good.length * per);
      for (const [j, k] of good.entries()) xs.set(x.subarray(k * per, (k + 1) * per), j * per);
      x = xs;
      y = Int32Array.from(good, (k) => y[k]);
    }
    return { x, y, skipped };
  }

  async close(): Promise<void> {}
}

/** What the thread posts for one request. */
type Reply =
  | { id: number; x: Float32Array; y: Int32Array; skipped: string[] }
  | { id: number; error: { data: boolean; message: string; file?: string; stack?: string } };

/** The compiled thread script (dist/data/stream/decode-thread.js), also when this module runs from src/. */
function threadScript(): string | null {
  for (const rel of ["./decode-thread.js", "../../../dist/data/stream/decode-thread.js"]) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(file)) return file;
  }
  return null;
}

/** Makes batches on a worker thread of its own (./decode-thread.ts runs a LocalMaker there). */
export class ThreadMaker implements BatchMaker {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (b: MadeBatch) => void; reject: (e: Error) => void }
  >();
  private failure?: Error;
  private closed = false;

  /** A ThreadMaker, or null where the thread's script is not built. */
  static start(o: MakerOptions): ThreadMaker | null {
    const script = threadScript();
    return script ? new ThreadMaker(script, o) : null;
  }

  private constructor(script: string, o: MakerOptions) {
    // no inherited node flags: `node --input-type=module -e …` would make the thread refuse its file
    this.worker = new Worker(script, {
      workerData: { ...o, labels: Int32Array.from(o.labels) },
      execArgv: [],
    });
    this.worker.unref(); // held only while a batch is asked for: a stream nobody closes ends with its process
    this.worker.on("message", (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if ("error" in m) {
        const e = m.error;
        if (e.data) {
          const raw =
            e.file && e.message.startsWith(`${e.file}: `) ? e.message.slice(e.file.length + 2) : e.message;
          p.reject(new DataError(raw, e.file));
        } else {
          const err = new Error(e.message);
          err.stack = e.stack;
          p.reject(err);
        }
      } else p.resolve({ x: m.x, y: m.y, skipped: m.skipped });
    });
    this.worker.on("error", (e) => this.fail(e));
    this.worker.on("exit", (code) => {
      if (!this.closed)
        this.fail(new Error(`the folder's decoding thread exited unexpectedly (code ${code})`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  make(epoch: number, index: number, ids: Int32Array): Promise<MadeBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error("folder stream is closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, epoch, index, ids });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const outstanding = [...this.pending.values()];
    this.pending.clear();
    for (const p of outstanding) p.reject(new Error("folder stream is closed"));
    await this.worker.terminate();
  }
}
