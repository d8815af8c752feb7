/**
 * `psvit rank-corr --run DIR --samples 12 [--epochs E]`: flags → src/study/rank-corr.ts (the study) →
 * Kendall's τ-b, Spearman's ρ and the table of subnets.
 */
import { UsageError } from "../../errors.js";
import { checkStudyName, DEFAULT_STUDY, type RankCorrResult, rankCorrStudy } from "../../study/rank-corr.js";
import { parseQuantity } from "../../util/units.js";
import { checkResumeFlags, flagName, intOption, positiveOption, queueFlags } from "../common.js";
import type { Io } from "../io.js";
import { rankCorrSummary } from "../summaries.js";

export type { RankCorrResult, RankCorrSample, RankCorrSnapshot } from "../../study/rank-corr.js";

export interface RankCorrCommandOptions {
  run: string;
  name?: string;
  scratchFrom?: string;
  queue?: string;
  artifacts?: string;
  samples?: string | number;
  epochs?: string | number;
  seed?: string | number;
  valImages?: string | number;
  flops?: string;
  sampling?: string;
  scratchSeeds?: string | number;
  backend?: string;
  resume?: boolean;
  force?: boolean;
  json?: boolean;
  /** Tests: log level of the console logger. */
  logLevel?: string;
  /** Tests: batches prepared ahead (0: synchronous). */
  prefetch?: number;
  /** Tests: stop as if interrupted after this many subnets of this process. */
  stopAfterSamples?: number;
  /** Tests: stop as if interrupted after this many training steps of a subnet. */
  stopAfterSteps?: number;
}

/** The flags rank-corr.json fixes: `--resume` refuses them. */
const FIXED_ON_RESUME = [
  "samples",
  "epochs",
  "seed",
  "valImages",
  "flops",
  "sampling",
  "scratchSeeds",
] as const;

function parseSampling(v: string | undefined): "strata" | "band" | undefined {
  if (v === undefined || v === "strata" || v === "band") return v;
  throw new UsageError(`--sampling: expected strata or band, got ${JSON.stringify(v)}`);
}

export async function rankCorrCommand(opts: RankCorrCommandOptions, io: Io): Promise<RankCorrResult> {
  const name = checkStudyName(opts.name ?? DEFAULT_STUDY);
  checkResumeFlags(opts as unknown as Record<string, unknown>, FIXED_ON_RESUME, `${name}/rank-corr.json`);
  if (opts.scratchFrom !== undefined) {
    if (opts.resume)
      throw new UsageError(
        `--resume continues with the settings in ${name}/rank-corr.json; drop --scratch-from`,
      );
    const given = FIXED_ON_RESUME.filter((k) => opts[k] !== undefined);
    if (given.length) {
      throw new UsageError(
        `--scratch-from takes the subnets and their settings from ${opts.scratchFrom}; drop ${given.map(flagName).join(", ")}`,
      );
    }
  }
  const { report, ...result } = await rankCorrStudy({
    run: opts.run,
    name,
    scratchFrom: opts.scratchFrom,
    queue: queueFlags(opts, false),
    samples: intOption(opts.samples, "--samples", 3),
    epochs: positiveOption(opts.epochs, "--epochs"),
    seed: intOption(opts.seed, "--seed", 0),
    valImages: intOption(opts.valImages, "--val-images"),
    maxFlops: opts.flops === undefined ? undefined : parseQuantity(opts.flops, "--flops"),
    flopsText: opts.flops,
    sampling: parseSampling(opts.sampling),
    scratchSeeds: intOption(opts.scratchSeeds, "--scratch-seeds"),
    backend: opts.backend,
    resume: opts.resume,
    force: opts.force,
    tty: io.isTTY && process.stderr.isTTY,
    logLevel: opts.logLevel,
    prefetch: opts.prefetch,
    stopAfterSamples: opts.stopAfterSamples,
    stopAfterSteps: opts.stopAfterSteps,
  });
  io.out(opts.json ? JSON.stringify(result) : rankCorrSummary(result, report));
  return result;
}
