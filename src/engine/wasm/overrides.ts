/**
 * Replacements for stock tfjs-backend-wasm kernels that are slow for what psvit does with them. Same
 * results as the stock kernels (tested bit for bit); anything they do not cover is handed to the stock
 * kernel. docs/ENGINE.md has the measurements.
 *
 * - `Identity`: stock copies the tensor; here it shares the buffer (reference count, as the cpu backend
 *   and wasm's own Reshape do). tfjs clones every tensor it saves for backward, so this removes a copy
 *   per saved tensor.
 * - `Slice`: stock reads the whole input into a fresh JS array (`readSync`) before copying the slice;
 *   here the rows are copied heap to heap.
 * - `Sum` over leading axes (bias and LayerNorm parameter gradients, `[rows, D] → [D]`): stock
 *   transposes first, then reduces; here one pass of column sums.
 * - `Mean` over one contiguous group of axes (the head's mean over tokens): the same, per leading index.
 * - `Transpose` when the permutation swaps two adjacent groups of axes (every rank-2 transpose, the
 *   attention layouts): 4×4 SIMD tiles. Registered only with the `transposeOverride` flag (default off,
 *   see flags.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { colSumJs, meanMidJs } from "./fallback.js";
import { engineFlags } from "./flags.js";
import { BACKEND, f32, type KernelArgs, ptr, simd, size, type WasmBackend } from "./module.js";

const stock = new Map<string, tf.KernelConfig>();
const overrides = new Map<string, tf.KernelConfig>();

function callStock(name: string, args: KernelArgs): tf.TensorInfo {
  const cfg = stock.get(name);
  if (!cfg) throw new Error(`wasm-kernels: no stock ${name} kernel`);
  return cfg.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

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

/** `Sum` over a prefix of the axes (not all of them): column sums. Other axes: the stock kernel. */
function sum(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  if (x.dtype !== "float32" || rank < 2) return callStock("Sum", args);
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, c) => a - c);
  const k = axes.length;
  if (k === 0 || k === rank || axes.some((a, i) => a !== i)) return callStock("Sum", args);
  const outer = size(x.shape.slice(0, k));
  const inner = size(x.shape.slice(k));
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(outShape, "float32");
  const sm = simd(b);
  if (sm) sm.col_sum(ptr(b, x), ptr(b, out), outer, inner);
  else colSumJs(f32(b, x), f32(b, out), outer, inner);
  return out;
}

/**
 * `Mean` over one contiguous group of axes that is not all of them — x as [A, R, C], R reduced (the
 * head's mean over tokens, [B, N, D] → [B, D]): stock transposes the reduced axes to the end first;
 * here one pass of column sums per leading index. Other axes: the stock kernel.
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
  if (sm) sm.mean_mid(ptr(b, x), ptr(b, out), A, R, C);
  else meanMidJs(f32(b, x), f32(b, out), A, R, C);
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

/** `Transpose` swapping two adjacent axis groups, on the SIMD module only (else: the stock kernel). */
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

const OVERRIDES: [string, (a: KernelArgs) => tf.TensorInfo][] = [
  ["Identity", identity],
  ["Slice", slice],
  ["Sum", sum],
  ["Mean", mean],
  ["Transpose", transpose],
];

/**
 * Keep the stock kernels the overrides replace (and fall back to), and build the overrides' configs
 * from them. Returns how many stock kernels were found: 0 when tfjs-backend-wasm is not loaded yet.
 */
export function captureStockKernels(): number {
  for (const [name, fn] of OVERRIDES) {
    const orig = tf.getKernel(name, BACKEND);
    if (!orig) continue; // tfjs-backend-wasm not loaded: nothing to replace
    stock.set(name, orig);
    overrides.set(name, { ...orig, kernelFunc: fn as unknown as tf.KernelFunc });
  }
  return stock.size;
}

function swapIn(name: string, cfg: tf.KernelConfig): void {
  if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
  tf.registerKernel(cfg);
}

/** Register each override or its stock kernel, as the `fastKernels` and `transposeOverride` flags say. */
export function applyOverrides(): void {
  for (const [name, cfg] of overrides) {
    const on = engineFlags.fastKernels && (name !== "Transpose" || engineFlags.transposeOverride);
    swapIn(name, on ? cfg : (stock.get(name) as tf.KernelConfig));
  }
}
