/** The model a command is pointed at: a psvit.model file, or a psvit.space file plus an architecture. */

import { UsageError } from "../errors.js";
import { formatArch, materialize, parseArchFor } from "../space/arch.js";
import { loadAnyConfig } from "./load.js";
import type { ModelConfig } from "./schema.js";

/** Resolve a model config from a model file, or a space file plus an architecture string. */
export function modelFromFile(file: string, arch?: string): ModelConfig {
  const loaded = loadAnyConfig(file);
  if (loaded.kind === "psvit.model") {
    if (arch !== undefined)
      throw new UsageError(`--arch is for space files, but ${file} is a psvit.model config`);
    return loaded.config;
  }
  if (arch === undefined) {
    throw new UsageError(
      `${file} is a search space (psvit.space): add --arch STRING, e.g. --arch ${exampleArch(loaded.config.stages.map((s) => s.cells))}`,
    );
  }
  return materialize(loaded.config, parseArchFor(loaded.config, arch));
}

function exampleArch(cells: number[]): string {
  return formatArch(cells.map((n) => Array.from({ length: n }, (_, i) => (["B", "S", "I"] as const)[i % 3])));
}
