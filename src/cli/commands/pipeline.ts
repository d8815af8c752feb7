/**
 * `psvit pipeline`: the whole mission in one command — train the supernet, search it under a FLOPs
 * budget, export the winner — on the embedded Fashion-MNIST subset by default, sized to finish in about
 * 10 minutes on 2 cores. Every step is the ordinary command with its own run files, so any step can be
 * re-run, resumed or continued by hand.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { UsageError } from "../../errors.js";
import type { Io } from "../io.js";
import { formatDuration } from "../progress.js";
import { type ExportResult, exportCommand } from "./export.js";
import { type SearchResult, searchCommand } from "./search.js";
import { type TrainCommandResult, trainSupernetCommand } from "./train.js";

export interface PipelineOptions {
  out?: string;
  flops?: string;
  space?: string;
  config?: string;
  data?: string;
  dataDir?: string;
  epochs?: string | number;
  flopsRange?: string;
  population?: string | number;
  generations?: string | number;
  valImages?: string | number;
  workers?: string | number;
  seed?: string | number;
  force?: boolean;
  backend?: string;
}

/**
 * Search settings that fit the 10-minute budget on 2 cores with the supernet recipe's epochs
 * (docs/BENCHMARKS.md, "The main job"); candidates are scored on every validation image.
 */
export const PIPELINE_DEFAULTS = {
  out: "runs/pipeline",
  flops: "25M",
  population: 16,
  generations: 6,
  parents: 5,
  mutations: 6,
  crossovers: 6,
};

export async function pipelineCommand(
  opts: PipelineOptions,
  io: Io,
): Promise<{
  train: TrainCommandResult;
  search: SearchResult;
  export: ExportResult;
  seconds: number;
  /** What the run left to look at, in order: [what it is, path]. */
  reports: [string, string][];
}> {
  const t0 = performance.now();
  const out = opts.out ?? PIPELINE_DEFAULTS.out;
  const step = (n: number, what: string) => io.err(`psvit: [${n}/3] ${what}`);
  step(1, "train-supernet");
  let train: TrainCommandResult;
  try {
    train = await trainSupernetCommand(
      {
        out,
        space: opts.space,
        config: opts.config,
        data: opts.data,
        dataDir: opts.dataDir,
        epochs: opts.epochs,
        // the search picks only paths within the budget: train those (194 vs 135 images/s for the whole
        // fmnist-2d space, BENCHMARKS "The main job"; and every step trains weights a candidate inherits)
        flopsRange: opts.flopsRange ?? `:${opts.flops ?? PIPELINE_DEFAULTS.flops}`,
        seed: opts.seed,
        force: opts.force,
        backend: opts.backend,
      },
      io,
    );
  } catch (e) {
    if (e instanceof UsageError && /already holds a run/.test(e.message)) {
      throw new UsageError(
        `${out} already holds a run: add --force to start the pipeline over, or use --out`,
      );
    }
    throw e;
  }
  step(2, `search under ${opts.flops ?? PIPELINE_DEFAULTS.flops}FLOPs`);
  const search = await searchCommand(
    {
      run: out,
      flops: opts.flops ?? PIPELINE_DEFAULTS.flops,
      population: opts.population ?? PIPELINE_DEFAULTS.population,
      generations: opts.generations ?? PIPELINE_DEFAULTS.generations,
      parents: PIPELINE_DEFAULTS.parents,
      mutations: PIPELINE_DEFAULTS.mutations,
      crossovers: PIPELINE_DEFAULTS.crossovers,
      valImages: opts.valImages, // default: every validation image
      workers: opts.workers,
      seed: opts.seed,
      backend: opts.backend,
    },
    io,
  );
  step(3, "export");
  const exported = await exportCommand({ run: out, backend: opts.backend }, io);
  const seconds = (performance.now() - t0) / 1000;
  // the pages to look at (the training curves, the search's Pareto plot), then the export's summary
  const searchReport = join(dirname(train.report), `search-${search.strategy}`, "report.html");
  const listed: [string, string | null][] = [
    ["supernet training report", train.report],
    ["search report", searchReport],
    ["export summary", exported.summary],
  ];
  const reports = listed.filter((r): r is [string, string] => r[1] !== null && existsSync(r[1]));
  const width = Math.max(...reports.map(([what]) => what.length));
  io.out(
    [
      `pipeline finished in ${formatDuration(seconds)}: ${exported.config}`,
      ...reports.map(([what, file]) => `  ${`${what}:`.padEnd(width + 1)} ${file}`),
    ].join("\n"),
  );
  return { train, search, export: exported, seconds, reports };
}
