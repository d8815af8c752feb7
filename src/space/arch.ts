/**
 * Architecture strings (SPEC §3): one letter per cell — B basic (one `attn` layer), S shared (`attn`
 * then `reuse`), I identity (no layer) — stage by stage, stages joined by `-`: `BSIBBS-SSBIBB-BBISSB`.
 * Parsing, formatting, checking against a space, materialising a model config, uniform sampling. Pure.
 */
import type { LayerKind, ModelConfig, SpaceConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import type { Rng } from "../util/rng.js";

export const CELL_CHOICES = ["B", "S", "I"] as const;
export type Cell = (typeof CELL_CHOICES)[number];
/** stages × cells */
export type Arch = Cell[][];

const isCell = (c: string): c is Cell => c === "B" || c === "S" || c === "I";

/** Parse the syntax of an architecture string (no space needed). Throws UsageError. */
export function parseArch(text: string): Arch {
  const trimmed = text.trim();
  if (trimmed === "") throw new UsageError("architecture string is empty");
  return trimmed.split("-").map((stage, s) => {
    return [...stage].map((c, i) => {
      if (!isCell(c)) {
        throw new UsageError(
          `architecture "${trimmed}": stage ${s} cell ${i} is ${JSON.stringify(c)}; cells are B (basic), S (shared) or I (identity)`,
        );
      }
      return c;
    });
  });
}

export function formatArch(arch: Arch): string {
  return arch.map((stage) => stage.join("")).join("-");
}

/** Check that `arch` has one stage per space stage and the right number of cells in each. */
export function checkArch(space: SpaceConfig, arch: Arch): void {
  const text = formatArch(arch);
  if (arch.length !== space.stages.length) {
    throw new UsageError(
      `architecture "${text}" has ${arch.length} stage(s) but space "${space.name}" has ${space.stages.length}`,
    );
  }
  for (const [s, stage] of space.stages.entries()) {
    if (arch[s].length !== stage.cells) {
      throw new UsageError(
        `architecture "${text}": stage ${s} has ${arch[s].length} cell(s) but space "${space.name}" expects ${stage.cells}`,
      );
    }
  }
}

/** Parse and check against `space`. */
export function parseArchFor(space: SpaceConfig, text: string): Arch {
  const arch = parseArch(text);
  checkArch(space, arch);
  return arch;
}

/** The layers a stage's cells put down, in order. */
export function cellLayers(cells: readonly Cell[]): LayerKind[] {
  const layers: LayerKind[] = [];
  for (const c of cells) {
    if (c === "B") layers.push("attn");
    else if (c === "S") layers.push("attn", "reuse");
  }
  return layers;
}

/** The concrete model config (SPEC §1) of `arch` in `space`. */
export function materialize(space: SpaceConfig, arch: Arch, name?: string): ModelConfig {
  checkArch(space, arch);
  const { kind: _kind, stages, $schema: _schema, name: spaceName, ...common } = space;
  return {
    kind: "psvit.model",
    ...common,
    name: name ?? `${spaceName}-${formatArch(arch)}`,
    stages: stages.map((stage, s) => ({
      ...(stage.pool ? { pool: { ...stage.pool } } : {}),
      dim: stage.dim,
      heads: stage.heads,
      layers: cellLayers(arch[s]),
    })),
  };
}

/** Uniform over the whole space: every cell uniform over B/S/I. */
export function sampleArch(space: SpaceConfig, rng: Rng): Arch {
  return space.stages.map((stage) => Array.from({ length: stage.cells }, () => rng.pick(CELL_CHOICES)));
}

/** Every cell set to `cell` (I: the cheapest architecture, S: the most expensive). */
export function uniformArch(space: SpaceConfig, cell: Cell): Arch {
  return space.stages.map((stage) => Array.from({ length: stage.cells }, () => cell));
}

/** Number of architectures in the space: 3^(total cells), exact. */
export function spaceSize(space: SpaceConfig): bigint {
  const cells = space.stages.reduce((n, s) => n + s.cells, 0);
  return 3n ** BigInt(cells);
}
