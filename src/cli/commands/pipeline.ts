/**
 * `psvit pipeline`: the whole mission in one command — train the supernet, search it under a FLOPs
 * budget, export the winner — on the embedded Fashion-MNIST subset by default, sized to finish in about
 * 10 minutes on 2 cores. Every step is the same domain run as its own command (src/train/run.ts,
 * src/searchrun/run.ts, src/searchrun/export.ts) with its own run files and the same printed summary, so
 * any step can be re-run, resumed or continued by hand.
 */
import { existsSync } from "node:fs";
import { loadSpaceConfig } from "../../config/load.js";
import { UsageError } from "../../errors.js";
import { type ExportResult, exportArchitecture } from "../../searchrun/export.js";
import { resolveSearchOptions } from "../../searchrun/options.js";
import { runSearch, type SearchRunResult } from "../../searchrun/run.js";
import { checkSatisfiable, parseFlopsRange } from "../../space/sample.js";
import { type TrainRunResult, trainSupernet } from "../../train/run.js";
import { DEFAULT_SPACE, packagePath } from "../../util/package.js";
import { formatDuration } from "../../util/progress.js";
import { parseQuantity } from "../../util/units.js";
import { intOption, parseSampling, positiveOption } from "../common.js";
import type { Io } from "../io.js";
import { exportSummary, searchSummary, shellWord, trainSummary } from "../summaries.js";

export interface PipelineOptions {
  out?: string;
  flops?: string;
  space?: string;
  config?: string;
  data?: string;
  dataDir?: string;
  skipBadImages?: boolean;
  epochs?: string | number;
  flopsRange?: string;
  /** How the supernet's step paths are drawn: uniform (default) or fair. */
  sampling?: string;
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
  train: TrainRunResult;
  search: SearchRunResult;
  export: ExportResult;
  seconds: number;
  /** What the run left to look at, in order: [what it is, path]. */
  reports: [string, string][];
}> {
  const t0 = performance.now();
  const out = opts.out ?? PIPELINE_DEFAULTS.out;
  const flops = opts.flops ?? PIPELINE_DEFAULTS.flops;
  const tty = io.isTTY && process.stderr.isTTY;
  // every flag is parsed before anything runs
  const maxFlops = parseQuantity(flops, "--flops");
  const space = loadSpaceConfig(opts.space ?? packagePath(DEFAULT_SPACE));
  // the search picks only paths within the budget: train those (194 vs 135 images/s for the whole
  // fmnist-2d space, BENCHMARKS "The main job"; and every step trains weights a candidate inherits)
  const rangeText = opts.flopsRange ?? `:${flops}`;
  const flopsRange = parseFlopsRange(rangeText, (t) => parseQuantity(t, "--flops-range"));
  checkSatisfiable(space, flopsRange, `--flops-range ${rangeText}`);
  const seed = intOption(opts.seed, "--seed", 0);
  const workers = intOption(opts.workers, "--workers", 0);
  const options = resolveSearchOptions(
    {
      population: intOption(opts.population, "--population") ?? PIPELINE_DEFAULTS.population,
      generations: intOption(opts.generations, "--generations") ?? PIPELINE_DEFAULTS.generations,
      parents: PIPELINE_DEFAULTS.parents,
      mutations: PIPELINE_DEFAULTS.mutations,
      crossovers: PIPELINE_DEFAULTS.crossovers,
    },
    "evolution",
  );
  const valImages = intOption(opts.valImages, "--val-images"); // default: every validation image
  const epochs = positiveOption(opts.epochs, "--epochs");
  const sampling = parseSampling(opts.sampling);

  const step = (n: number, what: string) => io.err(`psvit: [${n}/3] ${what}`);
  step(1, "train-supernet");
  let train: TrainRunResult;
  try {
    train = await trainSupernet({
      out,
      space,
      flopsRange,
      sampling,
      recipeFile: opts.config,
      data: opts.data,
      dataDir: opts.dataDir,
      skipBadImages: opts.skipBadImages,
      epochs,
      seed,
      force: opts.force,
      backend: opts.backend,
      resumeCommand: ["psvit", "train-supernet", "--out", out, "--resume"]
        .concat(opts.backend !== undefined ? ["--backend", opts.backend] : [])
        .map(shellWord)
        .join(" "),
      // what run.json records: the flags of the equivalent train-supernet command
      args: {
        out,
        space: opts.space,
        config: opts.config,
        data: opts.data,
        dataDir: opts.dataDir,
        skipBadImages: opts.skipBadImages,
        epochs: opts.epochs,
        flopsRange: rangeText,
        sampling: opts.sampling,
        seed: opts.seed,
        force: opts.force,
        backend: opts.backend,
      },
      tty,
      note: (line) => io.err(line),
    });
  } catch (e) {
    if (e instanceof UsageError && /already holds a run/.test(e.message)) {
      throw new UsageError(
        `${out} already holds a run: add --force to start the pipeline over, or use --out`,
      );
    }
    throw e;
  }
  io.out(trainSummary(train));
  step(2, `search under ${flops}FLOPs`);
  const search = await runSearch({
    run: out,
    strategy: "evolution",
    search: {
      constraint: { maxFlops },
      flopsText: flops,
      options,
      seed: seed ?? 0,
      valImages,
      workers,
    },
    workers,
    backend: opts.backend,
    tty,
  });
  io.out(searchSummary(search, search.runDir, search.report));
  step(3, "export");
  const exported = await exportArchitecture({ run: out, backend: opts.backend });
  io.out(exportSummary(exported));
  const seconds = (performance.now() - t0) / 1000;
  // the pages to look at (the training curves, the search's Pareto plot), then the export's summary
  const listed: [string, string | null][] = [
    ["supernet training report", train.report],
    ["search report", search.report],
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
