/**
 * Kernels written in JavaScript over the wasm backend's heap (Float32Array views on the module's
 * memory, no copies in or out), registered with `tf.registerKernel` for the `wasm` backend only:
 *
 * - overrides of three stock wasm kernels that are slow for what psvit does with them:
 *   - `Identity`: stock copies the tensor; here it shares the buffer (reference count, as the cpu
 *     backend and wasm's own Reshape do). tfjs clones every tensor it saves for backward, so this
 *     removes ≈ 1000 copies per training step.
 *   - `Slice`: stock reads the whole input into a fresh JS array (`readSync`) before copying the
 *     slice; here the rows are copied heap to heap.
 *   - `Sum` over leading axes (bias and LayerNorm parameter gradients, `[rows, D] → [D]`): stock
 *     transposes first, then reduces; here one pass of column sums. Other axes: the stock kernel.
 * - fused kernels the ops of ops.ts / adamw.ts call through `tf.engine().runKernel` when the backend
 *   is wasm (each replaces 5–12 tfjs kernels and their memory passes):
 *   - `PsvitGelu` / `PsvitGeluGrad`: exact GELU x·Φ(x) and dy·(Φ(x) + x·φ(x)), Φ from erfc with
 *     relative error < 1.2e-7 (Numerical Recipes' Chebyshev fit), arithmetic in float64;
 *   - `PsvitLayerNorm` → [y, mean, rstd] and `PsvitLayerNormGrad` → [dx, dγ, dβ];
 *   - `PsvitAdamW`: one decoupled-decay Adam update of one variable → [p, m, v].
 *
 * `setWasmFastKernels(false)` puts the stock kernels back and makes the ops use their plain tfjs
 * formulation (A/B measurements, tests). The fused kernels exist only for wasm; on every other backend
 * the ops keep their tfjs formulation.
 */
import * as tf from "@tensorflow/tfjs";

interface HeapData {
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  dataIdMap: { get(dataId: object): HeapData };
  wasm: { HEAPU8: Uint8Array };
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

function callStock(name: string, args: KernelArgs): tf.TensorInfo {
  const cfg = stock.get(name);
  if (!cfg) throw new Error(`wasm-kernels: no stock ${name} kernel`);
  return cfg.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

// ---------------------------------------------------------------- GELU

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Φ(x) = ½·erfc(−x/√2); erfc by Numerical Recipes' erfcc (fractional error < 1.2e-7). */
function normCdf(x: number): number {
  const zz = -x * SQRT1_2;
  const z = Math.abs(zz);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
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
                        t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return 0.5 * (zz >= 0 ? r : 2 - r);
}

function geluKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const xv = f32(b, x);
  const ov = f32(b, out);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    ov[i] = v * normCdf(v);
  }
  return out;
}

function geluGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs;
  const b = args.backend as WasmBackend;
  const out = b.makeOutput(x.shape.slice(), "float32");
  const xv = f32(b, x);
  const dv = f32(b, dy);
  const ov = f32(b, out);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    ov[i] = dv[i] * (normCdf(v) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
  }
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
  const xv = f32(b, x);
  const gv = f32(b, gamma);
  const bv = f32(b, beta);
  const yv = f32(b, y);
  const mv = f32(b, mean);
  const rv = f32(b, rstd);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    for (let i = 0; i < D; i++) s += xv[o + i];
    const mu = s / D;
    let q = 0;
    for (let i = 0; i < D; i++) {
      const c = xv[o + i] - mu;
      q += c * c;
    }
    const rs = 1 / Math.sqrt(q / D + eps);
    for (let i = 0; i < D; i++) yv[o + i] = (xv[o + i] - mu) * rs * gv[i] + bv[i];
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
    const mu = mv[r];
    const rs = rv[r];
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < D; i++) {
      const h = (xv[o + i] - mu) * rs;
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

// ---------------------------------------------------------------- registration

const FUSED: tf.KernelConfig[] = [
  { kernelName: "PsvitGelu", backendName: BACKEND, kernelFunc: geluKernel as unknown as tf.KernelFunc },
  { kernelName: "PsvitGeluGrad", backendName: BACKEND, kernelFunc: geluGradKernel as unknown as tf.KernelFunc },
  { kernelName: "PsvitLayerNorm", backendName: BACKEND, kernelFunc: layerNormKernel as unknown as tf.KernelFunc },
  {
    kernelName: "PsvitLayerNormGrad",
    backendName: BACKEND,
    kernelFunc: layerNormGradKernel as unknown as tf.KernelFunc,
  },
  { kernelName: "PsvitAdamW", backendName: BACKEND, kernelFunc: adamwKernel as unknown as tf.KernelFunc },
];

const OVERRIDES: [string, (a: KernelArgs) => tf.TensorInfo][] = [
  ["Identity", identity],
  ["Slice", slice],
  ["Sum", sum],
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
  installed = true;
  applyOverrides();
}

function applyOverrides(): void {
  for (const [name, cfg] of overrides) swapIn(name, enabled ? cfg : (stock.get(name) as tf.KernelConfig));
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
export function runFused(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
}
