/**
 * Helper threads for psvit's SIMD product (`bmm` of kernels.c) on tfjs's threaded wasm build. That
 * build's memory is a shared WebAssembly.Memory, so a worker thread can instantiate the same SIMD module
 * on it and compute part of a product in place. tfjs's own pthread pool serves only XNNPACK; without
 * these helpers psvit's products — most of a training step — would use one core whatever
 * `PSVIT_WASM_THREADS` says.
 *
 * Protocol: one Int32Array slot block per helper in a SharedArrayBuffer: [state, ...BmmArgs]; state
 * 0 = idle, 1 = work posted, 2 = quit. The main thread posts a part to every helper, computes part 0 itself, then `Atomics.wait`s until every helper is idle again. Helpers
 * are `unref()`ed (they never keep the process alive) and only run while the main thread waits inside a
 * kernel. A product is split by G (batched products) when G ≥ parts, else by rows in multiples of 4;
 * each output element is computed by exactly one thread in the same order as single-threaded, so the
 * results are bit-identical.
 */
import { Worker } from "node:worker_threads";

const SLOTS = 16;
/** kernels.c's MC · KB: the scratch floats one thread packs A into (the caller gives one block per thread). */
export const PACK_A_FLOATS = 64 * 512;

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
  bmm(c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]);
  Atomics.store(c, 0, 0);
  Atomics.notify(c, 0);
}
`;

/**
 * The arguments of kernels.c's `bmm`: byte offsets a, b, c (and bias), sizes, A's element strides, the
 * packed B panels and A scratch (0: not packed), the residual flag and R − C in floats.
 */
export type BmmArgs = [
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
  bp: number,
  aq: number,
  hasRes: number,
  resDelta: number,
];
export type BmmFn = (...args: BmmArgs) => void;

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
  run(bmm: BmmFn, args: BmmArgs): void {
    const [a, b, c, G, M, K, P, sam] = args;
    const bp = args[11];
    const P8 = P & ~7;
    // offsets of matrix g in a, b (0 stays 0: no unpacked B), c and the packed panels bp (0: none)
    const at = (g: number): [number, number, number, number] => [
      a + 4 * g * M * K,
      b && b + 4 * g * K * P,
      c + 4 * g * M * P,
      bp && bp + 4 * g * K * P8,
    ];
    const n = this.parts;
    if (n < 2 || G * M * K * P < MIN_SPLIT_MACS) {
      bmm(...args);
      return;
    }
    // each part: [a, b, c, G, M, …, bp] of the whole call's args
    const parts: BmmArgs[] = [];
    const part = ([pa, pb, pc, pbp]: [number, number, number, number], pG: number, pM: number): BmmArgs => {
      const q = args.slice() as BmmArgs;
      q[0] = pa;
      q[1] = pb;
      q[2] = pc;
      q[3] = pG;
      q[4] = pM;
      q[11] = pbp;
      // packed A: part j packs into its own scratch block (aq holds one block per thread)
      if (q[12]) q[12] = args[12] + 4 * PACK_A_FLOATS * parts.length;
      return q;
    };
    if (G >= n) {
      for (let i = 0; i < n; i++) {
        const g0 = Math.floor((G * i) / n);
        const g1 = Math.floor((G * (i + 1)) / n);
        if (g1 > g0) parts.push(part(at(g0), g1 - g0, M));
      }
      this.dispatch(bmm, parts);
      return;
    }
    // G < n: one matrix at a time, its rows split in multiples of 4 (the kernel's tile height)
    const quads = Math.ceil(M / 4);
    for (let g = 0; g < G; g++) {
      const [ga, gb, gc, gbp] = at(g);
      parts.length = 0;
      for (let i = 0; i < n; i++) {
        const m0 = Math.min(M, 4 * Math.floor((quads * i) / n));
        const m1 = Math.min(M, 4 * Math.floor((quads * (i + 1)) / n));
        if (m1 > m0) parts.push(part([ga + 4 * m0 * sam, gb, gc + 4 * m0 * P, gbp], 1, m1 - m0));
      }
      this.dispatch(bmm, parts);
    }
  }

  /** Part 0 on this thread, the others posted to helpers 0, 1, …; returns when all are done. */
  private dispatch(bmm: BmmFn, parts: BmmArgs[]): void {
    const c = this.ctrl;
    for (let j = 1; j < parts.length; j++) {
      const o = (j - 1) * SLOTS;
      c.set(parts[j], o + 1);
      Atomics.store(c, o, 1);
      Atomics.notify(c, o);
      this.posted++;
    }
    bmm(...parts[0]);
    for (let j = 1; j < parts.length; j++) {
      const o = (j - 1) * SLOTS;
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
