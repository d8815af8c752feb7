/**
 * psvit's own kernels for the tfjs `wasm` backend, registered with `tf.registerKernel` for that backend
 * only. They work on tensors in place in the wasm module's memory: either through a second WebAssembly
 * module (simd/kernels.c, 128-bit SIMD, instantiated on tfjs's own WebAssembly.Memory, so pointers are
 * the tensors' heap offsets) or, where that memory cannot be reached (the threaded build imports a
 * shared memory), through JavaScript loops over Float32Array views of the heap. docs/ENGINE.md has the
 * measurements.
 *
 * - overrides of stock wasm kernels that are slow for what psvit does with them:
 *   - `Identity`: stock copies the tensor; here it shares the buffer (reference count, as the cpu
 *     backend and wasm's own Reshape do). tfjs clones every tensor it saves for backward, so this
 *     removes ≈ 1000 copies per training step.
 *   - `Slice`: stock reads the whole input into a fresh JS array (`readSync`) before copying the
 *     slice; here the rows are copied heap to heap.
 *   - `Sum` over leading axes (bias and LayerNorm parameter gradients, `[rows, D] → [D]`): stock
 *     transposes first, then reduces; here one pass of column sums. Other axes: the stock kernel.
 *   - `Mean` over one contiguous group of axes (the head's mean over tokens): the same, per leading
 *     index.
 *   - `Transpose` when the permutation swaps two adjacent groups of axes (every rank-2 transpose, the
 *     attention layouts): 4×4 SIMD tiles. Other permutations: the stock kernel. OFF by default
 *     (`setWasmTransposeOverride`), see below.
 * - fused kernels the ops of ops.ts / bmm.ts / adamw.ts call through `tf.engine().runKernel`:
 *   - `PsvitBmm`: batched product op(a)·op(b) (+ bias) with 4×8 register tiles (attention products,
 *     and all of `linear`'s products, where it beats XNNPACK's per-call weight packing); on the
 *     threaded build split over helper threads (simd/helpers.ts);
 *   - `PsvitGelu` (inference) and `PsvitGeluTrain` → [y, Φ(x) + x·φ(x)] (backward is one multiply);
 *     Φ from erf by Abramowitz–Stegun 7.1.26 (|error| < 1e-7) in SIMD, from erfc with relative error
 *     < 1.2e-7 in the JavaScript fallback;
 *   - `PsvitLayerNorm` → [y, mean − x₀, rstd] (x₀ a row's first element: sums over x − x₀ keep a large
 *     mean's precision) and `PsvitLayerNormGrad` → [dx, dγ, dβ];
 *   - `PsvitAdamW`: one decoupled-decay Adam update of one variable → [p, m, v].
 *   - `PsvitSoftmax` / `PsvitSoftmaxGrad`: softmax over the last axis and its gradient;
 *   - `PsvitIm2col` / `PsvitCol2im`: conv2d pooling's windows as rows, and their gradient;
 *   - `PsvitHeadsSplit` / `PsvitHeadsMerge`: attention's qkv → per-head q (scaled), k, v and back
 *     (each the other's gradient, registered with tf.registerGradient).
 * The SIMD module comes in a relaxed-SIMD build (fused multiply-adds) used where the runtime accepts it.
 *
 * `setWasmFastKernels(false)` puts the stock kernels back and makes the ops use their plain tfjs
 * formulation (A/B measurements, tests); `setWasmSimdKernels(false)` forces the JavaScript loops. On
 * every other backend the ops keep their tfjs formulation.
 */
import v8 from "node:v8";
import * as tf from "@tensorflow/tfjs";
import { type BmmArgs, BmmHelpers, PACK_A_FLOATS } from "./simd/helpers.js";
import {
  KERNELS_WASM_BASE64,
  KERNELS_WASM_RELAXED_BASE64,
  KERNELS_WASM_SHARED_BASE64,
  KERNELS_WASM_SHARED_RELAXED_BASE64,
} from "./simd/kernels-wasm.js";

interface HeapData {
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  dataIdMap: { get(dataId: object): HeapData };
  wasm: { HEAPU8: Uint8Array; asm?: Record<string, unknown>; wasmMemory?: unknown };
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  attrs?: Record<string, unknown>;
  backend: unknown;
};

const BACKEND = "wasm";
let enabled = true;
let installed = false;
const stock = new Map<string, tf.KernelConfig>();
const overrides = new Map<string, tf.KernelConfig>();

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Float32 view of a tensor's data (call after every makeOutput: the heap may have grown). */
function f32(b: WasmBackend, t: tf.TensorInfo): Float32Array {
  return b.typedArrayFromHeap(t);
}

/** The exports of simd/kernels.c (pointers are byte offsets into tfjs's wasm memory). */
interface Simd {
  gelu(x: number, y: number, n: number): void;
  gelu_with_deriv(x: number, y: number, d: number, n: number): void;
  layer_norm(
    x: number,
    g: number,
    b: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    D: number,
    eps: number,
  ): void;
  layer_norm_grad(
    dy: number,
    x: number,
    g: number,
    mean: number,
    rstd: number,
    dx: number,
    dg: number,
    db: number,
    rows: number,
    D: number,
  ): void;
  col_sum(x: number, out: number, rows: number, cols: number): void;
  mean_mid(x: number, out: number, A: number, R: number, C: number): void;
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    po: number,
    mo: number,
    vo: number,
    n: number,
    keep: number,
    b1: number,
    b2: number,
    step: number,
    isb2: number,
    eps: number,
  ): void;
  swap_axes(x: number, y: number, A: number, R: number, C: number, I: number): void;
  softmax(x: number, y: number, rows: number, N: number): void;
  heads_split(x: number, o0: number, o1: number, o2: number, ...g: HeadsGeometry): void;
  heads_merge(i0: number, i1: number, i2: number, x: number, ...g: HeadsGeometry): void;
  im2col(x: number, out: number, ...geometry: Im2colGeometry): void;
  col2im(dcol: number, dx: number, ...geometry: Im2colGeometry): void;
  softmax_grad(dy: number, y: number, dx: number, rows: number, N: number): void;
  bmm(...args: BmmArgs): void;
  attention(
    x: number,
    probs: number,
    out: number,
    scratch: number,
    B: number,
    N: number,
    h: number,
    d: number,
    scale: number,
    compute: number,
  ): void;
  pack_b(b: number, bp: number, G: number, K: number, P: number, tb: number): void;
}

/** [B, N, T, h, d, scale0] of a heads_split / heads_merge call. */
type HeadsGeometry = [number, number, number, number, number, number];

/** [B, H, W, C, k, s, p, Ho, Wo] of an im2col / col2im call. */
type Im2colGeometry = [number, number, number, number, number, number, number, number, number];

/** The WebAssembly API (the project's TypeScript lib settings do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

let simdModule: Simd | null | undefined;
let simdEnabled = true;
let fmaEnabled = process.env.PSVIT_WASM_FMA !== "0";
let simdFlavour: "relaxed" | "plain" | null = null;
/** Threads for psvit's products on the threaded build (set by initBackend); helpers = threads − 1. */
let kernelThreads = 1;
let bmmThreadsEnabled = true;
let helpers: BmmHelpers | null = null;

/**
 * Whether this runtime accepts relaxed SIMD (f32x4.relaxed_madd). Node ≥ 22 does by default; Node 20's
 * V8 has it behind `--experimental-wasm-relaxed-simd`, a flag that only gates which modules validate,
 * so it is switched on here (once, before compiling) when the relaxed module does not validate as is.
 */
function relaxedSimdAvailable(bytes: Uint8Array): boolean {
  if (WebAssembly.validate(bytes)) return true;
  try {
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/**
 * The SIMD module of simd/kernels.c instantiated on tfjs's own WebAssembly.Memory (so it reads and
 * writes tensors in place): the single-threaded build exports its memory (`asm.memory`), the threaded
 * build imports a shared one (`wasmMemory`), for which the module is built with shared memory. The
 * relaxed-SIMD build (fused multiply-add in the products) where the runtime accepts it and
 * `PSVIT_WASM_FMA` is not 0, the plain SIMD build otherwise. Null where neither memory is reachable or
 * instantiation fails: then the JavaScript loops below run instead.
 */
function simd(b: WasmBackend): Simd | null {
  if (!simdEnabled) return null;
  if (simdModule === undefined) {
    simdModule = null;
    simdFlavour = null;
    try {
      const memory = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
      if (memory instanceof WebAssembly.Memory) {
        const shared = b.wasm.HEAPU8.buffer instanceof SharedArrayBuffer;
        const relaxed = Buffer.from(
          shared ? KERNELS_WASM_SHARED_RELAXED_BASE64 : KERNELS_WASM_RELAXED_BASE64,
          "base64",
        );
        const useRelaxed = fmaEnabled && relaxedSimdAvailable(relaxed);
        const bytes = useRelaxed
          ? relaxed
          : Buffer.from(shared ? KERNELS_WASM_SHARED_BASE64 : KERNELS_WASM_BASE64, "base64");
        const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        simdModule = inst.exports as unknown as Simd;
        simdFlavour = useRelaxed ? "relaxed" : "plain";
        void helpers?.close();
        helpers = shared && kernelThreads > 1 ? new BmmHelpers(memory, bytes, kernelThreads) : null;
      }
    } catch {
      simdModule = null;
    }
  }
  return simdModule;
}

/**
 * Threads for psvit's SIMD products when tfjs runs its threaded (shared-memory) build: `initBackend`
 * passes its thread count; the products then split over the main thread and `threads − 1` helper
 * workers (simd/helpers.ts). Takes effect when the module is next instantiated.
 */
export function setWasmKernelThreads(threads: number): void {
  if (threads !== kernelThreads) simdModule = undefined;
  kernelThreads = threads;
}

/** For A/B measurements and tests: split products over the helper threads (default on). */
export function setWasmBmmThreads(on: boolean): void {
  bmmThreadsEnabled = on;
}

/** Threads psvit's products run on now (1 unless the threaded build runs with helpers). */
export function wasmBmmThreads(): number {
  return wasmSimdLoaded() && helpers && bmmThreadsEnabled ? helpers.threads : 1;
}

/** Parts of products handed to helper threads so far (tests). */
export function wasmBmmHelperJobs(): number {
  return helpers?.posted ?? 0;
}

/** For tests and A/B: use (default) or skip the SIMD module (then the JavaScript loops run). */
export function setWasmSimdKernels(on: boolean): void {
  simdEnabled = on;
  if (!on) simdModule = undefined;
}

/**
 * For tests and A/B: prefer the relaxed-SIMD build with fused multiply-adds (default, unless
 * `PSVIT_WASM_FMA=0`) or the plain SIMD build. Takes effect at the next kernel call.
 */
export function setWasmFma(on: boolean): void {
  if (on !== fmaEnabled) simdModule = undefined;
  fmaEnabled = on;
}

/** Which build of the SIMD module runs: "relaxed" (fused multiply-add), "plain", or null (none loaded). */
export function wasmSimdFlavour(): "relaxed" | "plain" | null {
  return wasmSimdLoaded() ? simdFlavour : null;
}

/** Whether the SIMD module is in use on the current (wasm) backend (tests, logs). */
export function wasmSimdLoaded(): boolean {
  return wasmFastKernels() && simd(tf.backend() as unknown as WasmBackend) !== null;
}

/** Byte offset of a tensor's data in the wasm memory. */
function ptr(b: WasmBackend, t: tf.TensorInfo): number {
  return b.dataIdMap.get(t.dataId).memoryOffset;
}

/**
 * The kernels' scratch (packed product operands, attention's per-head buffers): one block per backend,
 * kept between calls and grown to the largest request, instead of a fresh allocation per call, which
 * can be memory the pass has not touched lately (a cold-cache microbenchmark of `[256, 192]·[192, 768]`:
 * 3.33 → 2.96 ms with the packed buffers and C warm; within noise over a whole forward pass, docs/ENGINE.md
 * "Round 4"). Kernel calls never overlap, so one block serves them all. Returns its byte offset; call it
 * after the kernel's makeOutput calls (the heap may grow here).
 */
const scratches = new WeakMap<WasmBackend, { info: tf.TensorInfo; floats: number }>();
function scratch(be: WasmBackend, floats: number): number {
  let s = scratches.get(be);
  if (!s || s.floats < floats) {
    if (s) be.disposeData(s.info.dataId);
    const n = Math.max(floats, s ? Math.ceil(s.floats * 1.5) : 0);
    s = { info: be.makeOutput([n], "float32"), floats: n };
    scratches.set(be, s);
  }
  return ptr(be, s.info);
}

/** For tests: the floats of the kept scratch of the current backend (0: none yet). */
export function wasmScratchFloats(): number {
  return scratches.get(tf.backend() as unknown as WasmBackend)?.floats ?? 0;
}

// ---------------------------------------------------------------- overrides of stock kernels

function identity(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  if (x.dtype === "string") return callStock("Identity", args);
  const b = args.backend as WasmBackend;
  b.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

function slice(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  if (x.dtype !== "float32" && x.dtype !== "int32") return callStock("Slice", args);
  const rank = x.shape.length;
  if (rank > 4 || rank === 0) return callStock("Slice", args);
  const { begin, size: sz } = args.attrs as { begin: number | number[]; size?: number | number[] };
  const [b0, s0] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, sz);
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(s0, x.dtype);
  const n = size(s0);
  if (n === 0) return out;
  // pad to rank 4 (leading 1s)
  const shp = [1, 1, 1, 1];
  const beg = [0, 0, 0, 0];
  const len = [1, 1, 1, 1];
  for (let i = 0; i < rank; i++) {
    shp[4 - rank + i] = x.shape[i];
    beg[4 - rank + i] = b0[i];
    len[4 - rank + i] = s0[i];
  }
  // merge the trailing dimensions that are taken whole into the innermost run
  const st2 = shp[3];
  const st1 = shp[2] * st2;
  const st0 = shp[1] * st1;
  const heap = new Int32Array(b.wasm.HEAPU8.buffer);
  const xo = b.dataIdMap.get(x.dataId).memoryOffset >> 2;
  let oo = b.dataIdMap.get(out.dataId).memoryOffset >> 2;
  const run = len[3];
  for (let i = 0; i < len[0]; i++) {
    for (let j = 0; j < len[1]; j++) {
      for (let k = 0; k < len[2]; k++) {
        const src = xo + (beg[0] + i) * st0 + (beg[1] + j) * st1 + (beg[2] + k) * st2 + beg[3];
        if (run >= 32) heap.copyWithin(oo, src, src + run);
        else for (let e = 0; e < run; e++) heap[oo + e] = heap[src + e];
        oo += run;
      }
    }
  }
  return out;
}

function sum(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  if (x.dtype !== "float32" || rank < 2) return callStock("Sum", args);
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, c) => a - c);
  // only a prefix of the axes (not all of them): column sums
  const k = axes.length;
  if (k === 0 || k === rank || axes.some((a, i) => a !== i)) return callStock("Sum", args);
  const outer = size(x.shape.slice(0, k));
  const inner = size(x.shape.slice(k));
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(outShape, "float32");
  const sm = simd(b);
  if (sm) {
    sm.col_sum(ptr(b, x), ptr(b, out), outer, inner);
    return out;
  }
  const xv = f32(b, x);
  const ov = f32(b, out);
  const acc = new Float64Array(inner);
  for (let r = 0; r < outer; r++) {
    const base = r * inner;
    for (let j = 0; j < inner; j++) acc[j] += xv[base + j];
  }
  ov.set(acc);
  return out;
}

/**
 * `Mean` over one contiguous group of axes that is not all of them — x as [A, R, C], R reduced (the
 * head's mean over tokens, [B, N, D] → [B, D]): stock transposes the reduced axes to the end first (0.3
 * ms of a 6 ms forward pass on the smallest fmnist-2d path); here one pass of column sums per leading
 * index. Other axes: the stock kernel.
 */
function mean(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  if (x.dtype !== "float32" || rank < 2) return callStock("Mean", args);
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, c) => a - c);
  const k = axes.length;
  if (k === 0 || k === rank || axes.some((a, i) => a !== axes[0] + i)) return callStock("Mean", args);
  const A = size(x.shape.slice(0, axes[0]));
  const R = size(axes.map((a) => x.shape[a]));
  const C = size(x.shape.slice(axes[0] + k));
  if (R === 0) return callStock("Mean", args);
  const outShape = x.shape.flatMap((n, i) => (axes.includes(i) ? (keepDims ? [1] : []) : [n]));
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(outShape, "float32");
  const sm = simd(b);
  if (sm) {
    sm.mean_mid(ptr(b, x), ptr(b, out), A, R, C);
    return out;
  }
  const xv = f32(b, x);
  const ov = f32(b, out);
  for (let a = 0; a < A; a++) {
    for (let j = 0; j < C; j++) {
      let acc = 0;
      for (let r = 0; r < R; r++) acc = Math.fround(acc + xv[(a * R + r) * C + j]);
      ov[a * C + j] = Math.fround(acc / R);
    }
  }
  return out;
}

/**
 * A permutation that swaps two adjacent groups of axes — [A…, R…, C…, I…] → [A…, C…, R…, I…] — as
 * (A, R, C, I) sizes; null for any other permutation.
 */
export function asAxisSwap(
  shape: readonly number[],
  perm: readonly number[],
): [number, number, number, number] | null {
  const n = perm.length;
  let a = 0;
  while (a < n && perm[a] === a) a++;
  let e = n;
  while (e > a && perm[e - 1] === e - 1) e--;
  if (e - a < 2) return null;
  // middle must be [s, s+1, …, e−1, a, a+1, …, s−1]
  const s = perm[a];
  if (s <= a || s >= e) return null;
  for (let i = a; i < e; i++) {
    const want = i - a < e - s ? s + (i - a) : a + (i - a - (e - s));
    if (perm[i] !== want) return null;
  }
  return [size(shape.slice(0, a)), size(shape.slice(a, s)), size(shape.slice(s, e)), size(shape.slice(e))];
}

function transpose(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const perm = (args.attrs as { perm: number[] }).perm;
  const sm = x.dtype === "float32" ? simd(b) : null;
  const swap = sm ? asAxisSwap(x.shape, perm) : null;
  if (!sm || !swap) return callStock("Transpose", args);
  const out = b.makeOutput(
    perm.map((p) => x.shape[p]),
    "float32",
  );
  if (size(x.shape) > 0) sm.swap_axes(ptr(b, x), ptr(b, out), swap[0], swap[1], swap[2], swap[3]);
  return out;
}

function callStock(name: string, args: KernelArgs): tf.TensorInfo {
  const cfg = stock.get(name);
  if (!cfg) throw new Error(`wasm-kernels: no stock ${name} kernel`);
  return cfg.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

// ---------------------------------------------------------------- GELU

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** 2^n for n in [−300, 99] (index n + 300), the scale step of `fexp`. */
const POW2 = new Float64Array(400).map((_, i) => 2 ** (i - 300));
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

/**
 * e^y for y in [−200, 60] with relative error < 1e-9 (range reduction y = n·ln2 + r, |r| ≤ ln2/2, and a
 * degree-8 Taylor polynomial): V8's Math.exp is a builtin call costing ≈ 3× this here.
 */
function fexp(y: number): number {
  const n = Math.floor(y * Math.LOG2E + 0.5);
  const r = y - n * LN2_HI - n * LN2_LO;
  const p =
    1 +
    r *
      (1 +
        r *
          (0.5 +
            r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (1 / 40320))))))));
  return p * POW2[n + 300];
}

/** Φ(x) = ½·erfc(−x/√2); erfc by Numerical Recipes' erfcc (fractional error < 1.2e-7). */
function normCdf(x: number): number {
  const zz = -x * SQRT1_2;
  const z = Math.abs(zz);
  if (z > 12) return zz > 0 ? 0 : 1; // erfc(12) < 1e-63
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    fexp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return 0.5 * (zz >= 0 ? r : 2 - r);
}

function geluKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) {
    sm.gelu(ptr(b, x), ptr(b, out), size(x.shape));
    return out;
  }
  const xv = f32(b, x);
  const ov = f32(b, out);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    ov[i] = v * normCdf(v);
  }
  return out;
}

/** GELU for training: [y, d] with d = Φ(x) + x·φ(x), so that backward is one multiply dy·d. */
function geluTrainKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const y = b.makeOutput(x.shape.slice(), "float32");
  const d = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) {
    sm.gelu_with_deriv(ptr(b, x), ptr(b, y), ptr(b, d), size(x.shape));
    return [y, d];
  }
  const xv = f32(b, x);
  const yv = f32(b, y);
  const dv = f32(b, d);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    const c = normCdf(v);
    const h = -0.5 * v * v;
    yv[i] = v * c;
    dv[i] = c + (h < -150 ? 0 : v * INV_SQRT_2PI * fexp(h));
  }
  return [y, d];
}

// ---------------------------------------------------------------- softmax

/** Softmax over the last axis (attention probabilities): one pass per row instead of 5 kernels. */
function softmaxKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const N = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / N;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) {
    sm.softmax(ptr(b, x), ptr(b, out), rows, N);
    return out;
  }
  const xv = f32(b, x);
  const yv = f32(b, out);
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let mx = xv[o];
    for (let i = 1; i < N; i++) mx = Math.max(mx, xv[o + i]);
    let sum = 0;
    for (let i = 0; i < N; i++) {
      const e = Math.exp(xv[o + i] - mx);
      yv[o + i] = e;
      sum += e;
    }
    for (let i = 0; i < N; i++) yv[o + i] /= sum;
  }
  return out;
}

/** Softmax's gradient: dx = y·(dy − Σ dy·y) per row (one kernel instead of 4). */
function softmaxGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, y } = args.inputs;
  const b = args.backend as WasmBackend;
  const N = y.shape[y.shape.length - 1];
  const rows = size(y.shape) / N;
  const out = b.makeOutput(y.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) {
    sm.softmax_grad(ptr(b, dy), ptr(b, y), ptr(b, out), rows, N);
    return out;
  }
  const dv = f32(b, dy);
  const yv = f32(b, y);
  const ov = f32(b, out);
  for (let r = 0; r < rows; r++) {
    const o = r * N;
    let sum = 0;
    for (let i = 0; i < N; i++) sum += dv[o + i] * yv[o + i];
    for (let i = 0; i < N; i++) ov[o + i] = yv[o + i] * (dv[o + i] - sum);
  }
  return out;
}

// ---------------------------------------------------------------- attention's head layout

/** JavaScript fallback of heads_split (merge = false) and heads_merge (merge = true). */
function headsJs(x: Float32Array, parts: Float32Array[], g: HeadsGeometry, merge: boolean): void {
  const [B, N, T, h, d, scale0] = g;
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let t = 0; t < T; t++) {
        const sc = t === 0 ? scale0 : 1;
        for (let hd = 0; hd < h; hd++) {
          const xo = (((b * N + n) * T + t) * h + hd) * d;
          const po = ((b * h + hd) * N + n) * d;
          const part = parts[t];
          if (merge) for (let j = 0; j < d; j++) x[xo + j] = part[po + j] * sc;
          else for (let j = 0; j < d; j++) part[po + j] = x[xo + j] * sc;
        }
      }
}

/**
 * `PsvitHeadsSplit`: x [B, N, T·h·d] → T tensors [B·h, N, d] (attrs T ≤ 3, heads, scale: group 0 is
 * multiplied by it — q by 1/√d). Its gradient is `PsvitHeadsMerge` and vice versa.
 */
function headsSplitKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x;
  const { T, heads, scale } = args.attrs as { T: number; heads: number; scale: number };
  const [B, N, W] = x.shape;
  const d = W / (T * heads);
  const be = args.backend as WasmBackend;
  const outs = Array.from({ length: T }, () => be.makeOutput([B * heads, N, d], "float32"));
  const g: HeadsGeometry = [B, N, T, heads, d, scale];
  const sm = simd(be);
  if (sm) {
    const p = outs.map((o) => ptr(be, o));
    sm.heads_split(ptr(be, x), p[0], p[1] ?? p[0], p[2] ?? p[0], ...g);
  } else {
    headsJs(
      f32(be, x),
      outs.map((o) => f32(be, o)),
      g,
      false,
    );
  }
  return outs;
}

/** `PsvitHeadsMerge`: T tensors [B·h, N, d] (inputs x0, x1, x2) → [B, N, T·h·d] (attrs T, heads, scale). */
function headsMergeKernel(args: KernelArgs): tf.TensorInfo {
  const { T, heads, scale } = args.attrs as { T: number; heads: number; scale: number };
  const ins = Array.from({ length: T }, (_, t) => args.inputs[`x${t}`]);
  const [G, N, d] = ins[0].shape;
  const B = G / heads;
  const be = args.backend as WasmBackend;
  const out = be.makeOutput([B, N, T * heads * d], "float32");
  const g: HeadsGeometry = [B, N, T, heads, d, scale];
  const sm = simd(be);
  if (sm) {
    const p = ins.map((i) => ptr(be, i));
    sm.heads_merge(p[0], p[1] ?? p[0], p[2] ?? p[0], ptr(be, out), ...g);
  } else {
    headsJs(
      f32(be, out),
      ins.map((i) => f32(be, i)),
      g,
      true,
    );
  }
  return out;
}

let headsGradsRegistered = false;

/** The two layout kernels are each other's gradient (registered once, backend-independent names). */
function registerHeadsGradients(): void {
  if (headsGradsRegistered) return;
  headsGradsRegistered = true;
  tf.registerGradient({
    kernelName: "PsvitHeadsSplit",
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dys = Array.isArray(dy) ? dy : [dy]; // one output (T = 1): a single tensor
      const inputs = Object.fromEntries(dys.map((t, i) => [`x${i}`, t]));
      return { x: () => runFused("PsvitHeadsMerge", inputs, attrs) as tf.Tensor };
    },
  });
  tf.registerGradient({
    kernelName: "PsvitHeadsMerge",
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const out = runFused("PsvitHeadsSplit", { x: dy as tf.Tensor }, attrs) as tf.Tensor | tf.Tensor[];
      const parts = Array.isArray(out) ? out : [out];
      return Object.fromEntries(parts.map((p, i) => [`x${i}`, () => p]));
    },
  });
}

// ---------------------------------------------------------------- im2col

function im2colGeometry(
  B: number,
  H: number,
  W: number,
  C: number,
  attrs: Record<string, unknown> | undefined,
): Im2colGeometry {
  const { k, s, p } = attrs as { k: number; s: number; p: number };
  const Ho = Math.floor((H + 2 * p - k) / s) + 1;
  const Wo = Math.floor((W + 2 * p - k) / s) + 1;
  return [B, H, W, C, k, s, p, Ho, Wo];
}

/** JavaScript fallback of kernels.c's im2col (scatter = false) and col2im (scatter = true). */
function im2colJs(src: Float32Array, dst: Float32Array, g: Im2colGeometry, scatter: boolean): void {
  const [B, H, W, C, k, s, p, Ho, Wo] = g;
  const kkc = k * k * C;
  if (scatter) dst.fill(0);
  for (let b = 0; b < B; b++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        const row = ((b * Ho + oy) * Wo + ox) * kkc;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - p + ky;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - p + kx;
            const o = row + (ky * k + kx) * C;
            const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
            const px = ((b * H + iy) * W + ix) * C;
            if (scatter) {
              if (inside) for (let c = 0; c < C; c++) dst[px + c] += src[o + c];
            } else {
              for (let c = 0; c < C; c++) dst[o + c] = inside ? src[px + c] : 0;
            }
          }
        }
      }
}

/** NHWC x [B, H, W, C] → [B, Ho, Wo, k·k·C], windows in (kh, kw, c) order, zero padding. */
function im2colKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const be = args.backend as WasmBackend;
  const [B, H, W, C] = x.shape;
  const g = im2colGeometry(B, H, W, C, args.attrs);
  const [, , , , k, , , Ho, Wo] = g;
  const out = be.makeOutput([B, Ho, Wo, k * k * C], "float32");
  const sm = simd(be);
  if (sm) sm.im2col(ptr(be, x), ptr(be, out), ...g);
  else im2colJs(f32(be, x), f32(be, out), g, false);
  return out;
}

/** im2col's gradient: dcol [B, Ho, Wo, k·k·C] summed back to [B, H, W, C] (attrs H, W: the input's). */
function col2imKernel(args: KernelArgs): tf.TensorInfo {
  const dcol = args.inputs.dy;
  const be = args.backend as WasmBackend;
  const { H, W } = args.attrs as { H: number; W: number };
  const [B, , , kkc] = dcol.shape;
  const { k } = args.attrs as { k: number };
  const g = im2colGeometry(B, H, W, kkc / (k * k), args.attrs);
  const out = be.makeOutput([B, H, W, g[3]], "float32");
  const sm = simd(be);
  if (sm) sm.col2im(ptr(be, dcol), ptr(be, out), ...g);
  else im2colJs(f32(be, dcol), f32(be, out), g, true);
  return out;
}

// ---------------------------------------------------------------- LayerNorm

function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs;
  const eps = (args.attrs as { eps: number }).eps;
  const b = args.backend as WasmBackend;
  const D = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / D;
  const y = b.makeOutput(x.shape.slice(), "float32");
  const mean = b.makeOutput([rows], "float32");
  const rstd = b.makeOutput([rows], "float32");
  const sm = simd(b);
  if (sm) {
    sm.layer_norm(
      ptr(b, x),
      ptr(b, gamma),
      ptr(b, beta),
      ptr(b, y),
      ptr(b, mean),
      ptr(b, rstd),
      rows,
      D,
      eps,
    );
    return [y, mean, rstd];
  }
  const xv = f32(b, x);
  const gv = f32(b, gamma);
  const bv = f32(b, beta);
  const yv = f32(b, y);
  const mv = f32(b, mean);
  const rv = f32(b, rstd);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    // as the SIMD kernel: sums over x − x[0], and `mean` holds the mean's offset from x[0]
    const x0 = xv[o];
    let s = 0;
    for (let i = 0; i < D; i++) s += xv[o + i] - x0;
    const mu = Math.fround(s / D);
    let q = 0;
    for (let i = 0; i < D; i++) {
      const c = xv[o + i] - x0 - mu;
      q += c * c;
    }
    const rs = 1 / Math.sqrt(q / D + eps);
    for (let i = 0; i < D; i++) yv[o + i] = (xv[o + i] - x0 - mu) * rs * gv[i] + bv[i];
    mv[r] = mu;
    rv[r] = rs;
  }
  return [y, mean, rstd];
}

function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, rstd } = args.inputs;
  const b = args.backend as WasmBackend;
  const D = x.shape[x.shape.length - 1];
  const rows = size(x.shape) / D;
  const dx = b.makeOutput(x.shape.slice(), "float32");
  const dg = b.makeOutput([D], "float32");
  const db = b.makeOutput([D], "float32");
  const sm = simd(b);
  if (sm) {
    const P = (t: tf.TensorInfo) => ptr(b, t);
    sm.layer_norm_grad(P(dy), P(x), P(gamma), P(mean), P(rstd), P(dx), P(dg), P(db), rows, D);
    return [dx, dg, db];
  }
  const dyv = f32(b, dy);
  const xv = f32(b, x);
  const gv = f32(b, gamma);
  const mv = f32(b, mean);
  const rv = f32(b, rstd);
  const dxv = f32(b, dx);
  const accG = new Float64Array(D);
  const accB = new Float64Array(D);
  const xh = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const mu = mv[r]; // the mean's offset from x[0] (layerNormKernel)
    const x0 = xv[o];
    const rs = rv[r];
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < D; i++) {
      const h = (xv[o + i] - x0 - mu) * rs;
      xh[i] = h;
      const d = dyv[o + i];
      const g = d * gv[i];
      sa += g;
      sb += g * h;
      accG[i] += d * h;
      accB[i] += d;
    }
    const a = sa / D;
    const c = sb / D;
    for (let i = 0; i < D; i++) dxv[o + i] = rs * (dyv[o + i] * gv[i] - a - xh[i] * c);
  }
  f32(b, dg).set(accG);
  f32(b, db).set(accB);
  return [dx, dg, db];
}

// ---------------------------------------------------------------- AdamW

interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  decay: number;
}

function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const { p, g, m, v } = args.inputs;
  const { lr, beta1, beta2, eps, bc1, bc2, decay } = args.attrs as unknown as AdamWAttrs;
  const b = args.backend as WasmBackend;
  const po = b.makeOutput(p.shape.slice(), "float32");
  const mo = b.makeOutput(p.shape.slice(), "float32");
  const vo = b.makeOutput(p.shape.slice(), "float32");
  const sm = simd(b);
  if (sm) {
    const P = (t: tf.TensorInfo) => ptr(b, t);
    const n = size(p.shape);
    sm.adamw(
      P(p),
      P(g),
      P(m),
      P(v),
      P(po),
      P(mo),
      P(vo),
      n,
      1 - decay,
      beta1,
      beta2,
      lr / bc1,
      1 / Math.sqrt(bc2),
      eps,
    );
    return [po, mo, vo];
  }
  const pv = f32(b, p);
  const gv = f32(b, g);
  const mv = f32(b, m);
  const vv = f32(b, v);
  const pov = f32(b, po);
  const mov = f32(b, mo);
  const vov = f32(b, vo);
  const keep = 1 - decay;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const step = lr / bc1;
  const isb2 = 1 / Math.sqrt(bc2);
  for (let i = 0; i < pv.length; i++) {
    const gi = gv[i];
    const mi = Math.fround(beta1 * mv[i] + c1 * gi);
    const vi = Math.fround(beta2 * vv[i] + c2 * gi * gi);
    mov[i] = mi;
    vov[i] = vi;
    pov[i] = pv[i] * keep - (step * mi) / (Math.sqrt(vi) * isb2 + eps);
  }
  return [po, mo, vo];
}

// ---------------------------------------------------------------- batched product

/**
 * `PsvitBmm`: op(a)·op(b) for a [G, M, K] (or [G, K, M] with ta), b [G, K, P] (or [G, P, K] with tb) →
 * [G, M, P] (rank-2 operands: one product, → [M, P]), on the SIMD module's 4×8-tiled loop. Optional
 * inputs: `bias` [P] (broadcast over rows, loaded where the accumulators start: `linear`'s bias add costs
 * no pass of its own) and `res` (a residual of the output's size, added as the last K block is stored).
 * A transposed `a` is read with strides; products with M ≥ 32 and P ≥ 48 get b's 8-column panels
 * packed first (from a transposed b directly) and a's row blocks packed per thread; otherwise a
 * transposed `b` is first turned into [G, K, P] (one swap, G·K·P copies against G·M·K·P multiply-adds).
 */
function bmmKernel(args: KernelArgs): tf.TensorInfo {
  const { a, b: bIn, bias, res } = args.inputs;
  const { ta, tb } = args.attrs as { ta: boolean; tb: boolean };
  const be = args.backend as WasmBackend;
  const sm = simd(be) as Simd; // callers check wasmBmmAvailable() first
  // rank 3 [G, ·, ·], or rank 2 (one matrix, G = 1)
  const r2 = a.shape.length === 2;
  const [G, a1, a2] = r2 ? [1, a.shape[0], a.shape[1]] : a.shape;
  const [b1, b2] = r2 ? bIn.shape : bIn.shape.slice(1);
  const M = ta ? a2 : a1;
  const K = ta ? a1 : a2;
  const P = tb ? b1 : b2;
  const out = be.makeOutput(r2 ? [M, P] : [G, M, P], "float32");
  if (G * M * P === 0) return out;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== P)) {
    throw new Error(`PsvitBmm: expected a bias of shape [${P}], got [${bias.shape.join(", ")}]`);
  }
  if (res && size(res.shape) !== G * M * P) {
    throw new Error(`PsvitBmm: expected a residual of ${G * M * P} elements, got [${res.shape.join(", ")}]`);
  }
  const P8 = P & ~7;
  const pack = packBEnabled && M >= PACK_MIN_M && P >= PACK_MIN_P;
  // a transposed b: packed straight from [G, P, K] when it has no column tail, else swapped to [G, K, P]
  const swapped = tb && !(pack && P8 === P) ? be.makeOutput([G, K, P], "float32") : null;
  if (swapped) sm.swap_axes(ptr(be, bIn), ptr(be, swapped), G, P, K, 1);
  let bt: tf.TensorInfo | null = swapped ?? bIn;
  // packed operands in the kernels' scratch: with packed A, each thread's block of MC·KB floats for A's
  // row blocks, then B's panels
  let bp = 0;
  let aq = 0;
  if (pack) {
    const aFloats = packAEnabled ? (helpers ? helpers.threads : 1) * PACK_A_FLOATS : 0;
    const base = scratch(be, aFloats + G * K * P8);
    if (packAEnabled) aq = base;
    bp = base + 4 * aFloats;
    const fromT = tb && !swapped; // packed straight from [G, P, K]
    sm.pack_b(ptr(be, bt as tf.TensorInfo), bp, G, K, P, fromT ? 1 : 0);
    if (fromT) bt = null; // every column is in the packed panels (P8 = P)
  }
  const call: BmmArgs = [
    ptr(be, a),
    bt ? ptr(be, bt) : 0,
    ptr(be, out),
    G,
    M,
    K,
    P,
    ta ? 1 : K,
    ta ? M : 1,
    bias ? ptr(be, bias) : 0,
    bias ? 1 : 0,
    bp,
    aq,
    res ? 1 : 0,
    res ? (ptr(be, res) - ptr(be, out)) / 4 : 0,
  ];
  if (helpers && bmmThreadsEnabled) helpers.run(sm.bmm, call);
  else sm.bmm(...call);
  if (swapped) be.disposeData(swapped.dataId);
  return out;
}

/**
 * Pack B's 8-column panels (kernels.c `pack_b`) and A's row blocks before the product when the copies
 * repay: M ≥ 32 rows use each panel, and P ≥ 48 columns (6 panels or more) reuse each packed row block.
 * Measured per shape (packed / in place, same buffers alternating): `[4096, 48]·[48, 48]` + residual
 * 1.31–1.33×, `[4096, 16]·[16, 48]` 1.07–1.10×, 128 × `[64, 24]·[24, 64]` 1.46×; with fewer columns
 * packing loses (128 × `[64, 64]·[64, 24]` 0.91×, 256 × `[16, 24]·[24, 16]` 0.80×, `[64, 192]·[192, 10]`
 * 0.90×). (Until round 4 the rule was K·P ≥ 4096, which left stage 1's `proj` in place.)
 */
const PACK_MIN_M = 32;
const PACK_MIN_P = 48;
let packBEnabled = true;

let packAEnabled = true;
let inferenceBypass = true;

/**
 * For A/B measurements and tests: outside gradient recording, run the fused kernels without their
 * tf.customGrad wrappers (default on).
 */
export function setInferenceBypass(on: boolean): void {
  inferenceBypass = on;
}

/**
 * Whether a fused op must go through its tf.customGrad wrapper: only while gradients are recorded.
 * Outside (inference: eval, search, predict) the wrapper's scope and saved tensors are pure overhead —
 * ≈ 300 wrappers per forward pass of the largest fmnist-2d path.
 */
export function customGradNeeded(): boolean {
  return !inferenceBypass || (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

let residualEnabled = true;

/** For A/B measurements and tests: `linear`'s residual added inside the product (default on). */
export function setWasmFusedResidual(on: boolean): void {
  residualEnabled = on;
}

/** Whether `linear(x, w, b, residual)` adds the residual inside the SIMD product. */
export function wasmFusedResidual(): boolean {
  return residualEnabled;
}

/** For A/B measurements and tests: pack B's panels for large products (default on). */
export function setWasmPackB(on: boolean): void {
  packBEnabled = on;
}

/** For A/B measurements and tests: with B packed, pack A's row blocks too (default on). */
export function setWasmPackA(on: boolean): void {
  packAEnabled = on;
}

let bmmEnabled = true;
let linearEnabled = true;

/** For A/B measurements and tests: `linear`'s products on the SIMD kernel (default on). */
export function setWasmLinear(on: boolean): void {
  linearEnabled = on;
}

/** True when `linear` should issue its forward and input-gradient products as PsvitBmm. */
export function wasmLinearAvailable(): boolean {
  return linearEnabled && wasmBmmAvailable();
}

let simdWeightGrad = true;

/**
 * For A/B measurements and tests: `linear`'s weight gradient Xᵀ·dY on the SIMD kernel (X read
 * transposed with strides, K in blocks of 256) instead of transpose + XNNPACK (default on: 1.37× per
 * training step with the relaxed-SIMD build, docs/ENGINE.md).
 */
export function setWasmSimdWeightGrad(on: boolean): void {
  simdWeightGrad = on;
}

/** True when `linear`'s weight gradient should run as PsvitBmm with a transposed left operand. */
export function wasmSimdWeightGrad(): boolean {
  return simdWeightGrad && wasmLinearAvailable();
}

/** For A/B measurements and tests: the SIMD batched product for attention (default on). */
export function setWasmBmm(on: boolean): void {
  bmmEnabled = on;
}

/** True when `bmm` should run as the PsvitBmm kernel (wasm, fast kernels on, SIMD module loaded). */
export function wasmBmmAvailable(): boolean {
  if (!bmmEnabled || !wasmFastKernels()) return false;
  return simd(tf.backend() as unknown as WasmBackend) !== null;
}

// ---------------------------------------------------------------- fused attention (inference)

/**
 * `PsvitAttention` (inference only: no gradient): inputs { x: qkv [B, N, 3·D] } → [out [B, N, D],
 * probs [B, h, N, N]] (softmax(q·kᵀ/√d), then ·v), or { x: v [B, N, D], probs } → out (a reuse layer).
 * attrs: heads. One kernel per layer (kernels.c `attention`): q, k, v read in place, heads merged on the
 * way out; the SIMD module only (callers check wasmAttentionAvailable()).
 */
function attentionKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { x, probs: given } = args.inputs;
  const { heads } = args.attrs as { heads: number };
  const be = args.backend as WasmBackend;
  const sm = simd(be) as Simd;
  const compute = !given;
  const [B, N, W] = x.shape;
  const D = compute ? W / 3 : W;
  const d = D / heads;
  if (!Number.isInteger(d)) {
    throw new Error(`PsvitAttention: width ${W} does not split into ${compute ? "3 × " : ""}${heads} heads`);
  }
  if (given && (given.shape.length !== 4 || given.shape.join() !== [B, heads, N, N].join())) {
    throw new Error(`PsvitAttention: expected probs [${[B, heads, N, N]}], got [${given.shape}]`);
  }
  const out = be.makeOutput([B, N, D], "float32");
  const probs = given ?? be.makeOutput([B, heads, N, N], "float32");
  sm.attention(
    ptr(be, x),
    ptr(be, probs),
    ptr(be, out),
    scratch(be, 3 * N * d + N * N), // kernels.c attention: the packed path needs the N·N too
    B,
    N,
    heads,
    d,
    1 / Math.sqrt(d),
    compute ? 1 : 0,
  );
  return compute ? [out, probs] : out;
}

let attentionEnabled = true;

/** For A/B measurements and tests: inference attention as one fused kernel (default on). */
export function setWasmFusedAttention(on: boolean): void {
  attentionEnabled = on;
}

/** True when inference attention can run as the PsvitAttention kernel (wasm, SIMD module loaded). */
export function wasmAttentionAvailable(): boolean {
  return attentionEnabled && wasmBmmAvailable();
}

// ---------------------------------------------------------------- registration

/** psvit's own kernels on wasm: name → kernel function. */
const FUSED_KERNELS: [string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]][] = [
  ["PsvitGeluTrain", geluTrainKernel],
  ["PsvitGelu", geluKernel],
  ["PsvitLayerNorm", layerNormKernel],
  ["PsvitLayerNormGrad", layerNormGradKernel],
  ["PsvitAdamW", adamwKernel],
  ["PsvitSoftmax", softmaxKernel],
  ["PsvitIm2col", im2colKernel],
  ["PsvitHeadsSplit", headsSplitKernel],
  ["PsvitHeadsMerge", headsMergeKernel],
  ["PsvitCol2im", col2imKernel],
  ["PsvitSoftmaxGrad", softmaxGradKernel],
  ["PsvitBmm", bmmKernel],
  ["PsvitAttention", attentionKernel],
];

const FUSED: tf.KernelConfig[] = FUSED_KERNELS.map(([kernelName, f]) => ({
  kernelName,
  backendName: BACKEND,
  kernelFunc: f as unknown as tf.KernelFunc,
}));

const OVERRIDES: [string, (a: KernelArgs) => tf.TensorInfo][] = [
  ["Identity", identity],
  ["Slice", slice],
  ["Sum", sum],
  ["Mean", mean],
  ["Transpose", transpose],
];

function swapIn(name: string, cfg: tf.KernelConfig): void {
  if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
  tf.registerKernel(cfg);
}

function install(): void {
  if (installed) return;
  for (const [name, fn] of OVERRIDES) {
    const orig = tf.getKernel(name, BACKEND);
    if (!orig) continue; // tfjs-backend-wasm not loaded: nothing to replace
    stock.set(name, orig);
    overrides.set(name, { ...orig, kernelFunc: fn as unknown as tf.KernelFunc });
  }
  if (stock.size === 0) return;
  for (const cfg of FUSED) if (!tf.getKernel(cfg.kernelName, BACKEND)) tf.registerKernel(cfg);
  registerHeadsGradients();
  installed = true;
  applyOverrides();
}

/**
 * The Transpose override is OFF by default: an A/B harness that switched the whole engine between the
 * old and the new formulation 14 times in one process aborted in the wasm allocator with it, and ran
 * through without it (docs/ENGINE.md, "Known issue"). Kept, tested, for the investigation.
 */
let transposeOverride = false;

/** Turn the Transpose override on or off (default off; see above). */
export function setWasmTransposeOverride(on: boolean): void {
  transposeOverride = on;
  if (installed) applyOverrides();
}

function applyOverrides(): void {
  for (const [name, cfg] of overrides) {
    const on = enabled && (name !== "Transpose" || transposeOverride);
    swapIn(name, on ? cfg : (stock.get(name) as tf.KernelConfig));
  }
}

/**
 * True when the current backend is wasm and the fast kernels are on (installing them on first use;
 * the wasm backend package must be loaded by then, which initBackend does).
 */
export function wasmFastKernels(): boolean {
  if (!enabled || tf.getBackend() !== BACKEND) return false;
  if (!installed) install();
  return installed;
}

/** Turn the kernels of this file on or off (A/B measurements, tests). Default on. */
export function setWasmFastKernels(on: boolean): void {
  enabled = on;
  if (installed) applyOverrides();
  else if (on && tf.getBackend() === BACKEND) install();
}

/** Run one of the fused kernels of this file (the caller checked `wasmFastKernels()`). */
export function runFused(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
) {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
}
