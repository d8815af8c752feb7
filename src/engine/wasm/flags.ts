/**
 * The switches of psvit's wasm kernels, in one object with one setter. Every switch defaults to what
 * ships; the A/B harnesses (bench/ab-step.mjs, bench/kernels.mjs) and the tests turn them off to compare
 * a fast path with what it replaces. Reading: `engineFlags.packB`; writing: `setEngineFlags({ packB:
 * false })`. The kernels read the flags at every call, so a change takes effect at the next kernel call
 * (flags that pick the SIMD module — `simd`, `fma`, `kernelThreads` — by re-instantiating it then).
 */

export interface EngineFlags {
  /**
   * psvit's own kernels on wasm: the overrides of stock kernels and the fused kernels. Off: the stock
   * kernels, and the ops use their plain tfjs formulation (the A/B baseline). Default on.
   */
  fastKernels: boolean;
  /** The SIMD module (simd/kernels.c). Off: the kernels run as JavaScript loops. Default on. */
  simd: boolean;
  /**
   * Prefer the relaxed-SIMD build (fused multiply-adds) where the runtime accepts it; off: the plain
   * SIMD build. Default on unless env `PSVIT_WASM_FMA=0`.
   */
  fma: boolean;
  /**
   * Threads for psvit's products on tfjs's threaded build (main thread + `kernelThreads − 1` helper
   * workers, simd/helpers.ts). Set by initBackend to tfjs's own thread count. Default 1.
   */
  kernelThreads: number;
  /** Split products over the helper threads (when there are any). Default on. */
  bmmThreads: boolean;
  /** Attention's batched products on the SIMD kernel (off: the depthwise formulation). Default on. */
  bmm: boolean;
  /** `linear`'s forward and input-gradient products on the SIMD kernel (off: XNNPACK). Default on. */
  linear: boolean;
  /**
   * `linear`'s weight gradient Xᵀ·dY on the SIMD kernel, X read transposed with strides (off: transpose
   * + XNNPACK via bmm.ts's weight-gradient form). Default on.
   */
  simdWeightGrad: boolean;
  /** Pack B's 8-column panels before large products. Default on. */
  packB: boolean;
  /** With B packed, pack A's row blocks too. Default on. */
  packA: boolean;
  /** `linear(x, w, b, residual)` adds the residual inside the SIMD product. Default on. */
  fusedResidual: boolean;
  /** Inference attention as one fused kernel per layer (`PsvitAttention`). Default on. */
  fusedAttention: boolean;
  /** Outside gradient recording, call the fused kernels without their tf.customGrad wrappers. Default on. */
  inferenceBypass: boolean;
  /**
   * The SIMD `Transpose` override. Default OFF: an A/B harness that switched the whole engine between
   * the old and the new formulation many times in one process corrupted the wasm heap with it, and ran
   * through without it; the cause is not known (docs/ENGINE.md, "Known issue"). Kept, tested, for the
   * investigation.
   */
  transposeOverride: boolean;
}

const flags: EngineFlags = {
  fastKernels: true,
  simd: true,
  fma: process.env.PSVIT_WASM_FMA !== "0",
  kernelThreads: 1,
  bmmThreads: true,
  bmm: true,
  linear: true,
  simdWeightGrad: true,
  packB: true,
  packA: true,
  fusedResidual: true,
  fusedAttention: true,
  inferenceBypass: true,
  transposeOverride: false,
};

/** The engine's switches now (read-only: change them with `setEngineFlags`). */
export const engineFlags: Readonly<EngineFlags> = flags;

/**
 * Called after every `setEngineFlags` with the patch as given and the flags as they were before it:
 * the modules that keep state derived from the flags (the instantiated SIMD module, the registered
 * overrides) register here.
 */
export type EngineFlagsListener = (
  patch: Readonly<Partial<EngineFlags>>,
  before: Readonly<EngineFlags>,
) => void;

const listeners: EngineFlagsListener[] = [];

/** Register a listener for flag changes (src/engine/wasm only). */
export function onEngineFlags(listener: EngineFlagsListener): void {
  listeners.push(listener);
}

/**
 * Change some of the switches (A/B measurements, tests); the others keep their values. A key that is
 * not a flag, or a value of the wrong type, throws (a misspelt switch in a bench script would otherwise
 * change nothing).
 */
export function setEngineFlags(patch: Partial<EngineFlags>): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(flags, key)) throw new TypeError(`setEngineFlags: unknown flag "${key}"`);
    const want = typeof flags[key as keyof EngineFlags];
    if (typeof value !== want) throw new TypeError(`setEngineFlags: ${key} must be a ${want}, got ${value}`);
    if (key === "kernelThreads" && !(Number.isInteger(value) && (value as number) >= 1)) {
      throw new TypeError(`setEngineFlags: kernelThreads must be a positive integer, got ${value}`);
    }
  }
  const before = { ...flags };
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) (flags as unknown as Record<string, unknown>)[key] = value;
  }
  for (const listener of listeners) listener(patch, before);
}
