/**
 * psvit's own kernels for the tfjs `wasm` backend, registered with `tf.registerKernel` for that backend
 * only; this module installs them and answers which of them the ops may use. They work on tensors in
 * place in the wasm module's memory: either through a second WebAssembly module (simd/kernels.c,
 * 128-bit SIMD, instantiated on tfjs's own WebAssembly.Memory, so pointers are the tensors' heap
 * offsets) or, where that memory cannot be reached, through JavaScript loops over Float32Array views of
 * the heap. On every other backend the ops keep their tfjs formulation. docs/ENGINE.md has the design
 * and the measurements.
 *
 * The families, under wasm/:
 * - flags.ts: the switches (`engineFlags`, `setEngineFlags`), for A/B measurements and tests;
 * - module.ts: loading the SIMD module (plain or relaxed SIMD, own or shared memory), its exports,
 *   the helper threads, the kernels' kept scratch;
 * - overrides.ts: replacements for stock wasm kernels (Identity, Slice, Sum, Mean, Transpose);
 * - fused.ts: psvit's fused kernels (products, attention, GELU, LayerNorm, AdamW, softmax, layouts);
 * - fallback.ts: the JavaScript loops the kernels run where the SIMD module does not.
 */
import * as tf from "@tensorflow/tfjs";
import { engineFlags, onEngineFlags } from "./wasm/flags.js";
import { registerFusedKernels } from "./wasm/fused.js";
import { BACKEND, bmmHelpers, loadedSimdFlavour, simd, type WasmBackend } from "./wasm/module.js";
import { applyOverrides, captureStockKernels } from "./wasm/overrides.js";

export { type EngineFlags, engineFlags, setEngineFlags } from "./wasm/flags.js";
export { runFused } from "./wasm/fused.js";
export { wasmScratchFloats } from "./wasm/module.js";
export { asAxisSwap } from "./wasm/overrides.js";

let installed = false;

function install(): void {
  if (installed) return;
  if (captureStockKernels() === 0) return; // tfjs-backend-wasm not loaded yet: try again at next use
  registerFusedKernels();
  installed = true;
  applyOverrides();
}

/** The `fastKernels` and `transposeOverride` flags decide which kernels are registered. */
onEngineFlags((patch) => {
  if (patch.fastKernels !== undefined) {
    if (installed) applyOverrides();
    else if (patch.fastKernels && tf.getBackend() === BACKEND) install();
  } else if (patch.transposeOverride !== undefined && installed) {
    applyOverrides();
  }
});

/**
 * True when the current backend is wasm and the fast kernels are on (installing them on first use;
 * the wasm backend package must be loaded by then, which initBackend does).
 */
export function wasmFastKernels(): boolean {
  if (!engineFlags.fastKernels || tf.getBackend() !== BACKEND) return false;
  if (!installed) install();
  return installed;
}

function currentSimd(): ReturnType<typeof simd> {
  return simd(tf.backend() as unknown as WasmBackend);
}

/** Whether the SIMD module is in use on the current (wasm) backend (tests, logs). */
export function wasmSimdLoaded(): boolean {
  return wasmFastKernels() && currentSimd() !== null;
}

/** Which build of the SIMD module runs: "relaxed" (fused multiply-add), "plain", or null (none loaded). */
export function wasmSimdFlavour(): "relaxed" | "plain" | null {
  return wasmSimdLoaded() ? loadedSimdFlavour() : null;
}

/** Threads psvit's products run on now (1 unless the threaded build runs with helpers). */
export function wasmBmmThreads(): number {
  const helpers = wasmSimdLoaded() ? bmmHelpers() : null;
  return helpers && engineFlags.bmmThreads ? helpers.threads : 1;
}

/** Parts of products handed to helper threads so far (tests). */
export function wasmBmmHelperJobs(): number {
  return bmmHelpers()?.posted ?? 0;
}

/**
 * Whether a fused op must go through its tf.customGrad wrapper: only while gradients are recorded.
 * Outside (inference: eval, search, predict) the wrapper's scope and saved tensors are pure overhead.
 */
export function customGradNeeded(): boolean {
  return !engineFlags.inferenceBypass || (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/** True when `bmm` should run as the PsvitBmm kernel (wasm, fast kernels on, SIMD module loaded). */
export function wasmBmmAvailable(): boolean {
  if (!engineFlags.bmm || !wasmFastKernels()) return false;
  return currentSimd() !== null;
}

/** True when `linear` should issue its forward and input-gradient products as PsvitBmm. */
export function wasmLinearAvailable(): boolean {
  return engineFlags.linear && wasmBmmAvailable();
}

/** True when `linear`'s weight gradient should run as PsvitBmm with a transposed left operand. */
export function wasmSimdWeightGradAvailable(): boolean {
  return engineFlags.simdWeightGrad && wasmLinearAvailable();
}

/** True when inference attention can run as the PsvitAttention kernel (wasm, SIMD module loaded). */
export function wasmAttentionAvailable(): boolean {
  return engineFlags.fusedAttention && wasmBmmAvailable();
}
