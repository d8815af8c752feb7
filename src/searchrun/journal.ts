/**
 * The search journal, candidates.jsonl: one line per evaluated candidate, appended and flushed as soon as
 * its accuracy is known. A resumed search reads it back so nothing is evaluated twice. A line cut short
 * by a crash is skipped (and counted); `sealJournal` ends such a line so later appends stay parseable.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import type { Evaluated } from "../search/evolution.js";

/** Every line of a JSONL journal that parses and passes `valid`; the others are counted as skipped. */
export function readJsonl<T>(file: string, valid: (x: unknown) => x is T): { entries: T[]; skipped: number } {
  const entries: T[] = [];
  let skipped = 0;
  if (!existsSync(file)) return { entries, skipped };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const e: unknown = JSON.parse(line);
      if (valid(e)) entries.push(e);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { entries, skipped };
}

const isEvaluated = (e: unknown): e is Evaluated =>
  typeof e === "object" &&
  e !== null &&
  typeof (e as Evaluated).arch === "string" &&
  typeof (e as Evaluated).accuracy === "number";

/** The search journal, keyed by architecture string. */
export function readJournal(file: string): { entries: Map<string, Evaluated>; skipped: number } {
  const { entries, skipped } = readJsonl(file, isEvaluated);
  return { entries: new Map(entries.map((e) => [e.arch, e])), skipped };
}

/** Make sure the file ends with a newline (a crash may have cut the last line). */
export function sealJournal(file: string): void {
  if (!existsSync(file)) return;
  const text = readFileSync(file, "utf8");
  if (text.length > 0 && !text.endsWith("\n")) appendFileSync(file, "\n");
}
