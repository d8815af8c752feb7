// Shared by the study scripts: run psvit commands as child processes, a few at a time, each on one wasm
// thread (two single-threaded jobs use a 2-core machine better than one job on two threads), logging
// to files, and read a run directory's metrics back.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { root } from "./args.mjs";

export const PSVIT = path.join(root, "bin/psvit");

/**
 * Run `jobs` ({ name, args, log, env?, cmd?, exec? }) with at most `parallel` at once; resolves to one
 * { name, code, seconds } per job, in the order given. A job whose `done()` returns true is skipped.
 * A job runs `node CMD ...args` (CMD: `cmd`, default bin/psvit), or with `exec` that program with `args`.
 */
export async function runJobs(jobs, parallel = 2, { threads = 1, onDone } = {}) {
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i];
      if (job.done?.()) {
        results[i] = { name: job.name, code: 0, seconds: null, skipped: true };
        onDone?.(results[i], job);
        continue;
      }
      mkdirSync(path.dirname(job.log), { recursive: true });
      const fd = openSync(job.log, "w");
      const t0 = performance.now();
      const code = await new Promise((resolve) => {
        const child = spawn(
          job.exec ?? process.execPath,
          job.exec ? job.args : [job.cmd ?? PSVIT, ...job.args],
          {
            cwd: root,
            stdio: ["ignore", fd, fd],
            env: { ...process.env, PSVIT_WASM_THREADS: String(threads), ...(job.env ?? {}) },
          },
        );
        child.on("exit", (c, sig) => resolve(c ?? (sig ? 128 : 1)));
        child.on("error", () => resolve(127)); // could not start (exec not found)
      });
      results[i] = { name: job.name, code, seconds: (performance.now() - t0) / 1000 };
      onDone?.(results[i], job);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
  return results;
}

/** The records of a run's metrics.jsonl. */
export function readMetrics(dir) {
  const file = path.join(dir, "metrics.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Mean and standard error of the mean. */
export function meanSe(xs) {
  const n = xs.length;
  if (n === 0) return { mean: NaN, se: NaN, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, se: sd / Math.sqrt(n), sd, n };
}

/** A run's training wall time in seconds: first to last line of its log.jsonl (null if fewer than 2). */
export function trainingSeconds(dir) {
  const log = path.join(dir, "log.jsonl");
  if (!existsSync(log)) return null;
  const times = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).time)
    .filter(Boolean);
  return times.length > 1 ? (times.at(-1) - times[0]) / 1000 : null;
}
