/**
 * Issue 15, defect 12: file-system errors on the user's paths (a read-only run directory, a path
 * under a regular file, a file where a folder should be) are one line naming the path and exit 2,
 * never "internal error" and a stack trace.
 */
import { chmodSync, cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { searchCommand } from "../../src/cli/commands/search.js";
import { trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { tempDir } from "../helpers.js";
import { tinySetup } from "../train/fixtures.js";

const quiet = { backend: "cpu", logLevel: "silent" } as const;
const SEARCH = ["--flops", "120K", "--population", "6", "--generations", "2", "--parents", "3"];
let setup: ReturnType<typeof tinySetup>;
let runDir: string;
const logLevel = process.env.PSVIT_LOG_LEVEL;

beforeAll(async () => {
  process.env.PSVIT_LOG_LEVEL = "silent";
  setup = tinySetup();
  runDir = join(tempDir(), "run");
  await trainSupernetCommand(
    {
      ...quiet,
      prefetch: 0,
      space: setup.space,
      config: setup.recipe,
      data: setup.data,
      out: runDir,
      seed: 3,
    },
    captureIo(),
  );
  await searchCommand(
    { ...quiet, run: runDir, flops: "120K", population: 6, generations: 2, parents: 3, workers: 0 },
    captureIo(),
  );
  await tf.setBackend("cpu");
});

afterAll(() => {
  if (logLevel === undefined) delete process.env.PSVIT_LOG_LEVEL;
  else process.env.PSVIT_LOG_LEVEL = logLevel;
});

function copyRun(): string {
  const dir = join(tempDir(), "copy");
  cpSync(runDir, dir, { recursive: true });
  return dir;
}

async function cli(args: string[]) {
  const io = captureIo();
  const code = await runCli(["node", "psvit", ...args, "--backend", "cpu"], io);
  return { code, stderr: io.stderr.join("") };
}

/** One line naming `path` (or a path under it), exit 2, no stack trace. */
function expectOneLine(r: { code: number; stderr: string }, path: string, what: string) {
  expect(r.stderr, what).not.toContain("internal error");
  expect(r.stderr, what).not.toMatch(/\n\s+at /);
  expect(r.stderr.trimEnd().split("\n"), `${what}: ${r.stderr}`).toHaveLength(1);
  expect(r.stderr, what).toMatch(/^psvit: cannot .*: [a-z -]+ \(E[A-Z]+\)\n$/);
  expect(r.stderr, what).toContain(path);
  expect(r.code, `${what}: ${r.stderr}`).toBe(2);
}

/** `path` and everything in it read-only (dirs 0555, files 0444); its ancestors traversable by all. */
function makeReadOnly(path: string): void {
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p)) walk(join(p, e));
      chmodSync(p, 0o555);
    } else chmodSync(p, 0o444);
  };
  walk(path);
  for (let d = dirname(path); d.startsWith(`${tmpdir()}/`); d = dirname(d)) {
    chmodSync(d, statSync(d).mode | 0o555);
  }
}

function makeWritable(path: string): void {
  if (statSync(path).isDirectory()) {
    chmodSync(path, 0o755);
    for (const e of readdirSync(path)) makeWritable(join(path, e));
  } else chmodSync(path, 0o644);
}

/**
 * Runs `fn` as a user for whom chmod 0555 means read-only: this one, or — as root, whom chmod does
 * not stop — the effective uid of `nobody`. Undefined when neither can be had.
 */
function readOnlyRunner(probeDir: string): (<T>(fn: () => Promise<T>) => Promise<T>) | undefined {
  const probe = () => {
    try {
      writeFileSync(join(probeDir, "probe"), "x");
      rmSync(join(probeDir, "probe"));
      return false;
    } catch {
      return true;
    }
  };
  if (probe()) return (fn) => fn();
  if (process.geteuid?.() !== 0 || !process.seteuid) return undefined;
  process.seteuid(65534);
  const works = probe();
  process.seteuid(0);
  if (!works) return undefined;
  return async (fn) => {
    process.seteuid!(65534);
    try {
      return await fn();
    } finally {
      process.seteuid!(0);
    }
  };
}

describe("file-system errors are user errors: one line, exit 2", () => {
  it("a read-only run directory: search --force, search --resume, export, train-supernet --resume", async () => {
    const ro = copyRun();
    // the data and the configs must stay readable for the other user
    makeReadOnly(setup.dir);
    makeReadOnly(ro);
    const asReader = readOnlyRunner(ro);
    try {
      if (!asReader) {
        console.warn("skipped: cannot make a directory read-only here (root without seteuid)");
        return;
      }
      const cases: [string, string[]][] = [
        ["search --force", ["search", "--run", ro, "--force", "--workers", "0", ...SEARCH]],
        ["search --resume", ["search", "--run", ro, "--resume", "--workers", "0"]],
        ["export", ["export", "--run", ro]],
        ["train-supernet --resume", ["train-supernet", "--out", ro, "--resume"]],
      ];
      for (const [what, args] of cases) expectOneLine(await asReader(() => cli(args)), ro, what);
    } finally {
      makeWritable(ro);
      makeWritable(setup.dir);
    }
  });

  it("a path under a regular file (ENOTDIR) or a file where a folder belongs", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "not a folder");
    const train = ["--space", setup.space, "--config", setup.recipe, "--data", setup.data];
    expectOneLine(
      await cli(["train-supernet", ...train, "--out", join(file, "run")]),
      file,
      "train-supernet --out under a file",
    );
    const run = copyRun();
    expectOneLine(
      await cli(["export", "--run", run, "--out", join(file, "export")]),
      file,
      "export --out under a file",
    );
    // the search's log is a folder: its resume cannot open it
    rmSync(join(run, "search-evolution", "log.jsonl"));
    mkdirSync(join(run, "search-evolution", "log.jsonl"));
    expectOneLine(
      await cli(["search", "--run", run, "--resume", "--workers", "0"]),
      join(run, "search-evolution", "log.jsonl"),
      "search --resume, log.jsonl a folder",
    );
    // a new search where its folder is a file
    const other = copyRun();
    rmSync(join(other, "search-evolution"), { recursive: true });
    writeFileSync(join(other, "search-evolution"), "in the way");
    expectOneLine(
      await cli(["search", "--run", other, "--force", "--workers", "0", ...SEARCH]),
      join(other, "search-evolution"),
      "search, its folder a file",
    );
  });
});
