/**
 * The search journal, candidates.jsonl: one line per evaluated candidate, appended and flushed as soon as
 * its accuracy is known. A resumed search reads it back so nothing is evaluated twice. A line cut short
 * by a crash is skipped (and counted); `sealJournal` ends such a line so later appends stay parseable.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import type { Evaluated } from "./evolution.js";

export function readJournal(file: string): { entries: Map<string, Evaluated>; skipped: number } {
  const entries = new Map<string, Evaluated>();
  let skipped = 0;
  if (!existsSync(file)) return { entries, skipped };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as Evaluated;
      if (typeof e.arch === "string" && typeof e.accuracy === "number") entries.set(e.arch, e);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { entries, skipped };
}

/** Make sure the file ends with a newline (a crash may have cut the last line). */
export function sealJournal(file: string): void {
  if (!existsSync(file)) return;
  const text = readFileSync(file, "utf8");
  if (text.length > 0 && !text.endsWith("\n")) appendFileSync(file, "\n");
}
