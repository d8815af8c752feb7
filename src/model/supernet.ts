/**
 * The SPOS supernet of a `psvit.space` (SPEC §3): shared stem, pools (+ their position embeddings)
 * and head; every cell owns separate weights for B (one `attn` layer) and S (`attn` then `reuse`).
 * `forward(x, arch)` runs exactly that architecture's path; nothing about the current architecture is
 * stored on the supernet.
 *
 * Variable names (internal layouts; see docs/MODEL.md):
 *   patch_embed.proj.*, cls_token, pos_embed, stages.{s}.pool.proj.*, stages.{s}.pos_embed, norm.*, head.*
 *     — shared, as in a model;
 *   stages.{s}.cells.{c}.B.{block}   — the cell's basic layer;
 *   stages.{s}.cells.{c}.S.0.{block} — the cell's shared pair, attn layer;
 *   stages.{s}.cells.{c}.S.1.{block} — the cell's shared pair, reuse layer (attn.v instead of attn.qkv);
 * where {block} is norm1.*, attn.qkv.* | attn.v.*, attn.proj.*, norm2.*, mlp.fc1.*, mlp.fc2.*.
 */
import type * as tf from "@tensorflow/tfjs";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import { parseSpaceConfig } from "../config/validate.js";
import { type Arch, checkArch, materialize } from "../space/arch.js";
import { blockPrefix } from "./hvt.js";
import {
  type BlockRef,
  engineOps,
  type ForwardOptions,
  forwardNet,
  lookupIn,
  type NetPlan,
  planNet,
} from "./net.js";
import { blockSpecs, createVariables, netSpecs, type ParamSpec, shapeSize } from "./params.js";

export function cellPrefix(stage: number, cell: number, choice: "B" | "S.0" | "S.1"): string {
  return `stages.${stage}.cells.${cell}.${choice}.`;
}

/** Every parameter of the supernet, in a stable order, with internal shapes. */
export function supernetParamSpecs(space: SpaceConfig): ParamSpec[] {
  return netSpecs(space, (s) => {
    const { dim, cells } = space.stages[s];
    const specs: ParamSpec[] = [];
    for (let c = 0; c < cells; c++) {
      specs.push(
        ...blockSpecs(cellPrefix(s, c, "B"), "attn", dim, space.mlpRatio),
        ...blockSpecs(cellPrefix(s, c, "S.0"), "attn", dim, space.mlpRatio),
        ...blockSpecs(cellPrefix(s, c, "S.1"), "reuse", dim, space.mlpRatio),
      );
    }
    return specs;
  });
}

/** The blocks an architecture runs, stage by stage, in order (supernet prefixes). */
export function pathBlocks(arch: Arch): BlockRef[][] {
  return arch.map((cells, s) =>
    cells.flatMap((cell, c): BlockRef[] => {
      if (cell === "B") return [{ prefix: cellPrefix(s, c, "B"), kind: "attn" }];
      if (cell === "S") {
        return [
          { prefix: cellPrefix(s, c, "S.0"), kind: "attn" },
          { prefix: cellPrefix(s, c, "S.1"), kind: "reuse" },
        ];
      }
      return [];
    }),
  );
}

export class Supernet {
  private readonly plan: NetPlan;
  private readonly specs: ParamSpec[];
  private readonly vars: Map<string, tf.Variable>;
  private disposed = false;

  private constructor(
    readonly space: SpaceConfig,
    specs: ParamSpec[],
    vars: Map<string, tf.Variable>,
  ) {
    this.plan = planNet(space);
    this.specs = specs;
    this.vars = vars;
  }

  /** A freshly initialised supernet (timm ViT init from the seeded Rng). */
  static create(space: SpaceConfig, opts: { seed?: number } = {}): Supernet {
    const parsed = parseSpaceConfig(space);
    const specs = supernetParamSpecs(parsed);
    return new Supernet(parsed, specs, createVariables(specs, { seed: opts.seed ?? 0 }));
  }

  /** A supernet with the given weights (supernet names, internal layouts), e.g. from a checkpoint. */
  static fromWeights(space: SpaceConfig, weights: ReadonlyMap<string, Float32Array | tf.Tensor>): Supernet {
    const parsed = parseSpaceConfig(space);
    const specs = supernetParamSpecs(parsed);
    return new Supernet(parsed, specs, createVariables(specs, { weights }));
  }

  /** Logits [B, numClasses] of architecture `arch` (checked against the space). */
  forward(x: tf.Tensor4D, arch: Arch, opts: ForwardOptions = {}): tf.Tensor2D {
    this.checkAlive();
    checkArch(this.space, arch);
    return forwardNet(lookupIn(this.vars), this.plan, pathBlocks(arch), x, opts.ops ?? engineOps);
  }

  /** Exactly the variables `forward(x, arch)` reads (shared ones + the chosen cells' layers), by name. */
  pathVariables(arch: Arch): Map<string, tf.Variable> {
    this.checkAlive();
    const names = this.pathNames(arch);
    return new Map([...names.keys()].map((name) => [name, this.vars.get(name)!]));
  }

  /** Every variable by supernet name, in a stable order. */
  allVariables(): Map<string, tf.Variable> {
    this.checkAlive();
    return new Map(this.vars);
  }

  /** The parameter specs (names, internal shapes, layouts), for checkpoint writers. */
  paramSpecs(): readonly ParamSpec[] {
    return this.specs;
  }

  paramCount(): number {
    let n = 0;
    for (const v of this.vars.values()) n += shapeSize(v.shape);
    return n;
  }

  /**
   * The stand-alone model of `arch`: its config (materialize) and its weights under SPEC §4 names
   * (internal layouts, copied out of the supernet). The blocks of stage s are numbered in the order
   * the cells put them down. `HvtModel.fromWeights(config, weights)` gives the same logits as
   * `forward(x, arch)`.
   */
  async extract(
    arch: Arch,
    name?: string,
  ): Promise<{ config: ModelConfig; weights: Map<string, Float32Array> }> {
    this.checkAlive();
    const config = materialize(this.space, arch, name);
    const weights = new Map<string, Float32Array>();
    for (const [src, dst] of this.pathNames(arch)) {
      // a copy: some backends hand out their own storage
      weights.set(dst, new Float32Array((await this.vars.get(src)!.data()) as Float32Array));
    }
    return { config, weights };
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.vars.values()) v.dispose();
    this.disposed = true;
  }

  /** supernet name → model name, for every variable on the path of `arch`. */
  private pathNames(arch: Arch): Map<string, string> {
    checkArch(this.space, arch);
    const blocks = pathBlocks(arch);
    const shared = (name: string) => !name.includes(".cells.");
    const names = new Map<string, string>();
    // stem, pools and head keep their names; blocks are renumbered stage by stage
    const stemAndPools = this.specs.filter((sp) => shared(sp.name) && !isHead(sp.name));
    for (const sp of stemAndPools) names.set(sp.name, sp.name);
    blocks.forEach((refs, s) => {
      refs.forEach((ref, i) => {
        for (const sp of blockSpecs(ref.prefix, ref.kind, this.space.stages[s].dim, this.space.mlpRatio)) {
          names.set(sp.name, blockPrefix(s, i) + sp.name.slice(ref.prefix.length));
        }
      });
    });
    for (const sp of this.specs) if (isHead(sp.name)) names.set(sp.name, sp.name);
    return names;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error(`Supernet ${this.space.name}: used after dispose()`);
  }
}

function isHead(name: string): boolean {
  return name.startsWith("norm.") || name.startsWith("head.");
}
