/** Shared test helpers (no tfjs). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;

export function readJson<T = unknown>(rel: string): T {
  return JSON.parse(readFileSync(join(ROOT, rel), "utf8")) as T;
}

export function tempDir(prefix = "psvit-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write `value` as JSON into a fresh temp dir and return the file path. */
export function writeTempJson(name: string, value: unknown): string {
  const file = join(tempDir(), name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** A deep copy with `edit` applied (for making invalid variants of a valid config). */
export function variant<T>(base: T, edit: (c: any) => void): T {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}

/** The pid of a process that has ended (for stale locks and temporary files). */
export function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

/** A lock file (src/util/lock.ts) as another process `pid` would have written it just now. */
export function writeLock(file: string, pid: number, host = hostname()): void {
  const started = new Date().toISOString();
  writeFileSync(file, `${JSON.stringify({ pid, host, started, command: "psvit search --run x" })}\n`);
}
