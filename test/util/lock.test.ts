/** Issue 15, defect 8: one writer per run directory (src/util/lock.ts). */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LockedError } from "../../src/errors.js";
import { acquireLock } from "../../src/util/lock.js";
import { processStartMs } from "../../src/util/proc.js";
import { deadPid, ROOT, tempDir, writeLock } from "../helpers.js";

describe("run locks", () => {
  it("records pid, host, start time and command; released once", () => {
    const file = join(tempDir(), ".psvit-train.lock");
    const lock = acquireLock(file, "the run directory x");
    const info = JSON.parse(readFileSync(file, "utf8"));
    expect(info).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Math.abs(Date.parse(info.started) - Date.now())).toBeLessThan(10_000);
    expect(info.command).toMatch(/^psvit/);
    // a second writer in this process is refused too
    expect(() => acquireLock(file, "the run directory x")).toThrow(LockedError);
    lock.release();
    expect(existsSync(file)).toBe(false);
    lock.release();
    acquireLock(file, "the run directory x").release();
  });

  it("a live holder (another process) is refused with one line naming it", () => {
    const file = join(tempDir(), ".psvit-train.lock");
    writeLock(file, process.ppid); // the test runner: alive, not us
    const err = (() => {
      try {
        acquireLock(file, "the run directory runs/x");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(LockedError);
    expect(err!.message).not.toContain("\n");
    expect(err!.message).toContain(
      `the run directory runs/x is in use by another psvit (pid ${process.ppid} on ${hostname()}`,
    );
    expect(err!.message).toContain("psvit search --run x");
    expect(err!.message).toContain(file);
    // and so is another host's, whose pid cannot be checked
    writeLock(file, deadPid(), "elsewhere.example");
    expect(() => acquireLock(file, "x")).toThrow(/in use by another psvit \(pid \d+ on elsewhere\.example/);
  });

  it("a stale lock (dead pid on this host, or this pid from an earlier process) is taken over with a warning", () => {
    const file = join(tempDir(), ".psvit-train.lock");
    const dead = deadPid();
    writeLock(file, dead);
    const warnings: string[] = [];
    const lock = acquireLock(file, "x", (m) => warnings.push(m));
    expect(warnings).toEqual([`taking over the stale lock ${file} (process ${dead} is no longer running)`]);
    expect(JSON.parse(readFileSync(file, "utf8")).pid).toBe(process.pid);
    lock.release();
    writeLock(file, process.pid); // a previous process with the same pid (a restarted container)
    const again = acquireLock(file, "x", (m) => warnings.push(m));
    expect(warnings[1]).toContain("left by an earlier process");
    again.release();
    if (processStartMs(process.ppid) !== undefined) {
      // a live pid that started after the lock was taken is another process now (the pid was reused)
      writeFileSync(
        file,
        JSON.stringify({
          pid: process.ppid,
          host: hostname(),
          started: "2000-01-01T00:00:00.000Z",
          command: "",
        }),
      );
      acquireLock(file, "x", (m) => warnings.push(m)).release();
      expect(warnings[2]).toContain("its pid belongs to a younger process now");
    }
  });

  it("two processes: the second is refused while the first lives; a signal releases the lock", async () => {
    const file = join(tempDir(), ".psvit-train.lock");
    const holder = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { acquireLock } = await import(${JSON.stringify(`${ROOT}dist/util/lock.js`)});
         acquireLock(${JSON.stringify(file)}, "the run");
         process.stdout.write("locked\\n");
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on("data", (d) => String(d).includes("locked") && resolve());
      holder.on("exit", (code) => reject(new Error(`holder exited ${code}`)));
    });
    expect(() => acquireLock(file, "the run")).toThrow(`pid ${holder.pid} on ${hostname()}`);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => holder.on("exit", (_c, s) => resolve(s)));
    holder.kill("SIGTERM");
    expect(await ended).toBe("SIGTERM"); // it still dies of the signal
    expect(existsSync(file)).toBe(false);
    acquireLock(file, "the run").release();
  });
});
