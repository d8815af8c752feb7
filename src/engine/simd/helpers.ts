/**
 * Helper threads for psvit's SIMD product (`bmm` of kernels.c) on tfjs's threaded wasm build. That
 * build's memory is a shared WebAssembly.Memory, so a worker thread can instantiate the same SIMD module
 * on it and compute part of a product in place. tfjs's own pthread pool serves only XNNPACK; without
 * these helpers psvit's products — most of a training step — would use one core whatever
 * `PSVIT_WASM_THREADS` says.
 *
 * Protocol: one Int32Array slot block per helper in a SharedArrayBuffer: [state, a, b, c, G, M, K, P,
 * sam, sak, bias, hasBias]; state 0 = idle, 1 = work posted, 2 = quit. The main thread posts a part to
 * every helper, computes part 0 itself, then `Atomics.wait`s until every helper is idle again. Helpers
 * are `unref()`ed (they never keep the process alive) and only run while the main thread waits inside a
 * kernel. A product is split by G (batched products) when G ≥ parts, else by rows in multiples of 4;
 * each output element is computed by exactly one thread in the same order as single-threaded, so the
 * results are bit-identical.
 */
import { Worker } from "node:worker_threads";

const SLOTS = 12;

/** The worker's code (CommonJS, run with `eval: true`: no file to find next to the bundle). */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { memory, bytes, ctrl, index } = workerData;
const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
const bmm = inst.exports.bmm;
const c = new Int32Array(ctrl, index * ${SLOTS} * 4, ${SLOTS});
for (;;) {
  Atomics.wait(c, 0, 0);
  const s = Atomics.load(c, 0);
  if (s === 2) break;
  if (s !== 1) continue;
  bmm(c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]);
  Atomics.store(c, 0, 0);
  Atomics.notify(c, 0);
}
`;

export type BmmFn = (
  a: number,
  b: number,
  c: number,
  G: number,
  M: number,
  K: number,
  P: number,
  sam: number,
  sak: number,
  bias: number,
  hasBias: number,
) => void;

/** Products below this many multiply-adds run on the main thread alone (waking a helper costs ≈ 10–50 µs). */
const MIN_SPLIT_MACS = 1 << 20;

export class BmmHelpers {
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly parts: number;
  /** Parts handed to helpers so far (tests). */
  posted = 0;

  /** `threads` − 1 helpers on `memory` (a shared WebAssembly.Memory) running the module `bytes`. */
  constructor(memory: object, bytes: Uint8Array, threads: number) {
    this.parts = threads;
    const helpers = threads - 1;
    const sab = new SharedArrayBuffer(Math.max(1, helpers) * SLOTS * 4);
    this.ctrl = new Int32Array(sab);
    for (let i = 0; i < helpers; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, bytes, ctrl: sab, index: i } });
      w.unref();
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.parts;
  }

  /**
   * C = op(A)·B (+ bias) as `bmm` would compute it, split over the main thread and the helpers.
   * Pointers are byte offsets; sam/sak are A's element strides for rows and K (see kernels.c).
   */
  run(
    bmm: BmmFn,
    a: number,
    b: number,
    c: number,
    G: number,
    M: number,
    K: number,
    P: number,
    sam: number,
    sak: number,
    bias: number,
    hasBias: number,
  ): void {
    const n = this.parts;
    if (n < 2 || G * M * K * P < MIN_SPLIT_MACS) {
      bmm(a, b, c, G, M, K, P, sam, sak, bias, hasBias);
      return;
    }
    const jobs: [number, number, number, number, number][] = []; // [a, b, c, G, M]
    if (G >= n) {
      for (let i = 0; i < n; i++) {
        const g0 = Math.floor((G * i) / n);
        const g1 = Math.floor((G * (i + 1)) / n);
        if (g1 > g0) jobs.push([a + 4 * g0 * M * K, b + 4 * g0 * K * P, c + 4 * g0 * M * P, g1 - g0, M]);
      }
    } else {
      // G < n: one matrix at a time, its rows split in multiples of 4 (the kernel's tile height)
      for (let g = 0; g < G; g++)
        this.runRows(
          bmm,
          a + 4 * g * M * K,
          b + 4 * g * K * P,
          c + 4 * g * M * P,
          M,
          K,
          P,
          sam,
          sak,
          bias,
          hasBias,
        );
      return;
    }
    this.dispatch(bmm, jobs, K, P, sam, sak, bias, hasBias);
  }

  private runRows(
    bmm: BmmFn,
    a: number,
    b: number,
    c: number,
    M: number,
    K: number,
    P: number,
    sam: number,
    sak: number,
    bias: number,
    hasBias: number,
  ): void {
    const n = this.parts;
    const jobs: [number, number, number, number, number][] = [];
    const quads = Math.ceil(M / 4);
    for (let i = 0; i < n; i++) {
      const m0 = Math.min(M, 4 * Math.floor((quads * i) / n));
      const m1 = Math.min(M, 4 * Math.floor((quads * (i + 1)) / n));
      if (m1 > m0) jobs.push([a + 4 * m0 * sam, b, c + 4 * m0 * P, 1, m1 - m0]);
    }
    this.dispatch(bmm, jobs, K, P, sam, sak, bias, hasBias);
  }

  private dispatch(
    bmm: BmmFn,
    jobs: [number, number, number, number, number][],
    K: number,
    P: number,
    sam: number,
    sak: number,
    bias: number,
    hasBias: number,
  ): void {
    const c = this.ctrl;
    const posted: number[] = [];
    for (let j = 1; j < jobs.length; j++) {
      const o = (j - 1) * SLOTS;
      const [ja, jb, jc, jG, jM] = jobs[j];
      c[o + 1] = ja;
      c[o + 2] = jb;
      c[o + 3] = jc;
      c[o + 4] = jG;
      c[o + 5] = jM;
      c[o + 6] = K;
      c[o + 7] = P;
      c[o + 8] = sam;
      c[o + 9] = sak;
      c[o + 10] = bias;
      c[o + 11] = hasBias;
      Atomics.store(c, o, 1);
      Atomics.notify(c, o);
      posted.push(o);
      this.posted++;
    }
    const [ja, jb, jc, jG, jM] = jobs[0];
    bmm(ja, jb, jc, jG, jM, K, P, sam, sak, bias, hasBias);
    for (const o of posted) {
      while (Atomics.load(c, o) === 1) Atomics.wait(c, o, 1);
    }
  }

  /** Stop the helpers (tests; the process exits without this, they are unref()ed). */
  async close(): Promise<void> {
    for (let i = 0; i < this.workers.length; i++) {
      Atomics.store(this.ctrl, i * SLOTS, 2);
      Atomics.notify(this.ctrl, i * SLOTS);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
