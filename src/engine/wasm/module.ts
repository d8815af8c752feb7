/**
 * The SIMD module of simd/kernels.c on tfjs's wasm backend: loading it onto tfjs's own memory, its
 * exports as TypeScript sees them, the helper threads of the threaded build, and the kernels' kept
 * scratch. Also the small accessors every kernel uses (tensor pointers and heap views).
 */
import v8 from "node:v8";
import * as tf from "@tensorflow/tfjs";
import { type BmmArgs, BmmHelpers } from "../simd/helpers.js";
import {
  KERNELS_WASM_BASE64,
  KERNELS_WASM_RELAXED_BASE64,
  KERNELS_WASM_SHARED_BASE64,
  KERNELS_WASM_SHARED_RELAXED_BASE64,
} from "../simd/kernels-wasm.js";
import { engineFlags, onEngineFlags } from "./flags.js";

export const BACKEND = "wasm";

interface HeapData {
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
export interface WasmBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  dataIdMap: { get(dataId: object): HeapData };
  wasm: { HEAPU8: Uint8Array; asm?: Record<string, unknown>; wasmMemory?: unknown };
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

export type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  attrs?: Record<string, unknown>;
  backend: unknown;
};

export type KernelFn = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Float32 view of a tensor's data (call after every makeOutput: the heap may have grown). */
export function f32(b: WasmBackend, t: tf.TensorInfo): Float32Array {
  return b.typedArrayFromHeap(t);
}

/** Byte offset of a tensor's data in the wasm memory. */
export function ptr(b: WasmBackend, t: tf.TensorInfo): number {
  return b.dataIdMap.get(t.dataId).memoryOffset;
}

/** [B, N, T, h, d, scale0] of a heads_split / heads_merge call. */
export type HeadsGeometry = [number, number, number, number, number, number];

/** [B, H, W, C, k, s, p, Ho, Wo] of an im2col / col2im call. */
export type Im2colGeometry = [number, number, number, number, number, number, number, number, number];

/** The exports of simd/kernels.c (pointers are byte offsets into tfjs's wasm memory). */
export interface Simd {
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

/**
 * Every export of `Simd` with its parameter count, checked by the compiler against the interface above
 * and by test/engine/kernels-artefact.test.ts against the committed modules (names both ways, arity).
 */
export const SIMD_EXPORT_ARITY: { readonly [K in keyof Simd]: Parameters<Simd[K]>["length"] } = {
  gelu: 3,
  gelu_with_deriv: 4,
  layer_norm: 9,
  layer_norm_grad: 10,
  col_sum: 4,
  mean_mid: 5,
  adamw: 14,
  swap_axes: 6,
  softmax: 4,
  heads_split: 10,
  heads_merge: 10,
  im2col: 11,
  col2im: 11,
  softmax_grad: 5,
  bmm: 15,
  attention: 10,
  pack_b: 6,
};

/** The WebAssembly API (the project's TypeScript lib settings do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

/** The four committed builds of simd/kernels.c: {own, shared memory} × {plain SIMD, relaxed SIMD}. */
export function kernelModuleBytes(shared: boolean, relaxed: boolean): Buffer {
  const b64 = shared
    ? relaxed
      ? KERNELS_WASM_SHARED_RELAXED_BASE64
      : KERNELS_WASM_SHARED_BASE64
    : relaxed
      ? KERNELS_WASM_RELAXED_BASE64
      : KERNELS_WASM_BASE64;
  return Buffer.from(b64, "base64");
}

/** undefined: not tried since the last reset; null: unavailable (the JavaScript loops run). */
let simdModule: Simd | null | undefined;
let simdFlavour: "relaxed" | "plain" | null = null;
let helpers: BmmHelpers | null = null;

/** Forget the instantiated module: the next kernel call instantiates it again from the flags. */
onEngineFlags((patch, before) => {
  if (
    patch.simd === false ||
    (patch.fma !== undefined && patch.fma !== before.fma) ||
    (patch.kernelThreads !== undefined && patch.kernelThreads !== before.kernelThreads)
  ) {
    simdModule = undefined;
  }
});

/**
 * Whether this runtime accepts relaxed SIMD (f32x4.relaxed_madd). Node ≥ 22 does by default; Node 20's
 * V8 has it behind `--experimental-wasm-relaxed-simd`, a flag that only gates which modules validate,
 * so it is switched on here (once, before compiling) when the relaxed module does not validate as is.
 */
export function relaxedSimdAvailable(bytes: Uint8Array): boolean {
  if (WebAssembly.validate(bytes)) return true;
  try {
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/**
 * The SIMD module instantiated on tfjs's own WebAssembly.Memory (so it reads and writes tensors in
 * place): the single-threaded build exports its memory (`asm.memory`), the threaded build imports a
 * shared one (`wasmMemory`), for which the module is built with shared memory. The relaxed-SIMD build
 * (fused multiply-add in the products) where the runtime accepts it and the `fma` flag is on, the plain
 * SIMD build otherwise. Null where the `simd` flag is off, neither memory is reachable or instantiation
 * fails: then the kernels' JavaScript fallbacks run.
 */
export function simd(b: WasmBackend): Simd | null {
  if (!engineFlags.simd) return null;
  if (simdModule === undefined) {
    simdModule = null;
    simdFlavour = null;
    try {
      const memory = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
      if (memory instanceof WebAssembly.Memory) {
        const shared = b.wasm.HEAPU8.buffer instanceof SharedArrayBuffer;
        const relaxed = kernelModuleBytes(shared, true);
        const useRelaxed = engineFlags.fma && relaxedSimdAvailable(relaxed);
        const bytes = useRelaxed ? relaxed : kernelModuleBytes(shared, false);
        const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        simdModule = inst.exports as unknown as Simd;
        simdFlavour = useRelaxed ? "relaxed" : "plain";
        void helpers?.close();
        const threads = engineFlags.kernelThreads;
        helpers = shared && threads > 1 ? new BmmHelpers(memory, bytes, threads) : null;
      }
    } catch {
      simdModule = null;
    }
  }
  return simdModule;
}

/** The build of the last instantiated module ("relaxed" | "plain"; null: none). */
export function loadedSimdFlavour(): "relaxed" | "plain" | null {
  return simdFlavour;
}

/** The helper threads of the last instantiated module (null: none, the products run on one thread). */
export function bmmHelpers(): BmmHelpers | null {
  return helpers;
}

/**
 * The kernels' scratch (packed product operands, attention's per-head buffers): one block per backend,
 * kept between calls and grown to the largest request, instead of a fresh allocation per call, which
 * can be memory the pass has not touched lately. Kernel calls never overlap, so one block serves them
 * all. Returns its byte offset; call it after the kernel's makeOutput calls (the heap may grow here).
 */
const scratches = new WeakMap<WasmBackend, { info: tf.TensorInfo; floats: number }>();
export function scratch(be: WasmBackend, floats: number): number {
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
