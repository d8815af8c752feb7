/**
 * AdamW with PyTorch semantics (torch.optim.AdamW, amsgrad off), for SPOS training:
 *
 *   p ← p − lr·wd·p                          (decoupled weight decay, only where the mask says so)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
 *
 * with t the variable's OWN step count: in a supernet only the sampled path's variables get gradients,
 * so each variable counts the updates it received (PyTorch keeps `step` per parameter too, and skips
 * parameters whose .grad is None). Variables not in `grads` are untouched: no decay, no moment update,
 * no step.
 *
 * Memory: the moments are tfjs tensors kept across steps (2 per variable); every temporary of a step is
 * disposed (numTensors stays flat).
 */
import * as tf from "@tensorflow/tfjs";
import { runFused, wasmFastKernels } from "./wasm-kernels.js";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay coefficient (PyTorch's default 0.01; DeiT-style recipes use 0.05). */
  weightDecay?: number;
  /**
   * Which variables are decayed: a predicate on the name (and shape), or the set of decayed names.
   * Default `defaultDecayMask`: timm's rule, no decay on 1-D tensors (norms, biases), position
   * embeddings and class tokens.
   */
  decay?: ((name: string, shape: readonly number[]) => boolean) | ReadonlySet<string>;
}

/** timm's rule: decay weights of rank ≥ 2 except position embeddings and class tokens. */
export function defaultDecayMask(name: string, shape: readonly number[]): boolean {
  if (shape.length < 2) return false;
  const leaf = name.slice(name.lastIndexOf(".") + 1);
  return leaf !== "pos_embed" && leaf !== "cls_token";
}

/** A variable's optimizer state, serialisable (checkpoints). */
export interface AdamWVarState {
  /** Updates this variable has received. */
  step: number;
  shape: number[];
  m: Float32Array;
  v: Float32Array;
}

export interface AdamWState {
  kind: "adamw";
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  vars: Record<string, AdamWVarState>;
}

interface Slot {
  step: number;
  m: tf.Tensor;
  v: tf.Tensor;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decayOf: (name: string, shape: readonly number[]) => boolean;
  private readonly slots = new Map<string, Slot>();

  constructor(opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    const d = opts.decay ?? defaultDecayMask;
    this.decayOf = typeof d === "function" ? d : (name) => d.has(name);
    for (const [k, v] of Object.entries({ beta1: this.beta1, beta2: this.beta2 })) {
      if (!(v >= 0 && v < 1)) throw new Error(`AdamW: ${k} must be in [0, 1), got ${v}`);
    }
  }

  /** Is `name` decayed (for logs and tests)? */
  decays(name: string, shape: readonly number[]): boolean {
    return this.decayOf(name, shape);
  }

  /** The number of updates `name` has received (0 if never). */
  stepOf(name: string): number {
    return this.slots.get(name)?.step ?? 0;
  }

  /**
   * One update of the variables named in `grads` (each must be in `vars`). `grads` stay the caller's
   * (not disposed).
   */
  step(grads: ReadonlyMap<string, tf.Tensor>, vars: ReadonlyMap<string, tf.Variable>, lr: number): void {
    const { beta1: b1, beta2: b2, eps } = this;
    for (const [name, g] of grads) {
      const p = vars.get(name);
      if (!p) throw new Error(`AdamW.step: gradient for unknown variable ${name}`);
      if (g.size !== p.size) {
        throw new Error(`AdamW.step: gradient [${g.shape}] does not fit variable ${name} [${p.shape}]`);
      }
      let slot = this.slots.get(name);
      if (!slot) {
        slot = { step: 0, m: tf.keep(tf.zerosLike(p)), v: tf.keep(tf.zerosLike(p)) };
        this.slots.set(name, slot);
      }
      const t = slot.step + 1;
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const decay = this.weightDecay > 0 && this.decayOf(name, p.shape) ? lr * this.weightDecay : 0;
      const old = slot;
      if (wasmFastKernels() && p.dtype === "float32" && g.dtype === "float32") {
        // one fused kernel per variable on wasm (wasm/fused.ts): → [p, m, v]
        const [np, m, v] = runFused(
          "PsvitAdamW",
          { p, g, m: old.m, v: old.v },
          { lr, beta1: b1, beta2: b2, eps, bc1, bc2, decay },
        ) as tf.Tensor[];
        p.assign(np);
        np.dispose();
        old.m.dispose();
        old.v.dispose();
        this.slots.set(name, { step: t, m: tf.keep(m), v: tf.keep(v) });
        continue;
      }
      const next = tf.tidy(() => {
        const gg = g.reshape(p.shape);
        const m = old.m.mul(b1).add(gg.mul(1 - b1));
        const v = old.v.mul(b2).add(gg.square().mul(1 - b2));
        const denom = v
          .sqrt()
          .mul(1 / Math.sqrt(bc2))
          .add(eps);
        const update = m.div(denom).mul(lr / bc1);
        const base = decay > 0 ? p.mul(1 - decay) : p;
        p.assign(base.sub(update));
        return { m, v };
      });
      old.m.dispose();
      old.v.dispose();
      this.slots.set(name, { step: t, m: next.m, v: next.v });
    }
  }

  /** The state as plain arrays (reads the moments back from the backend, asynchronously: on webgpu a
   * synchronous read does not exist under Node). */
  async getState(): Promise<AdamWState> {
    const vars: Record<string, AdamWVarState> = {};
    for (const [name, s] of this.slots) {
      vars[name] = {
        step: s.step,
        shape: s.m.shape.slice(),
        m: Float32Array.from((await s.m.data()) as Float32Array),
        v: Float32Array.from((await s.v.data()) as Float32Array),
      };
    }
    return {
      kind: "adamw",
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      vars,
    };
  }

  /** Replace the state (moments and per-variable steps) with `state`'s. Hyper-parameters stay. */
  setState(state: AdamWState): void {
    if (state.kind !== "adamw") throw new Error(`AdamW.setState: not an AdamW state (${state.kind})`);
    this.dispose();
    for (const [name, s] of Object.entries(state.vars)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (s.m.length !== n || s.v.length !== n) {
        throw new Error(`AdamW.setState: ${name}: moments do not match shape [${s.shape}]`);
      }
      this.slots.set(name, {
        step: s.step,
        m: tf.keep(tf.tensor(s.m, s.shape)),
        v: tf.keep(tf.tensor(s.v, s.shape)),
      });
    }
  }

  /** Free the moments. */
  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
  }
}

/**
 * Most inputs one AddN gets. tfjs-backend-webgpu 4.22's AddN binds every input as a storage buffer of
 * one shader and does not split (its Concat does): past the device's maxStorageBuffersPerShaderStage − 1
 * inputs (8 − 1 on Dawn's default limits) the pipeline is invalid and the "sum" is whatever the output
 * buffer held, silently (a supernet path has 50+ gradients: its norm, hence the clipping, was garbage).
 */
export const ADDN_MAX_INPUTS = 7;

/** Σ tensors (same shape), as AddNs of at most ADDN_MAX_INPUTS inputs. */
export function addMany(tensors: tf.Tensor[]): tf.Tensor {
  if (tensors.length === 0) throw new Error("addMany: expected at least one tensor, got none");
  let level = tensors;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += ADDN_MAX_INPUTS) {
      const group = level.slice(i, i + ADDN_MAX_INPUTS);
      next.push(group.length === 1 ? group[0] : tf.addN(group));
    }
    level = next;
  }
  return level[0];
}

/**
 * ‖g‖₂ over all gradients together (float32 sum of squares, as PyTorch's clip_grad_norm_): finite exactly
 * when every gradient is finite and the sum of squares does not overflow (‖g‖ < 1.8e19).
 */
export async function globalGradNorm(grads: ReadonlyMap<string, tf.Tensor>): Promise<number> {
  if (grads.size === 0) return 0;
  const total = tf.tidy(() => tf.sqrt(addMany([...grads.values()].map((g) => g.square().sum()))));
  const norm = ((await total.data()) as Float32Array)[0];
  total.dispose();
  return norm;
}

/** The gradients holding a NaN or an infinity, by name (diagnostics after a non-finite norm). */
export async function nonFiniteGrads(grads: ReadonlyMap<string, tf.Tensor>): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, g] of grads) {
    const all = tf.tidy(() => tf.all(tf.isFinite(g)));
    const ok = (await all.data())[0];
    all.dispose();
    if (!ok) bad.push(name);
  }
  return bad;
}

/**
 * PyTorch's clip_grad_norm_: scale every gradient by min(1, maxNorm / (‖g‖₂ + 1e-6)), ‖g‖₂ over all of
 * them together (`norm`, when the caller has it already). Replaces the map's tensors in place (disposing
 * the old ones) when it scales; returns the total norm before clipping.
 */
export async function clipGradNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
  known?: number,
): Promise<number> {
  if (grads.size === 0) return 0;
  const norm = known ?? (await globalGradNorm(grads));
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, coef));
      g.dispose();
    }
  }
  return norm;
}
