/**
 * `psvit export --run DIR [--rank 1] [--strategy evolution] [--out DIR]` and `psvit export --space FILE
 * --arch STRING`: flags → src/searchrun/export.ts → a summary.
 */
import { type ExportResult, exportArchitecture } from "../../searchrun/export.js";
import { intOption } from "../common.js";
import type { Io } from "../io.js";
import { exportSummary } from "../summaries.js";

export type { ExportResult } from "../../searchrun/export.js";

export interface ExportCommandOptions {
  run?: string;
  rank?: string | number;
  strategy?: string;
  space?: string;
  arch?: string;
  out?: string;
  name?: string;
  force?: boolean;
  json?: boolean;
  backend?: string;
}

export async function exportCommand(opts: ExportCommandOptions, io: Io): Promise<ExportResult> {
  const { json, rank, ...rest } = opts;
  const result = await exportArchitecture({ ...rest, rank: intOption(rank, "--rank") });
  io.out(json ? JSON.stringify(result) : exportSummary(result));
  return result;
}
