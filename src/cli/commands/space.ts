/**
 * `psvit space <space.json> [--budget 25M] [--params 1.5M] [--json]`: size and FLOPs distribution of a
 * search space, and how much of it a budget keeps, computed without enumerating it.
 * `--sample N [--flops-range MIN:MAX] [--seed S]`: N architectures drawn uniformly (exactly, without
 * rejection) from those that satisfy the constraints, e.g. a random baseline of a given cost. Pure core only.
 */
import { loadSpaceConfig } from "../../config/load.js";
import type { SpaceConfig } from "../../config/schema.js";
import { UsageError } from "../../errors.js";
import { formatArch } from "../../space/arch.js";
import { archCost, checkSatisfiable, parseFlopsRange } from "../../space/sample.js";
import { ConstrainedSampler, type Constraint, spaceStats } from "../../space/stats.js";
import { Rng } from "../../util/rng.js";
import { grouped, human, jsonCount, parseQuantity } from "../../util/units.js";
import { type Io, table } from "../io.js";

export interface SpaceOptions {
  budget?: string;
  params?: string;
  bins?: string;
  sample?: string;
  flopsRange?: string;
  seed?: string;
  json?: boolean;
}

export async function spaceCommand(file: string, opts: SpaceOptions, io: Io): Promise<void> {
  const space = loadSpaceConfig(file);
  const constraint: Constraint = {};
  if (opts.budget !== undefined) constraint.maxFlops = parseQuantity(opts.budget, "--budget");
  if (opts.params !== undefined) constraint.maxParams = parseQuantity(opts.params, "--params");
  const bins = opts.bins === undefined ? 20 : parseQuantity(opts.bins, "--bins");
  if (opts.sample !== undefined) return sampleCommand(space, constraint, opts, io);
  if (opts.flopsRange !== undefined || opts.seed !== undefined) {
    throw new UsageError("--flops-range and --seed go with --sample");
  }
  const hasConstraint = opts.budget !== undefined || opts.params !== undefined;
  const stats = spaceStats(space, hasConstraint ? constraint : undefined, bins);
  const fraction = stats.satisfying === undefined ? undefined : Number(stats.satisfying) / Number(stats.size);

  if (opts.json) {
    io.out(
      JSON.stringify({
        name: space.name,
        size: jsonCount(stats.size),
        min_flops: stats.min,
        median_flops: stats.median,
        max_flops: stats.max,
        quantiles: stats.quantiles,
        histogram: stats.histogram.map((b) => ({ lo: b.lo, hi: b.hi, count: jsonCount(b.count) })),
        ...(hasConstraint
          ? {
              budget_flops: constraint.maxFlops ?? null,
              budget_params: constraint.maxParams ?? null,
              under_budget: jsonCount(stats.satisfying!),
              under_budget_fraction: fraction,
            }
          : {}),
      }),
    );
    return;
  }

  const cells = space.stages.map((s) => s.cells);
  const lines: string[] = [];
  lines.push(
    `${space.name}: ${space.stages.length} stages × [${cells.join(", ")}] cells, ${grouped(stats.size)} architectures (3^${cells.reduce((a, b) => a + b, 0)})`,
  );
  lines.push(`FLOPs: min ${human(stats.min)}, median ${human(stats.median)}, max ${human(stats.max)}`);
  lines.push(
    `quantiles: ${stats.quantiles
      .filter((q) => q.q > 0 && q.q < 1)
      .map((q) => `${Math.round(q.q * 100)}% ${human(q.flops)}`)
      .join(", ")}`,
  );
  lines.push("");
  const peak = stats.histogram.reduce((m, b) => (b.count > m ? b.count : m), 0n);
  const width = 40;
  const rows = stats.histogram.map((b) => {
    const bar = peak === 0n ? 0 : Number((b.count * BigInt(width)) / peak);
    const share = (Number(b.count) / Number(stats.size)) * 100;
    return [
      `${human(b.lo)} – ${human(b.hi)}`,
      "█".repeat(bar) || (b.count > 0n ? "▏" : ""),
      `${share.toFixed(2)}%`,
    ];
  });
  lines.push(table(rows, ["r", "l", "r"]));
  if (stats.satisfying !== undefined) {
    const what = [
      constraint.maxFlops !== undefined ? `FLOPs ≤ ${human(constraint.maxFlops)}` : "",
      constraint.maxParams !== undefined ? `params ≤ ${human(constraint.maxParams)}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    lines.push("");
    lines.push(
      `budget ${what}: ${grouped(stats.satisfying)} of ${grouped(stats.size)} architectures fit (${((fraction ?? 0) * 100).toPrecision(3)}%)`,
    );
    if (stats.satisfying === 0n)
      lines.push(`no architecture fits: the smallest needs ${human(stats.min)} FLOPs`);
  }
  io.out(`${lines.join("\n")}\n`);
}

function sampleCommand(space: SpaceConfig, budget: Constraint, opts: SpaceOptions, io: Io): void {
  const n = Number(opts.sample);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`--sample: expected a positive whole number, got ${JSON.stringify(opts.sample)}`);
  }
  const seed = opts.seed === undefined ? 0 : Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new UsageError(`--seed: expected a whole number ≥ 0, got ${JSON.stringify(opts.seed)}`);
  }
  const range =
    opts.flopsRange === undefined
      ? {}
      : parseFlopsRange(opts.flopsRange, (s) => parseQuantity(s, "--flops-range"));
  const constraint: Constraint = {
    ...budget,
    ...(range.minFlops !== undefined ? { minFlops: range.minFlops } : {}),
    ...(range.maxFlops !== undefined
      ? { maxFlops: Math.min(range.maxFlops, budget.maxFlops ?? Number.POSITIVE_INFINITY) }
      : {}),
  };
  checkSatisfiable(space, constraint, "the constraint");
  const sampler = new ConstrainedSampler(space, constraint);
  const rng = new Rng(seed);
  const samples = Array.from({ length: n }, () => {
    const arch = sampler.sample(rng)!;
    return { arch: formatArch(arch), ...archCost(space, arch) };
  });
  if (opts.json) {
    io.out(`${JSON.stringify({ name: space.name, seed, pool: jsonCount(sampler.total), samples })}\n`);
    return;
  }
  const rows = samples.map((s) => [s.arch, human(s.flops), human(s.params)]);
  io.out(
    `${n} of ${grouped(sampler.total)} architectures of ${space.name}, drawn uniformly (seed ${seed}):\n` +
      `${table([["architecture", "FLOPs", "params"], ...rows], ["l", "r", "r"])}\n`,
  );
}
