/**
 * Human-readable quantities: parsing budgets (`1.3G`, `850M`, `5e8`, `1.3GFLOPs`, `1.5M`) and printing
 * counts in K/M/G/T. Pure.
 */
import { UsageError } from "../errors.js";

const SCALE: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/**
 * Parse a positive quantity with an optional K/M/G/T suffix (case-insensitive; M is mega, never milli)
 * and an optional unit word (FLOPs, FLOP, MACs, params). Returns an integer. `what` names the flag in
 * errors.
 */
export function parseQuantity(text: string, what: string): number {
  const m = /^\s*((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([kmgt]?)\s*(flops?|macs?|params?)?\s*$/i.exec(text);
  if (!m) {
    throw new UsageError(
      `${what}: cannot read ${JSON.stringify(text)}; write e.g. 25M, 1.3G, 5e8 or 1.3GFLOPs`,
    );
  }
  const value = Number(m[1]) * SCALE[m[2].toLowerCase()];
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${what}: ${JSON.stringify(text)} must be a positive number`);
  }
  if (value > Number.MAX_SAFE_INTEGER) throw new UsageError(`${what}: ${JSON.stringify(text)} is too large`);
  return Math.round(value);
}

/** `2402020608` → `2.40 G`; `digits` significant digits. */
export function human(n: number, digits = 3): string {
  const a = Math.abs(n);
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [scale, unit] of units) {
    if (a >= scale) return `${(n / scale).toPrecision(digits)} ${unit}`;
  }
  return String(n);
}

/** `387420489` → `387,420,489` (works for bigint too). */
export function grouped(n: number | bigint): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A bigint as a JSON-safe number when exact, else as a decimal string. */
export function jsonCount(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}
