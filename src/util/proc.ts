/**
 * Facts about processes on this host that the lock (lock.ts) and the clean-up of a killed run's
 * debris (debris.ts) need: is a pid alive, when did a process start (Linux /proc; elsewhere unknown).
 */
import { readdirSync, readFileSync } from "node:fs";

/** Is `pid` a live process on this host? (EPERM: alive, someone else's.) */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

let bootMs: number | null | undefined;
const CLOCK_TICKS = 100; // USER_HZ: 100 on Linux; checked against this process below

function rawStartMs(pid: number): number | undefined {
  try {
    if (bootMs === undefined) {
      const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
      bootMs = btime ? Number(btime[1]) * 1000 : null;
    }
    if (bootMs === null) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after "(comm)": state is field 3, starttime field 22
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? bootMs + (ticks * 1000) / CLOCK_TICKS : undefined;
  } catch {
    return undefined;
  }
}

let startTimesWork: boolean | undefined;
/**
 * When process `pid` started (ms since the epoch, ±1 s), from /proc; undefined where there is no /proc
 * or the process is gone (or when this process's own start time does not come out right).
 */
export function processStartMs(pid: number): number | undefined {
  if (startTimesWork === undefined) {
    const own = rawStartMs(process.pid);
    startTimesWork = own !== undefined && Math.abs(own - (Date.now() - process.uptime() * 1000)) < 5000;
  }
  return startTimesWork ? rawStartMs(pid) : undefined;
}

/** Pids of the live processes (from /proc; empty where there is none). */
export function livePids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
}

/** Slack for comparing times from /proc (1 s resolution) with file times. */
export const CLOCK_SLACK_MS = 5000;
