/**
 * What a killed psvit leaves behind, removed at the next start. Only psvit's own, by names it owns:
 * - `<file>.tmp-<pid>-<hex>` (writeFileAtomic's temporary files, e.g. a checkpoint cut short by a
 *   kill) in a run's folders, once process <pid> is gone;
 * - `psvit-wasm-*` folders (the wasm backend's thread scripts, src/engine/wasm-threads.ts) in the
 *   system temp folder: one that names its pid (`psvit-wasm-<pid>-XXXXXX`) once that process is gone;
 *   one that does not (`psvit-wasm-XXXXXX`) when it is older than every live Node.js process, so it
 *   cannot be a running psvit's (where /proc tells; elsewhere it stays).
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { CLOCK_SLACK_MS, livePids, pidAlive, processStartMs } from "./proc.js";

/** writeFileAtomic's temporary files: `<file>.tmp-<pid>-<8 hex digits>` (group 1: the writer's pid). */
export const TEMP_FILE_RE = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/** A fresh temporary name beside `file` (see TEMP_FILE_RE). */
export function tempFileFor(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Remove the temporary files of dead writers in `dirs` (not recursive). Returns the paths removed. */
export function removeStaleTempFiles(...dirs: string[]): string[] {
  const removed: string[] = [];
  for (const dir of dirs) {
    for (const name of entries(dir)) {
      const m = TEMP_FILE_RE.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid || pidAlive(pid)) continue;
      try {
        rmSync(join(dir, name), { force: true });
        removed.push(join(dir, name));
      } catch {
        // best effort: a read-only run is reported by whatever writes to it next
      }
    }
  }
  return removed;
}

export const WASM_DIR_RE = /^psvit-wasm-(?:(\d+)-)?[A-Za-z0-9]{6}$/;

/** Could process `pid` be a psvit (a Node.js process, or one that names psvit)? */
function maybePsvit(pid: number): boolean {
  try {
    if (basename(readlinkSync(`/proc/${pid}/exe`)).startsWith("node")) return true;
  } catch {
    // another user's process, or gone: look at its command line
  }
  try {
    return /node|psvit/.test(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
  } catch {
    return false;
  }
}

/** Start time of the oldest live process that could be a psvit; undefined where it cannot be told. */
function oldestPsvitStart(): number | undefined {
  if (processStartMs(process.pid) === undefined) return undefined;
  let oldest = Number.POSITIVE_INFINITY;
  for (const pid of livePids()) {
    if (!maybePsvit(pid)) continue;
    const start = processStartMs(pid);
    if (start !== undefined && start < oldest) oldest = start;
  }
  return Number.isFinite(oldest) ? oldest : undefined;
}

/** Remove the `psvit-wasm-*` folders of dead processes from `dir` (the system temp folder). */
export function removeStaleWasmDirs(dir: string = tmpdir()): string[] {
  const removed: string[] = [];
  let oldest: number | undefined | null = null; // computed when first needed
  const uid = process.getuid?.();
  for (const name of entries(dir)) {
    const m = WASM_DIR_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    let stale: boolean;
    try {
      const st = statSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      if (m[1] !== undefined) {
        const pid = Number(m[1]);
        const start = processStartMs(pid);
        // a pid that lives but started after the folder was made is another process now
        stale =
          pid !== process.pid &&
          (!pidAlive(pid) || (start !== undefined && start > st.mtimeMs + CLOCK_SLACK_MS));
      } else {
        if (oldest === null) oldest = oldestPsvitStart();
        stale = oldest !== undefined && st.mtimeMs < oldest - CLOCK_SLACK_MS;
      }
    } catch {
      continue;
    }
    if (!stale) continue;
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // best effort
    }
  }
  return removed;
}
