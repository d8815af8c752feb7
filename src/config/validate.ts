/**
 * Parse + validate model and space configs. Every problem is reported with its JSON path
 * (`stages[1].layers[0]: "reuse" cannot be the first layer of a stage`) and, when known, the file.
 * Pure: no tfjs; file reading lives in load.ts.
 */
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { patchGeometry, poolTokens, type TokenGeometry } from "./geometry.js";
import {
  type CommonConfig,
  type ModelConfig,
  ModelConfigSchema,
  type Pool,
  type SpaceConfig,
  SpaceConfigSchema,
} from "./schema.js";

export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

/** `["stages", 1, "layers", 0]` → `stages[1].layers[0]`; the root is `(root)`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let s = "";
  for (const key of path) {
    if (typeof key === "number") s += `[${key}]`;
    else s += s === "" ? String(key) : `.${String(key)}`;
  }
  return s === "" ? "(root)" : s;
}

/** zod's issues as ConfigIssues with psvit's wording. */
export function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => {
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    } else if (issue.code === "invalid_union" && issue.discriminator && "options" in issue && issue.options) {
      const path =
        issue.path.at(-1) === issue.discriminator ? issue.path : [...issue.path, issue.discriminator];
      const options = issue.options.map((o) => JSON.stringify(o)).join(", ");
      return {
        path: path.map((p) => (typeof p === "symbol" ? String(p) : p)),
        message: `must be one of ${options}`,
      };
    } else if (issue.code === "invalid_value" && issue.values.length === 1) {
      message = `must be ${JSON.stringify(issue.values[0])}`;
    }
    return { path: issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message };
  });
}

/** Throw the first issue as a one-line ConfigError (with a count of the others). */
export function throwIssues(issues: ConfigIssue[], file?: string): never {
  const [first] = issues;
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
  throw new ConfigError(`${formatPath(first.path)}: ${first.message}${more}`, file);
}

interface StageLike {
  pool?: Pool;
  dim: number;
  heads: number;
}

/** Cross-field checks shared by models and spaces: pools, dims, heads, token counts, preprocess. */
function checkCommon(cfg: CommonConfig & { stages: StageLike[] }, issues: ConfigIssue[]): void {
  const { image, patchSize, classToken } = cfg;
  if (image.size % patchSize !== 0) {
    issues.push({
      path: ["patchSize"],
      message: `image.size ${image.size} is not divisible by patchSize ${patchSize}`,
    });
    return;
  }
  if (cfg.preprocess) {
    for (const key of ["mean", "std"] as const) {
      if (cfg.preprocess[key].length !== image.channels) {
        issues.push({
          path: ["preprocess", key],
          message: `has ${cfg.preprocess[key].length} values but image.channels is ${image.channels}`,
        });
      }
    }
  }
  const fractional = cfg.stages.findIndex((stage) => !Number.isInteger(cfg.mlpRatio * stage.dim));
  if (fractional >= 0) {
    issues.push({
      path: ["mlpRatio"],
      message: `mlpRatio ${cfg.mlpRatio} × stages[${fractional}].dim ${cfg.stages[fractional].dim} is not a whole number of hidden units`,
    });
  }
  let geo: TokenGeometry = patchGeometry(image.size, patchSize);
  for (const [s, stage] of cfg.stages.entries()) {
    if (stage.dim % stage.heads !== 0) {
      issues.push({
        path: ["stages", s, "heads"],
        message: `dim ${stage.dim} is not divisible by heads ${stage.heads}`,
      });
    }
    const pool = stage.pool;
    if (s === 0) {
      if (pool) issues.push({ path: ["stages", 0, "pool"], message: "the first stage cannot have a pool" });
      continue;
    }
    if (!pool) {
      issues.push({ path: ["stages", s], message: "every stage after the first needs a pool" });
      continue;
    }
    const prevDim = cfg.stages[s - 1].dim;
    if (pool.type === "max1d" && stage.dim !== prevDim) {
      issues.push({
        path: ["stages", s, "dim"],
        message: `max1d pooling cannot change the width (${prevDim} -> ${stage.dim}); use linear-max1d or conv2d`,
      });
    }
    if (pool.type === "conv2d") {
      if (classToken) {
        issues.push({ path: ["stages", s, "pool"], message: "conv2d pooling needs classToken: false" });
        continue;
      }
      if (geo.grid === null) {
        issues.push({
          path: ["stages", s, "pool"],
          message: "conv2d pooling needs a 2D token grid, but an earlier 1D pool flattened the tokens",
        });
        continue;
      }
    }
    const out = poolTokens(pool, geo);
    if (!(out.n >= 1)) {
      const what =
        pool.type === "conv2d" && geo.grid ? `a ${geo.grid[0]}×${geo.grid[1]} grid` : `${geo.n} tokens`;
      issues.push({
        path: ["stages", s, "pool"],
        message: `${pool.type} (kernel ${pool.kernel}, stride ${pool.stride}) on ${what} leaves fewer than one token`,
      });
      return;
    }
    geo = out;
  }
}

function checkModel(cfg: ModelConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  checkCommon(cfg, issues);
  for (const [s, stage] of cfg.stages.entries()) {
    if (stage.layers[0] === "reuse") {
      issues.push({
        path: ["stages", s, "layers", 0],
        message: `"reuse" cannot be the first layer of a stage`,
      });
    }
  }
  return issues;
}

/** Parse and validate a psvit.model v1 config; throws ConfigError naming `file` and the JSON path. */
export function parseModelConfig(raw: unknown, file?: string): ModelConfig {
  const parsed = ModelConfigSchema.safeParse(raw);
  if (!parsed.success) throwIssues(zodIssues(parsed.error), file);
  const issues = checkModel(parsed.data);
  if (issues.length) throwIssues(issues, file);
  return parsed.data;
}

/** Parse and validate a psvit.space v1 config; throws ConfigError naming `file` and the JSON path. */
export function parseSpaceConfig(raw: unknown, file?: string): SpaceConfig {
  const parsed = SpaceConfigSchema.safeParse(raw);
  if (!parsed.success) throwIssues(zodIssues(parsed.error), file);
  const issues: ConfigIssue[] = [];
  checkCommon(parsed.data, issues);
  if (issues.length) throwIssues(issues, file);
  return parsed.data;
}

export type AnyConfig =
  | { kind: "psvit.model"; config: ModelConfig }
  | { kind: "psvit.space"; config: SpaceConfig };

/** Dispatch on `kind`. */
export function parseAnyConfig(raw: unknown, file?: string): AnyConfig {
  const kind = typeof raw === "object" && raw !== null ? (raw as { kind?: unknown }).kind : undefined;
  if (kind === "psvit.model") return { kind, config: parseModelConfig(raw, file) };
  if (kind === "psvit.space") return { kind, config: parseSpaceConfig(raw, file) };
  throw new ConfigError(
    `kind: must be "psvit.model" or "psvit.space", got ${kind === undefined ? "nothing" : JSON.stringify(kind)}`,
    file,
  );
}
