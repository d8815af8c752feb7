/**
 * Exporting an architecture: from a run, the search's rank-th candidate as an HVT config (SPEC §1, with
 * the run's `preprocess`), its inherited supernet weights (SPEC §4 safetensors) and a summary; from a
 * space and an architecture string, the config alone. Takes plain options (the command parses flags).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSpaceConfig } from "../config/load.js";
import type { ModelConfig } from "../config/schema.js";
import { parseSpaceConfig } from "../config/validate.js";
import { startBackend } from "../engine/start.js";
import { UsageError } from "../errors.js";
import { countModel } from "../flops/count.js";
import { type DeployFormat, defaultDeployPath, parseDeployFormat } from "../onnx/export.js";
import { compareCandidates, type Evaluated } from "../search/evolution.js";
import { formatArch, materialize, parseArch, parseArchFor } from "../space/arch.js";
import { RunDir, type RunSnapshot } from "../train/rundir.js";
import { writeFileAtomic } from "../util/fs.js";
import { grouped, human } from "../util/units.js";
import { readJournal } from "./journal.js";
import { readSearchSnapshot, type SearchResult, searchDirName } from "./snapshot.js";

export interface ExportOptions {
  /** A train-supernet run with a search (or `space` and `arch`). */
  run?: string;
  /** The candidate's rank in the search (1: the best). */
  rank?: number;
  strategy?: string;
  /** A search-space file (with `arch`). */
  space?: string;
  arch?: string;
  out?: string;
  name?: string;
  force?: boolean;
  backend?: string;
  /** psvit (default): config + weights + summary; onnx / web: those and NAME.onnx / NAME-web/. */
  format?: string;
}

/** Export from a run (`run`) or from a space and an architecture (`space`, `arch`). */
export function exportArchitecture(opts: ExportOptions): Promise<ExportResult> {
  if (opts.run !== undefined && (opts.space !== undefined || opts.arch !== undefined)) {
    throw new UsageError("use either --run DIR, or --space FILE with --arch STRING");
  }
  return opts.run !== undefined ? exportFromRun(opts.run, opts) : exportFromSpace(opts);
}

export interface ExportResult {
  config: string;
  weights: string | null;
  summary: string | null;
  arch: string;
  flops: number;
  params: number;
  valAccuracy: number | null;
  /** With --format onnx / web: what was written besides the psvit files. */
  deployed?: { format: DeployFormat; path: string; bytes: number };
}

function guard(files: string[], force: boolean | undefined): void {
  const existing = files.filter((f) => existsSync(f));
  if (existing.length && !force) {
    throw new UsageError(
      `${existing[0]} already exists; add --force to replace it or choose another --out / --name`,
    );
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
}

/** The --format of an export: "psvit" (default) or a deployable format. */
function deployFormatOf(opts: ExportOptions): DeployFormat | null {
  const f = opts.format ?? "psvit";
  return f === "psvit" ? null : parseDeployFormat(f, "--format");
}

export async function exportFromSpace(opts: ExportOptions): Promise<ExportResult> {
  if (opts.space === undefined || opts.arch === undefined) {
    throw new UsageError("export needs --run DIR, or --space FILE with --arch STRING");
  }
  if (deployFormatOf(opts) !== null) {
    throw new UsageError(
      `--format ${opts.format} needs weights: export from a search (--run DIR), or train the config and convert it (psvit convert MODEL.json --weights W.safetensors --to ${opts.format})`,
    );
  }
  const space = loadSpaceConfig(opts.space);
  const arch = parseArchFor(space, opts.arch);
  const config = materialize(space, arch, opts.name);
  const out = resolve(opts.out ?? ".");
  mkdirSync(out, { recursive: true });
  const file = join(out, `${config.name}.model.json`);
  guard([file], opts.force);
  await writeJson(file, config);
  const cost = countModel(config);
  return {
    config: file,
    weights: null,
    summary: null,
    arch: formatArch(arch),
    flops: cost.flops,
    params: cost.params,
    valAccuracy: null,
  };
}

/** The search's result.json, where the search finished (null otherwise). */
function finishedResult(run: RunDir, dirName: string): SearchResult | null {
  return existsSync(run.path(dirName, "result.json"))
    ? run.readJson<SearchResult>(`${dirName}/result.json`)
    : null;
}

/**
 * The search's candidates, best first: those its final stage re-scored on the whole validation split,
 * in that ranking (their accuracy: the whole split's), then the rest of the journal by fitness.
 */
export function searchRanking(run: RunDir, dirName: string): Evaluated[] {
  const journal = [...readJournal(run.path(dirName, "candidates.jsonl")).entries.values()].sort(
    compareCandidates,
  );
  const final = finishedResult(run, dirName)?.final;
  if (!final) return journal;
  const rescored = new Set(final.ranking.map((e) => e.arch));
  return [...final.ranking, ...journal.filter((e) => !rescored.has(e.arch))];
}

export async function exportFromRun(runDir: string, opts: ExportOptions): Promise<ExportResult> {
  const run = RunDir.existing(runDir);
  const snap = run.readJson<RunSnapshot>("run.json");
  if (snap.command !== "train-supernet" || !snap.space)
    throw new UsageError(`${runDir} is not a train-supernet run`);
  const space = parseSpaceConfig(snap.space);
  const strategy = opts.strategy ?? "evolution";
  const dirName = searchDirName(strategy);
  const settings = readSearchSnapshot(
    run,
    strategy,
    `${runDir} has no ${strategy} search: run psvit search --run ${runDir} --flops BUDGET first`,
  );
  const ranked = searchRanking(run, dirName);
  const final = finishedResult(run, dirName)?.final ?? null;
  const rank = opts.rank ?? 1;
  const format = deployFormatOf(opts);
  if (ranked.length === 0)
    throw new UsageError(`the ${strategy} search in ${runDir} has evaluated nothing yet`);
  if (rank > ranked.length)
    throw new UsageError(`--rank ${rank}: the search evaluated only ${ranked.length} candidates`);
  const best: Evaluated = ranked[rank - 1];
  const checkpointFile = run.storedCheckpoint(settings.checkpoint.file);
  if (!existsSync(checkpointFile)) {
    throw new UsageError(`the supernet checkpoint the search used is gone: ${checkpointFile}`);
  }
  const arch = parseArch(best.arch);
  const name = opts.name ?? `${space.name}-${best.arch}`;
  const out = resolve(opts.out ?? run.path("export"));
  mkdirSync(out, { recursive: true });
  const files = {
    config: join(out, `${name}.model.json`),
    weights: join(out, `${name}.safetensors`),
    summary: join(out, `${name}.summary.json`),
  };
  const deployPath = format ? defaultDeployPath(out, name, format) : null;
  guard([...Object.values(files), ...(deployPath ? [deployPath] : [])], opts.force);

  await startBackend(opts.backend);
  const { supernetFromCheckpoint } = await import("../eval/fitness.js");
  const { saveModelWeights } = await import("../weights/io.js");
  const net = await supernetFromCheckpoint(checkpointFile, space);
  let config: ModelConfig;
  try {
    const extracted = await net.extract(arch, name);
    config = { ...extracted.config, preprocess: snap.preprocess };
    await saveModelWeights(files.weights, config, extracted.weights);
  } finally {
    net.dispose();
  }
  await writeJson(files.config, config);
  const cost = countModel(config);
  await writeJson(files.summary, {
    kind: "psvit.export",
    version: 1,
    name,
    architecture: best.arch,
    space: space.name,
    flops: cost.flops,
    flops_human: `${human(cost.flops)}FLOPs (${grouped(cost.flops)})`,
    params: cost.params,
    val_top1_inherited: best.accuracy,
    val_top1_se: best.se ?? null,
    rank,
    final_stage: final
      ? {
          k: final.k,
          images: final.images,
          winner: final.ranking[0].arch,
          runner_up: final.test?.runnerUp ?? null,
          mcnemar_p: final.test?.p ?? null,
          tied: final.tied,
        }
      : null,
    search: {
      strategy,
      constraint: settings.constraint,
      options: settings.options,
      seed: settings.seed,
      val_images: settings.valImages,
      evaluated: ranked.length,
    },
    supernet: {
      run: run.dir,
      checkpoint: settings.checkpoint,
      data: snap.data.spec ?? "embedded",
      recipe: snap.recipe.name,
    },
  });
  let deployed: ExportResult["deployed"];
  if (format && deployPath) {
    const { deployModel } = await import("../onnx/export.js");
    const r = await deployModel(config, files.weights, format, deployPath, {
      labels: snap.data.info?.classNames,
      force: opts.force,
    });
    deployed = { format, path: r.path, bytes: r.bytes };
  }
  return {
    ...files,
    arch: best.arch,
    flops: cost.flops,
    params: cost.params,
    valAccuracy: best.accuracy,
    ...(deployed ? { deployed } : {}),
  };
}
