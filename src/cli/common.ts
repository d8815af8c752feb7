/**
 * What the commands share when they parse flags: numbers from flag values, and the one rule for which
 * flags `--resume` refuses. (The work itself lives in the domain modules the commands call.)
 */
import { UsageError } from "../errors.js";
import { parseQueueUrl, type QueueAddress } from "../queue/url.js";
import { SAMPLING_MODES, type SamplingMode } from "../space/sample.js";

/** An integer flag value ≥ `min`. */
export function intOption(value: string | number | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** A positive number (epochs may be fractional: 0.25 trains a quarter of one pass). */
export function positiveOption(value: string | number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: expected a number > 0, got ${JSON.stringify(value)}`);
  return n;
}

/** `--flag-name` of an option key (`valImages` → `--val-images`). */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The rule of every command that resumes (train, train-supernet, search, rank-corr): `--resume` continues
 * with the settings its run recorded (`settingsFile`), so the flags in `fixed` that were given are refused,
 * all named in one line; and `--resume` with `--force` is refused (one continues, the other replaces).
 */
export function checkResumeFlags(
  opts: { resume?: boolean; force?: boolean } & Record<string, unknown>,
  fixed: readonly string[],
  settingsFile: string,
): void {
  if (!opts.resume) return;
  if (opts.force) {
    throw new UsageError(
      "--resume and --force exclude each other: --resume continues the run, --force replaces it",
    );
  }
  const given = fixed.filter((k) => opts[k] !== undefined);
  if (given.length) {
    throw new UsageError(
      `--resume continues with the settings in ${settingsFile}; drop ${given.map(flagName).join(", ")}`,
    );
  }
}

/** `--sampling`: how the supernet's step paths are drawn. */
export function parseSampling(v: string | undefined): SamplingMode {
  if (v === undefined) return "uniform";
  if ((SAMPLING_MODES as readonly string[]).includes(v)) return v as SamplingMode;
  throw new UsageError(`--sampling: expected one of ${SAMPLING_MODES.join(", ")}, got ${JSON.stringify(v)}`);
}

/** --queue / PSVIT_QUEUE and --artifacts / PSVIT_ARTIFACTS, shared by the commands that queue jobs. */
export function queueFlags(
  opts: { queue?: string; artifacts?: string },
  required: boolean,
): { address: QueueAddress; artifacts: string } | undefined {
  const url = opts.queue ?? process.env.PSVIT_QUEUE;
  if (url === undefined || url === "") {
    if (required) throw new UsageError("--queue redis://HOST:PORT[/DB] is required (or set PSVIT_QUEUE)");
    return undefined;
  }
  const address = parseQueueUrl(url);
  const artifacts = opts.artifacts ?? process.env.PSVIT_ARTIFACTS;
  if (!artifacts) {
    throw new UsageError(
      "--queue needs --artifacts DIR (or PSVIT_ARTIFACTS): a folder the driver and its workers share, where the inputs of the jobs are published",
    );
  }
  return { address, artifacts };
}
