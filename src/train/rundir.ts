/**
 * A run directory: everything a training run leaves behind, laid out so a run can be inspected,
 * resumed and exported.
 *
 *   run.json            snapshot: command, arguments, space/model, recipe, data, versions, backend, seed
 *   metrics.jsonl       one JSON object per logged step and per evaluation (appended, flushed)
 *   log.jsonl           the pino JSON log
 *   report.html         the training curves (src/train/report.ts), rewritten after every epoch
 *   checkpoints/        step-00000123.ckpt.safetensors, the last `keep` of them
 *
 * Files are written to a temporary name and renamed, so a crash never leaves a half-written file under
 * a real name (and a resumed run removes the temporary files a killed one left). Starting into a
 * non-empty directory without --resume is refused; --force replaces a previous psvit run (and only
 * that). With `lock`, the directory is locked for this process (.psvit-train.lock, src/util/lock.ts):
 * a second writer is refused until `unlock()` or the end of the process.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import type { Recipe } from "../config/recipe.js";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import type { DataInfo } from "../data/resolve.js";
import type { Preprocess } from "../data/types.js";
import { UsageError } from "../errors.js";
import type { SamplingMode } from "../space/sample.js";
import type { Constraint } from "../space/stats.js";
import { removeStaleTempFiles } from "../util/debris.js";
import { writeFileAtomic } from "../util/fs.js";
import { acquireLock, type Lock } from "../util/lock.js";
import { versions } from "../version.js";

export const RUN_FILE = "run.json";
/** The lock of a training run (train, train-supernet) in its directory. */
export const TRAIN_LOCK = ".psvit-train.lock";
/** What run.json records (its one owner is this module); `--resume` rebuilds the run from it. */
export interface RunSnapshot {
  kind: "psvit.run";
  version: 1;
  command: "train-supernet" | "train";
  created: string;
  seed: number;
  space?: SpaceConfig;
  model?: ModelConfig;
  recipe: Recipe;
  flopsRange: Constraint | null;
  /** How a supernet's step paths are drawn (absent in older runs: uniform). */
  sampling?: SamplingMode;
  data: { spec: string | null; dataDir: string | null; info: DataInfo; skipBadImages?: boolean };
  /** The normalisation the run trains with (the training split's, or the model config's own). */
  preprocess: Preprocess;
  evalPaths: { label: string; arch: string | null; flops: number }[];
  versions: Record<string, string>;
  backend: { name: string; reason: string };
  args: Record<string, unknown>;
  finished?: FinishedRecord;
}

/** run.json's record of a finished training. */
export interface FinishedRecord {
  steps: number;
  images_per_sec: number;
  data_wait_ms: number;
  seconds: number;
  last_eval: unknown;
}

/** The one constructor of run.json's contents: kind, version, creation time and versions filled in. */
export function newRunSnapshot(
  fields: Omit<RunSnapshot, "kind" | "version" | "created" | "versions" | "finished">,
): RunSnapshot {
  const { command, seed, ...rest } = fields;
  const created = new Date().toISOString();
  return { kind: "psvit.run", version: 1, command, created, seed, ...rest, versions: versions() };
}

/** The `finished` record of a training that ran `seconds`. */
export function finishedRecord(
  r: { steps: number; imagesPerSec: number; dataWaitMs: number; lastEval: unknown },
  seconds: number,
): FinishedRecord {
  return {
    steps: r.steps,
    images_per_sec: r.imagesPerSec,
    data_wait_ms: r.dataWaitMs,
    seconds,
    last_eval: r.lastEval,
  };
}

const CKPT_RE = /^step-(\d{8})\.ckpt\.safetensors$/;

export interface OpenOptions {
  resume?: boolean;
  force?: boolean;
  /** Lock the directory for this process (refused while another process holds it). */
  lock?: boolean;
}

export class RunDir {
  private lock: Lock | undefined;
  private constructor(readonly dir: string) {}

  /** Open `dir` for a new run (creating it) or, with `resume`, for continuing the run in it. */
  static open(dir: string, opts: OpenOptions = {}): RunDir {
    const abs = resolve(dir);
    const exists = existsSync(abs);
    if (exists && !statSync(abs).isDirectory()) throw new UsageError(`${dir}: not a directory`);
    const isRun = exists && existsSync(join(abs, RUN_FILE));
    if (opts.resume && !isRun) {
      throw new UsageError(`${dir}: nothing to resume (no ${RUN_FILE}); start a run there without --resume`);
    }
    const run = new RunDir(abs);
    if (opts.lock) {
      mkdirSync(abs, { recursive: true });
      run.lock = acquireLock(join(abs, TRAIN_LOCK), `the run directory ${dir}`);
    }
    try {
      if (opts.resume) {
        // a killed run's half-written checkpoint or JSON (the lock, when taken, says no one writes them)
        removeStaleTempFiles(abs, join(abs, "checkpoints"));
        return run;
      }
      const entries = RunDir.checkFresh(dir, opts);
      for (const entry of entries) rmSync(join(abs, entry), { recursive: true, force: true });
      mkdirSync(join(abs, "checkpoints"), { recursive: true });
      return run;
    } catch (e) {
      run.unlock();
      throw e;
    }
  }

  /**
   * Whether a fresh run may be written to `dir`, touching nothing: refused when it is not empty and not
   * a psvit run, or holds a run and `force` is not set. Returns the entries a fresh run replaces.
   */
  static checkFresh(dir: string, opts: { force?: boolean } = {}): string[] {
    const abs = resolve(dir);
    if (existsSync(abs) && !statSync(abs).isDirectory()) throw new UsageError(`${dir}: not a directory`);
    const entries = existsSync(abs) ? readdirSync(abs).filter((e) => e !== TRAIN_LOCK) : [];
    if (entries.length > 0) {
      if (!existsSync(join(abs, RUN_FILE))) {
        throw new UsageError(`${dir}: directory is not empty and is not a psvit run; choose another --out`);
      }
      if (!opts.force) {
        throw new UsageError(
          `${dir}: already holds a run; add --resume to continue it or --force to replace it, or choose another --out`,
        );
      }
    }
    return entries;
  }

  /** Release the lock taken by `open(…, { lock: true })` (idempotent). */
  unlock(): void {
    this.lock?.release();
    this.lock = undefined;
  }

  /** Open an existing run read-only (export, search, rank-corr). */
  static existing(dir: string): RunDir {
    const abs = resolve(dir);
    if (!existsSync(join(abs, RUN_FILE)))
      throw new UsageError(`${dir}: not a psvit run directory (no ${RUN_FILE})`);
    return new RunDir(abs);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.path(name), new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
  }

  readJson<T>(name: string): T {
    return JSON.parse(readFileSync(this.path(name), "utf8")) as T;
  }

  /** Append one JSON line to `name` (synchronously: it is on disk when this returns). */
  appendJsonl(name: string, value: unknown): void {
    appendFileSync(this.path(name), `${JSON.stringify(value)}\n`);
  }

  /** Checkpoint files, oldest first. */
  checkpoints(): { step: number; file: string }[] {
    const dir = this.path("checkpoints");
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((f) => CKPT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ step: Number(m[1]), file: join(dir, m[0]) }))
      .sort((a, b) => a.step - b.step);
  }

  latestCheckpoint(): { step: number; file: string } | undefined {
    return this.checkpoints().at(-1);
  }

  /** `file` as stored in the run's JSON: relative to the run directory, so a run can be moved or copied. */
  relativePath(file: string): string {
    return relative(this.dir, resolve(file));
  }

  /**
   * A checkpoint path stored in the run's JSON: relative to the run directory, or absolute (written by
   * older versions; when the run has moved since, its own checkpoint of that name).
   */
  storedCheckpoint(file: string): string {
    if (!isAbsolute(file)) return this.path(file);
    const own = this.path("checkpoints", basename(file));
    return !existsSync(file) && CKPT_RE.test(basename(file)) && existsSync(own) ? own : file;
  }

  checkpointPath(step: number): string {
    return this.path("checkpoints", `step-${String(step).padStart(8, "0")}.ckpt.safetensors`);
  }

  /** Delete all but the newest `keep` checkpoints. */
  prune(keep: number): void {
    const all = this.checkpoints();
    for (const c of all.slice(0, Math.max(0, all.length - keep))) rmSync(c.file, { force: true });
  }
}
