/**
 * `psvit space <space.json> [--budget 25M] [--params 1.5M] [--json]`: size and FLOPs distribution of a
 * search space, and how much of it a budget keeps, computed without enumerating it. Pure core only.
 */
import { loadSpaceConfig } from "../../config/load.js";
import { type Constraint, spaceStats } from "../../space/stats.js";
import { grouped, human, jsonCount, parseQuantity } from "../../util/units.js";
import { type Io, table } from "../io.js";

export interface SpaceOptions {
  budget?: string;
  params?: string;
  bins?: string;
  json?: boolean;
}

export async function spaceCommand(file: string, opts: SpaceOptions, io: Io): Promise<void> {
  const space = loadSpaceConfig(file);
  const constraint: Constraint = {};
  if (opts.budget !== undefined) constraint.maxFlops = parseQuantity(opts.budget, "--budget");
  if (opts.params !== undefined) constraint.maxParams = parseQuantity(opts.params, "--params");
  const bins = opts.bins === undefined ? 20 : parseQuantity(opts.bins, "--bins");
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
