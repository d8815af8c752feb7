/**
 * Search through BullMQ on a real Redis (test/queue/redis-server.ts) with `psvit worker` processes:
 * the same result as the in-process search, a worker killed mid-job, a driver killed and resumed, and
 * the errors a user can act on. Each test has its own Redis database, so no test answers another's jobs.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rankCorrCommand } from "../../src/cli/commands/rank-corr.js";
import { type SearchCommandOptions, searchCommand } from "../../src/cli/commands/search.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { readJournal } from "../../src/searchrun/journal.js";
import { ROOT, tempDir } from "../helpers.js";
import { tinySupernetRun } from "../train/fixtures.js";
import { freePort, startRedis, type TestRedis } from "./redis-server.js";
import { killAll, startWorker, track } from "./workers.js";

const quiet = { backend: "cpu", logLevel: "silent" } as const;
const small = { population: 6, generations: 3, parents: 3, mutations: 2, crossovers: 2, workers: 0 };
let redis: TestRedis;
let runDir: string;
let inProcess: Awaited<ReturnType<typeof searchCommand>>;
let inProcessRun: string;
let db = 0;

beforeAll(async () => {
  redis = await startRedis();
  runDir = await tinySupernetRun();
  inProcessRun = freshRun();
  inProcess = await search(inProcessRun);
}, 120_000);

afterAll(async () => {
  killAll();
  await redis?.stop();
});

function freshRun(): string {
  const dir = join(tempDir(), "copy");
  cpSync(runDir, dir, { recursive: true });
  return dir;
}

function search(run: string, extra: Partial<SearchCommandOptions> = {}) {
  return searchCommand({ ...quiet, ...small, run, flops: "120K", seed: 1, ...extra }, captureIo());
}

/** A fresh Redis database and artifact folder for one test. */
function place(): { url: string; artifacts: string } {
  db++;
  const artifacts = join(tempDir(), "artifacts");
  mkdirSync(artifacts);
  return { url: redis.url(db), artifacts };
}

const journalOf = (run: string) =>
  [
    ...(existsSync(join(run, "search-evolution", "candidates.jsonl"))
      ? readJournal(join(run, "search-evolution", "candidates.jsonl")).entries.values()
      : []),
  ]
    .map((e) => `${e.arch} ${e.accuracy}`)
    .sort();

describe("search through a BullMQ queue", () => {
  it("with 2 worker processes (one running 2 jobs at once): the same candidates, accuracies and winner as the in-process search", async () => {
    const { url, artifacts } = place();
    // one of them with 2 threads (--concurrency 2: two jobs at once)
    const workers = [
      await startWorker(url, artifacts),
      await startWorker(url, artifacts, {}, ["--concurrency", "2"]),
    ];
    const run = freshRun();
    const r = await search(run, { queue: url, artifacts });
    expect(r.top).toEqual(inProcess.top);
    expect(r.final).toEqual(inProcess.final);
    expect(r.evaluations).toBe(inProcess.evaluations);
    expect(r.queue).toBe(url);
    const done = workers.flatMap((w) => w.evaluated());
    expect(done.sort()).toEqual(
      journalOf(run)
        .map((l) => l.split(" ")[0])
        .sort(),
    ); // each once, nothing twice
    expect(workers.every((w) => w.evaluated().length > 0)).toBe(true); // both took jobs
    // the inputs went to the store by content
    const store = readFileSync(join(run, "search-evolution", "log.jsonl"), "utf8");
    expect(store).toContain(`psvit worker --queue ${url} --artifacts ${artifacts}`);
    for (const w of workers) w.child.kill("SIGTERM");
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  }, 120_000);

  it("a worker killed with SIGKILL mid-job: its job is taken over, the search completes, nothing is evaluated twice", async () => {
    const { url, artifacts } = place();
    const slow = { PSVIT_TEST_QUEUE_SLOW_MS: "800" };
    const victim = await startWorker(url, artifacts, slow);
    const run = freshRun();
    const pending = search(run, { queue: url, artifacts });
    // the victim is alone: kill it once it holds a job
    while (!victim.log().includes(" started")) await new Promise((r) => setTimeout(r, 20));
    victim.child.kill("SIGKILL");
    await victim.exited;
    const survivor = await startWorker(url, artifacts, slow);
    const r = await pending;
    expect(r.top).toEqual(inProcess.top);
    expect(journalOf(run)).toEqual(journalOf(inProcessRun));
    const evaluated = [...victim.evaluated(), ...survivor.evaluated()];
    expect(new Set(evaluated).size).toBe(evaluated.length);
    expect(evaluated.length).toBe(r.evaluations);
    survivor.child.kill("SIGTERM");
    await survivor.exited;
  }, 120_000);

  it("a driver killed mid-search resumes with --resume and queues only what its journal lacks", async () => {
    const { url, artifacts } = place();
    const worker = await startWorker(url, artifacts);
    const run = freshRun();
    const driver = spawn(
      process.execPath,
      [
        join(ROOT, "bin/psvit"),
        "search",
        "--run",
        run,
        "--flops",
        "120K",
        "--seed",
        "1",
        ...Object.entries(small).flatMap(([k, v]) => [`--${k}`, String(v)]),
        "--backend",
        "cpu",
        "--queue",
        url,
        "--artifacts",
        artifacts,
      ],
      { stdio: "ignore" },
    );
    track(driver);
    const journal = join(run, "search-evolution", "candidates.jsonl");
    const lines = () =>
      existsSync(journal) ? readFileSync(journal, "utf8").trim().split("\n").filter(Boolean).length : 0;
    while (lines() < small.population && driver.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    driver.kill("SIGKILL");
    await new Promise((r) => driver.once("exit", r));
    const before = lines();
    expect(before).toBeGreaterThanOrEqual(small.population);
    expect(before).toBeLessThan(inProcess.evaluations);
    const r = await searchCommand(
      { ...quiet, run, resume: true, workers: 0, queue: url, artifacts },
      captureIo(),
    );
    expect(r.top).toEqual(inProcess.top);
    expect(r.final).toEqual(inProcess.final);
    const evaluated = worker.evaluated();
    expect(new Set(evaluated).size).toBe(evaluated.length); // the jobs the dead driver had queued were not run again
    expect(evaluated.length).toBe(inProcess.evaluations);
    worker.child.kill("SIGTERM");
    await worker.exited;
  }, 120_000);

  it("rank-corr through the queue: the same subnets and from-scratch accuracies as in-process, trained by 2 workers", async () => {
    const { url, artifacts } = place();
    const opts = { ...quiet, prefetch: 0, samples: 3, epochs: 1, seed: 1, scratchSeeds: 2 };
    const here = await rankCorrCommand({ ...opts, run: freshRun() }, captureIo());
    // 1 s locks (startWorker): a training on a worker's main thread would delay their renewal and have
    // the other worker take a running training over; on a thread of its own it does not
    const workers = [await startWorker(url, artifacts), await startWorker(url, artifacts)];
    const run = freshRun();
    const queued = await rankCorrCommand({ ...opts, run, queue: url, artifacts }, captureIo());
    const untimed = (r: typeof here) => r.pairs.map(({ seconds: _s, ...p }) => p);
    expect(untimed(queued)).toEqual(untimed(here));
    expect(queued.ceiling).toEqual(here.ceiling);
    const trained = workers.flatMap((w) =>
      [...w.log().matchAll(/subnet \d\/3 \S+ seed \d: [\d.]+% in/g)].map((m) => m[0]),
    );
    expect(trained, trained.join("\n")).toHaveLength(6); // 3 subnets × 2 seeds, each once
    const threads = workers.flatMap((w) => [...w.log().matchAll(/trained in [\d.]+ s \(thread (\d+)\)/g)]);
    expect(threads).toHaveLength(6);
    expect(threads.every((m) => Number(m[1]) > 0)).toBe(true); // never the main thread (threadId 0)
    expect(workers.every((w) => w.log().includes(": ") && w.log().includes("seed"))).toBe(true);
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
  }, 180_000);

  it("errors a user can act on: one line, exit 2, the journal untouched", async () => {
    const cli = async (args: string[]) => {
      const io = captureIo();
      const code = await runCli(["node", "psvit", ...args], io);
      return { code, err: io.stderr.join("") };
    };
    const base = [
      "search",
      "--flops",
      "120K",
      "--backend",
      "cpu",
      "--workers",
      "0",
      "--population",
      "6",
      "--generations",
      "2",
    ];
    const { url, artifacts } = place();

    // nothing listens there
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    let run = freshRun();
    let r = await cli([...base, "--run", run, "--queue", nobody, "--artifacts", artifacts]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`psvit: cannot reach the queue at ${nobody}: ECONNREFUSED`);
    expect(existsSync(join(run, "search-evolution"))).toBe(false);

    r = await cli([...base, "--run", run, "--queue", "redis//x"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--queue:");
    r = await cli([...base, "--run", run, "--queue", url]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--queue needs --artifacts DIR");
    r = await cli([...base, "--run", run, "--queue", url, "--artifacts", join(artifacts, "nope")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("no such folder");
    expect(existsSync(join(run, "search-evolution"))).toBe(false);

    // a worker of another psvit version
    const other = await startWorker(url, artifacts, { PSVIT_TEST_QUEUE_VERSION: "9.9.9" });
    run = freshRun();
    r = await cli([...base, "--run", run, "--queue", url, "--artifacts", artifacts]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /runs psvit 9\.9\.9 but job eval-\S+ was queued by psvit \d+\.\d+\.\d+: run the same psvit version/,
    );
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(journalOf(run)).toEqual([]);
    other.child.kill("SIGTERM");
    await other.exited;

    // a worker that does not see the driver's store (the same failed jobs are run again by it)
    const blind = await startWorker(url, tempDir()); // an existing folder, not the driver's
    r = await cli([...base, "--run", run, "--queue", url, "--artifacts", artifacts, "--force"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("is not in");
    expect(r.err).toContain("does this worker's --artifacts name the folder the driver publishes to?");
    blind.child.kill("SIGTERM");
    await blind.exited;

    // the worker's own flags
    r = await cli(["worker", "--artifacts", artifacts]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--queue redis://HOST:PORT[/DB] is required");
    r = await cli(["worker", "--queue", nobody, "--artifacts", artifacts]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`psvit: cannot reach the queue at ${nobody}: ECONNREFUSED`);
  }, 120_000);
});
