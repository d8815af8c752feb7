/**
 * The HVT / PSViT model of a `psvit.model` config (SPEC §1): stem + fixed blocks + head, with
 * variables named exactly as SPEC §4 (internal layouts; src/weights converts to PyTorch layouts).
 */
import type * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../config/schema.js";
import { parseModelConfig } from "../config/validate.js";
import {
  type BlockRef,
  engineOps,
  type ForwardOptions,
  forwardNet,
  lookupIn,
  type NetPlan,
  planNet,
} from "./net.js";
import {
  blockSpecs,
  createVariables,
  netSpecs,
  type ParamSource,
  type ParamSpec,
  shapeSize,
} from "./params.js";

/** `stages.{s}.blocks.{i}.` */
export function blockPrefix(stage: number, index: number): string {
  return `stages.${stage}.blocks.${index}.`;
}

/** Every parameter of the model, in weights-file order, with SPEC §4 names and internal shapes. */
export function modelParamSpecs(config: ModelConfig): ParamSpec[] {
  return netSpecs(config, (s) =>
    config.stages[s].layers.flatMap((kind, i) =>
      blockSpecs(blockPrefix(s, i), kind, config.stages[s].dim, config.mlpRatio),
    ),
  );
}

export class HvtModel {
  private readonly plan: NetPlan;
  private readonly blocks: BlockRef[][];
  private readonly vars: Map<string, tf.Variable>;
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    source: ParamSource,
  ) {
    this.plan = planNet(config);
    this.blocks = config.stages.map((stage, s) =>
      stage.layers.map((kind, i) => ({ prefix: blockPrefix(s, i), kind })),
    );
    this.vars = createVariables(modelParamSpecs(config), source);
  }

  /** A freshly initialised model (timm ViT init from the seeded Rng; same seed → same weights). */
  static create(config: ModelConfig, opts: { seed?: number } = {}): HvtModel {
    return new HvtModel(parseModelConfig(config), { seed: opts.seed ?? 0 });
  }

  /**
   * A model with the given weights: SPEC §4 names, internal layouts (Float32Arrays or tensors; tensors
   * are copied, the caller keeps ownership). Every parameter must be present, nothing else.
   */
  static fromWeights(config: ModelConfig, weights: ReadonlyMap<string, Float32Array | tf.Tensor>): HvtModel {
    return new HvtModel(parseModelConfig(config), { weights });
  }

  /** Logits [B, numClasses] for NHWC images [B, size, size, channels], already normalised. */
  forward(x: tf.Tensor4D, opts: ForwardOptions = {}): tf.Tensor2D {
    this.checkAlive();
    return forwardNet(lookupIn(this.vars), this.plan, this.blocks, x, opts.ops ?? engineOps);
  }

  /** All variables by SPEC §4 name (internal layouts), in weights-file order. */
  variables(): Map<string, tf.Variable> {
    this.checkAlive();
    return new Map(this.vars);
  }

  /** Number of learnable scalars. */
  paramCount(): number {
    let n = 0;
    for (const v of this.vars.values()) n += shapeSize(v.shape);
    return n;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.vars.values()) v.dispose();
    this.disposed = true;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error(`HvtModel ${this.config.name}: used after dispose()`);
  }
}
