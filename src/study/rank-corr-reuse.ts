/**
 * `rank-corr --scratch-from STUDY`: reuse another supernet's finished study (its subnets, settings and
 * from-scratch accuracies), after checking that both supernets saw the same space, data and
 * preprocessing.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { UsageError } from "../errors.js";
import { readJsonl } from "../searchrun/journal.js";
import type { RunDir, RunSnapshot } from "../train/rundir.js";
import { isSample, type RankCorrSample, type RankCorrSnapshot } from "./rank-corr-types.js";

/**
 * `--scratch-from STUDY`: a finished study of another supernet of the same space, data and
 * preprocessing; the new study takes its subnets, epochs, seeds and validation set and trains nothing,
 * so several supernets are ranked against one ground truth.
 */
export function planFrom(from: string, snap: RunSnapshot, run: RunDir): RankCorrSnapshot {
  const dir = resolve(from);
  const file = join(dir, "rank-corr.json");
  if (!existsSync(file)) {
    throw new UsageError(`--scratch-from ${from}: not a rank-corr study folder (no rank-corr.json in it)`);
  }
  const source = JSON.parse(readFileSync(file, "utf8")) as RankCorrSnapshot;
  if (source.scratchFrom) {
    throw new UsageError(
      `--scratch-from ${from}: that study reuses ${source.scratchFrom}'s from-scratch accuracies; name that one instead`,
    );
  }
  const sourceRun = join(dir, "..", "run.json");
  if (!existsSync(sourceRun))
    throw new UsageError(`--scratch-from ${from}: no run.json in the folder above it`);
  const other = JSON.parse(readFileSync(sourceRun, "utf8")) as RunSnapshot;
  for (const [what, a, b] of [
    ["search space", other.space, snap.space],
    ["data", dataIdentity(other), dataIdentity(snap)],
    ["preprocessing", other.preprocess, snap.preprocess],
  ] as const) {
    if (canonical(a) !== canonical(b)) {
      throw new UsageError(
        `--scratch-from ${from}: its supernet was trained with another ${what} than ${run.dir}'s; the accuracies would not compare`,
      );
    }
  }
  const ckpt = run.latestCheckpoint();
  if (!ckpt) throw new UsageError(`${run.dir} has no checkpoint yet: train the supernet first`);
  const settings: RankCorrSnapshot = {
    ...source,
    created: new Date().toISOString(),
    checkpoint: { step: ckpt.step, file: relative(run.dir, ckpt.file) },
    scratchFrom: dir,
  };
  scratchSource(dir, settings); // every subnet must be finished there
  return settings;
}

/** The reused study's journal, checked complete (every subnet, every seed). */
export function scratchSource(
  dir: string,
  settings: RankCorrSnapshot,
): { byArch: Map<string, RankCorrSample> } {
  const journal = join(dir, "samples.jsonl");
  const { entries } = existsSync(journal)
    ? readJsonl(journal, isSample)
    : { entries: [] as RankCorrSample[] };
  const byArch = new Map(entries.map((e) => [e.arch, e]));
  const seeds = settings.scratchSeeds ?? 1;
  const missing = settings.plan.filter((p) => {
    const e = byArch.get(p.arch);
    return !e || (e.scratchBySeed?.length ?? 1) < seeds;
  });
  if (missing.length) {
    throw new UsageError(
      `--scratch-from ${dir}: ${missing.length} of its ${settings.plan.length} subnets are not finished (first: ${missing[0].arch}); finish it with psvit rank-corr --resume first`,
    );
  }
  return { byArch };
}

/** What makes two runs' data the same (where its files are does not). */
function dataIdentity(s: RunSnapshot): unknown {
  const { location: _where, ...info } = s.data.info;
  return info;
}

/** JSON with sorted keys: equal for equal data whatever the key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
}
