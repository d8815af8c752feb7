/** `psvit worker` processes for the queue tests (bin/psvit: run `npm run build` first). */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../helpers.js";

const children: ChildProcess[] = [];

/** Killed (SIGKILL) by `killAll()` at the end of a test file. */
export function track(child: ChildProcess): void {
  children.push(child);
}

export function killAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
}

export interface WorkerProc {
  child: ChildProcess;
  log(): string;
  /** Candidates this worker finished (its "ARCH: xx% in" lines). */
  evaluated(): string[];
  exited: Promise<number | null>;
}

export async function startWorker(
  url: string,
  artifacts: string,
  env: Record<string, string> = {},
  extra: string[] = [],
): Promise<WorkerProc> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "bin/psvit"),
      "worker",
      "--queue",
      url,
      "--artifacts",
      artifacts,
      "--lock-ms",
      "1000",
      ...extra,
    ],
    { env: { ...process.env, PSVIT_LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  track(child);
  let log = "";
  child.stdout!.on("data", (d) => {
    log += d;
  });
  child.stderr!.on("data", (d) => {
    log += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (Date.now() - t0 > 30_000) {
        clearInterval(t);
        reject(new Error(`worker did not start in 30 s:\n${log}`));
      } else if (log.includes("takes jobs from")) {
        clearInterval(t);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`worker exited ${child.exitCode}:\n${log}`));
      }
    }, 50);
  });
  return {
    child,
    log: () => log,
    evaluated: () => [...log.matchAll(/([BSI]{2}-[BSI]{2}): [\d.]+% in/g)].map((m) => m[1]),
    exited,
  };
}
