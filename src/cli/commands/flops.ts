/**
 * `psvit flops <model.json>` and `psvit flops <space.json> --arch STRING`: FLOPs and params, per stage.
 * Pure core only (no tfjs), so it starts fast.
 */

import { modelFromFile } from "../../config/model-file.js";
import type { ModelConfig } from "../../config/schema.js";
import { countModel, type ModelCost } from "../../flops/count.js";
import { grouped, human } from "../../util/units.js";
import { type Io, table } from "../io.js";

export interface FlopsOptions {
  arch?: string;
  json?: boolean;
}

export function costJson(cfg: ModelConfig, cost: ModelCost) {
  return {
    name: cfg.name,
    flops: cost.flops,
    params: cost.params,
    embed: cost.embed,
    stages: cost.stages.map((s) => ({
      index: s.index,
      tokens: s.tokens,
      seq_len: s.seqLen,
      grid: s.grid,
      dim: s.dim,
      heads: s.heads,
      layers: s.layers.length,
      reuse_layers: s.layers.filter((l) => l.kind === "reuse").length,
      pool: s.pool,
      flops: s.flops,
      params: s.params,
      layer_costs: s.layers,
    })),
    head: cost.head,
  };
}

export function formatCostTable(cfg: ModelConfig, cost: ModelCost): string {
  const { image, patchSize } = cfg;
  const header = `${cfg.name}: ${image.size}×${image.size}×${image.channels} input, patch ${patchSize}, ${cfg.numClasses} classes, mlp ×${cfg.mlpRatio}${cfg.classToken ? ", class token" : ""}`;
  const rows: string[][] = [["stage", "pool", "tokens", "dim", "heads", "layers", "FLOPs", "params"]];
  const side = image.size / patchSize;
  rows.push([
    "embed",
    `patch ${patchSize}×${patchSize}`,
    `${side}×${side}${cfg.classToken ? "+1" : ""}`,
    String(cfg.stages[0].dim),
    "",
    "",
    human(cost.embed.flops),
    human(cost.embed.params, 4),
  ]);
  for (const s of cost.stages) {
    const pool = cfg.stages[s.index].pool;
    const poolText = pool
      ? `${pool.type} k${pool.kernel} s${pool.stride}${pool.type === "conv2d" && pool.padding ? ` p${pool.padding}` : ""}${pool.posEmbed ? " +pos" : ""}`
      : "-";
    const reuse = s.layers.filter((l) => l.kind === "reuse").length;
    const tokens = `${s.grid ? `${s.grid[0]}×${s.grid[1]}` : s.tokens}${cfg.classToken ? "+1" : ""}`;
    rows.push([
      String(s.index),
      poolText,
      tokens,
      String(s.dim),
      String(s.heads),
      reuse ? `${s.layers.length} (${reuse} reuse)` : String(s.layers.length),
      human(s.flops),
      human(s.params, 4),
    ]);
  }
  rows.push([
    "head",
    "norm+linear",
    "",
    String(cfg.stages.at(-1)!.dim),
    "",
    "",
    human(cost.head.flops),
    human(cost.head.params, 4),
  ]);
  rows.push([
    "total",
    "",
    "",
    "",
    "",
    String(cost.stages.reduce((n, s) => n + s.layers.length, 0)),
    human(cost.flops),
    human(cost.params, 4),
  ]);
  const body = table(rows, ["l", "l", "r", "r", "r", "r", "r", "r"]);
  return `${header}\n\n${body}\n\nFLOPs (multiply-accumulates) ${grouped(cost.flops)}, params ${grouped(cost.params)}\n`;
}

export async function flopsCommand(file: string, opts: FlopsOptions, io: Io): Promise<void> {
  const cfg = modelFromFile(file, opts.arch);
  const cost = countModel(cfg);
  if (opts.json) io.out(JSON.stringify(costJson(cfg, cost)));
  else io.out(formatCostTable(cfg, cost));
}
