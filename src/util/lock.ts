/**
 * One writer per run: a lock file created exclusively (`wx`) that records who holds it (pid, host,
 * start time, command). A second psvit that wants the same lock is refused with one line naming the
 * holder (LockedError, exit 2). A lock whose holder is gone — same host and its pid is not alive (or is
 * now a younger process) — is stale: it is taken over with a warning. The holder releases it when the
 * command ends, when the process exits (normally, on an error, by process.exit) and on a signal that
 * nothing else handles; a kill -9 leaves it, and the next start finds it stale.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { LockedError } from "../errors.js";
import { log } from "./log.js";
import { CLOCK_SLACK_MS, pidAlive, processStartMs } from "./proc.js";

/** What a lock file holds (JSON). */
export interface LockInfo {
  pid: number;
  host: string;
  /** When the lock was taken (ISO time). */
  started: string;
  /** The holder's command line (psvit's arguments), for the message. */
  command: string;
}

export interface Lock {
  readonly file: string;
  /** Remove the lock file (if it is still this process's); idempotent. */
  release(): void;
}

/** Lock files this process holds, so its own pid in a lock file is told from an earlier process's. */
const held = new Map<string, string>();
let exitHookInstalled = false;

function releaseAll(): void {
  for (const [file, token] of held) releaseFile(file, token);
}

function releaseFile(file: string, token: string): void {
  if (held.get(file) !== token) return;
  held.delete(file);
  try {
    if (readFileSync(file, "utf8") === token) rmSync(file, { force: true });
  } catch {
    // gone already, or the directory is gone
  }
}

/** Release every lock on exit and on a SIGINT/SIGTERM/SIGHUP that no other listener handles. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", releaseAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      // psvit's stop handlers (util/signals.ts) finish the step and end the command, which releases
      if (process.listenerCount(signal) > 1) return;
      releaseAll();
      process.off(signal, onSignal);
      process.kill(process.pid, signal); // the default action: end with the signal
    };
    process.on(signal, onSignal);
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(file, "utf8")) as LockInfo;
    return typeof info.pid === "number" && typeof info.host === "string" ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Why the lock in `file` (held by `info`) is stale, or undefined while its holder may be alive. */
function staleReason(file: string, info: LockInfo | undefined): string | undefined {
  if (info === undefined) {
    // unreadable: a holder killed between creating and writing it, or one writing it right now
    let age = 0;
    try {
      age = Date.now() - statSync(file).mtimeMs;
    } catch {
      return "it is gone";
    }
    return age > 10_000 ? "it is empty or unreadable" : undefined;
  }
  if (info.host !== hostname()) return undefined; // another machine's process: cannot tell
  if (info.pid === process.pid) return held.has(file) ? undefined : "it was left by an earlier process";
  if (!pidAlive(info.pid)) return `process ${info.pid} is no longer running`;
  const since = Date.parse(info.started);
  const start = processStartMs(info.pid);
  if (start !== undefined && Number.isFinite(since) && start > since + CLOCK_SLACK_MS) {
    return `process ${info.pid} is no longer running (its pid belongs to a younger process now)`;
  }
  return undefined;
}

/**
 * Take the lock `file` for `what` (e.g. "the run directory runs/x"): create it exclusively, or take
 * over a stale one (warning through `warn`). Throws LockedError when a live process holds it, and
 * the file-system error when `file` cannot be created (a read-only or missing directory).
 */
export function acquireLock(
  file: string,
  what: string,
  warn: (message: string) => void = (m) => log().warn(m),
): Lock {
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: ["psvit", ...process.argv.slice(2)].join(" "),
  };
  const token = `${JSON.stringify(info)}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, token, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw e;
    }
    const holder = readLock(file);
    const stale = staleReason(file, holder);
    if (stale === undefined) {
      const who = holder
        ? `pid ${holder.pid} on ${holder.host}, since ${holder.started}${holder.command ? `: ${holder.command}` : ""}`
        : "a process that is starting";
      throw new LockedError(
        `${what} is in use by another psvit (${who}); wait for it to end, or delete ${file} if that process is gone`,
      );
    }
    warn(`taking over the stale lock ${file} (${stale})`);
    rmSync(file, { force: true });
  }
  held.set(file, token);
  installExitHook();
  return { file, release: () => releaseFile(file, token) };
}
