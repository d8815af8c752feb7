import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { exportCommand } from "../../src/cli/commands/export.js";
import { type SearchCommandOptions, searchCommand } from "../../src/cli/commands/search.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import type { Dataset } from "../../src/data/types.js";
import { InterruptedError, LockedError, UsageError } from "../../src/errors.js";
import { readJournal } from "../../src/searchrun/journal.js";
import { parseArch } from "../../src/space/arch.js";
import { RunDir } from "../../src/train/rundir.js";
import { deadPid, tempDir, writeLock } from "../helpers.js";
import { tinySetup, tinySupernetRun } from "../train/fixtures.js";

let runDir: string;
const quiet = { backend: "cpu", logLevel: "silent" } as const;
const small = { population: 6, generations: 3, parents: 3, mutations: 2, crossovers: 2, workers: 0 };

beforeAll(async () => {
  runDir = await tinySupernetRun();
});

/** A copy of the trained run, so every test searches in a fresh directory. */
async function freshRun(): Promise<string> {
  const { cpSync } = await import("node:fs");
  const dir = join(tempDir(), "copy");
  cpSync(runDir, dir, { recursive: true });
  return dir;
}

function budget(): string {
  // the tiny space: its median-ish cost, so part of the space fits
  return "120K";
}

async function search(run: string, extra: Partial<SearchCommandOptions> = {}) {
  return searchCommand({ ...quiet, ...small, run, flops: budget(), seed: 1, ...extra }, captureIo());
}

describe("psvit search", () => {
  it("every candidate fits the budget; deterministic for a seed", async () => {
    const a = await search(await freshRun());
    const b = await search(await freshRun());
    expect(a.evaluations).toBeGreaterThan(6);
    expect(a.top).toEqual(b.top);
    expect(a.generations).toEqual(b.generations);
    for (const e of [...a.top, ...a.pareto]) expect(e.flops).toBeLessThanOrEqual(120_000);
  });

  it("a resumed search reaches the same result and evaluates nothing twice", async () => {
    const whole = await search(await freshRun());
    const run = await freshRun();
    await expect(search(run, { stopAfterGenerations: 1 })).rejects.toThrow(InterruptedError);
    await expect(searchCommand({ ...quiet, run, resume: true, population: 9 }, captureIo())).rejects.toThrow(
      "--resume continues with the settings in search-evolution/search.json; drop --population",
    );
    const resumed = await searchCommand({ ...quiet, run, resume: true, workers: 0 }, captureIo());
    expect(resumed.top).toEqual(whole.top);
    expect(resumed.pareto).toEqual(whole.pareto);
    const lines = readFileSync(join(run, "search-evolution", "candidates.jsonl"), "utf8")
      .trim()
      .split("\n");
    const archs = lines.map((l) => JSON.parse(l).arch);
    expect(new Set(archs).size).toBe(archs.length);
    expect(archs.length).toBe(whole.evaluations);
  });

  it("refuses to overwrite a search, and --force replaces it", async () => {
    const run = await freshRun();
    await search(run);
    await expect(search(run)).rejects.toThrow("already holds an evolution search");
    expect((await search(run, { force: true })).evaluations).toBeGreaterThan(0);
  });

  it("--resume with --force is refused in one line by every command that resumes (search accepted it)", async () => {
    const run = await freshRun();
    await search(run);
    const line =
      "psvit: --resume and --force exclude each other: --resume continues the run, --force replaces it\n";
    for (const argv of [
      ["search", "--run", run, "--resume", "--force", "--workers", "0"],
      ["rank-corr", "--run", run, "--resume", "--force"],
      ["train-supernet", "--out", run, "--resume", "--force"],
      ["train", "m.model.json", "--out", run, "--resume", "--force"],
    ]) {
      const io = captureIo();
      expect(await runCli(["node", "psvit", ...argv], io), argv[0]).toBe(2);
      expect(io.stderr, argv[0]).toEqual([line]);
    }
  });

  it("default workers: one per core, at most 2", async () => {
    const { defaultWorkers } = await import("../../src/searchrun/run.js");
    expect([1, 2, 3, 16].map((cores) => defaultWorkers(cores))).toEqual([1, 2, 2, 2]);
  });

  it("--force with a bad option, or a start that fails, leaves the existing search as it was", async () => {
    const run = await freshRun();
    await search(run);
    const dir = join(run, "search-evolution");
    const files = ["search.json", "candidates.jsonl", "state.json", "result.json", "report.html"];
    const before = files.map((f) => readFileSync(join(dir, f), "utf8"));
    const io = captureIo();
    const argv = ["node", "psvit", "search", "--run", run, "--force", "--workers", "0"];
    expect(await runCli([...argv, "--flops", "abc"], io)).toBe(2);
    expect(io.stderr.join("")).toContain("--flops");
    // valid options, but the backend does not start: the new search never began
    const late = captureIo();
    expect(await runCli([...argv, "--flops", budget(), "--backend", "nope"], late)).toBe(2);
    expect(late.stderr.join("")).toContain('unknown backend "nope"');
    expect(files.map((f) => readFileSync(join(dir, f), "utf8"))).toEqual(before);
    expect(readdirSync(run).filter((f) => f.includes("search-evolution"))).toEqual(["search-evolution"]);
    // and a --force that starts replaces it
    const again = await search(run, { force: true, seed: 2 });
    expect(again.evaluations).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dir, "search.json"), "utf8")).seed).toBe(2);
    expect(existsSync(join(dir, "result.json"))).toBe(true);
    expect(readdirSync(run).filter((f) => f.includes("search-evolution"))).toEqual(["search-evolution"]);
  });

  it("a run moved after its search still exports and resumes (checkpoint path relative to the run)", async () => {
    const whole = await search(await freshRun());
    const run = await freshRun();
    await expect(search(run, { stopAfterGenerations: 1 })).rejects.toThrow(InterruptedError);
    const settings = JSON.parse(readFileSync(join(run, "search-evolution", "search.json"), "utf8"));
    expect(settings.checkpoint.file).toMatch(/^checkpoints\/step-\d{8}\.ckpt\.safetensors$/);
    const moved = join(tempDir(), "moved");
    renameSync(run, moved);
    const resumed = await searchCommand({ ...quiet, run: moved, resume: true, workers: 0 }, captureIo());
    expect(resumed.top).toEqual(whole.top);
    const io = captureIo();
    expect(await runCli(["node", "psvit", "export", "--run", moved, "--backend", "cpu"], io)).toBe(0);
    expect(io.stdout.join("")).toContain(`exported ${whole.top[0].arch}`);
    // a search.json of an older version (absolute path) of a run moved since: its own checkpoint
    const old = join(moved, "search-evolution", "search.json");
    settings.checkpoint.file = join(run, settings.checkpoint.file);
    writeFileSync(old, JSON.stringify(settings));
    const again = captureIo();
    const argv = ["node", "psvit", "export", "--run", moved, "--backend", "cpu", "--force"];
    expect(await runCli(argv, again)).toBe(0);
  });

  it("a worker thread that dies mid-evaluation stops the search, naming it; the journal is intact", async () => {
    const whole = await search(await freshRun());
    const run = await freshRun();
    process.env.PSVIT_TEST_WORKER_EXIT = "1:2"; // worker 1 ends its thread on its 2nd candidate
    const err = await search(run, { workers: 2 })
      .catch((e) => e)
      .finally(() => delete process.env.PSVIT_TEST_WORKER_EXIT);
    expect(err).toBeInstanceOf(Error);
    // which generation holds worker 1's 2nd candidate depends on how fast the two workers are (a free
    // worker takes the next job): 1 on a quiet machine, 2 when the other worker ran ahead
    expect(err.message).toMatch(
      /^search worker 1 exited unexpectedly \(exit code 3\) while evaluating [BSI]{2}-[BSI]{2}; the search stopped in generation [12] /,
    );
    expect(err.message).toContain(`Continue with: psvit search --run ${run} --strategy evolution --resume`);
    const journal = readJournal(join(run, "search-evolution", "candidates.jsonl"));
    expect(journal.skipped).toBe(0);
    expect(journal.entries.size).toBeGreaterThanOrEqual(1);
    // stopped in generation 1 (< 6 candidates journaled) or, when worker 0 ran ahead, in generation 2
    // (6 or more: this bound was < 6 and failed on a loaded machine)
    expect(journal.entries.size).toBeLessThan(whole.evaluations);
    const resumed = await searchCommand({ ...quiet, run, resume: true, workers: 2 }, captureIo());
    expect(resumed.top).toEqual(whole.top);
  }, 60_000);

  it("one search per run and strategy at a time: a second one is refused in one line, the journal stays whole", async () => {
    const run = await freshRun();
    await expect(search(run, { stopAfterGenerations: 1 })).rejects.toThrow(InterruptedError);
    const journal = () => readFileSync(join(run, "search-evolution", "candidates.jsonl"), "utf8");
    const before = journal();
    // two `search --resume` at once (in this process): the second is refused, the first finishes
    const first = searchCommand({ ...quiet, run, resume: true, workers: 0 }, captureIo());
    await expect(searchCommand({ ...quiet, run, resume: true, workers: 0 }, captureIo())).rejects.toThrow(
      LockedError,
    );
    const done = await first;
    const archs = journal()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).arch);
    expect(new Set(archs).size).toBe(archs.length);
    expect(archs.length).toBe(done.evaluations);
    // another process's search: refused through the CLI in one line, nothing written
    const lock = join(run, ".psvit-search-evolution.lock");
    writeLock(lock, process.ppid);
    const after = journal();
    const io = captureIo();
    const argv = ["node", "psvit", "search", "--run", run, "--resume", "--workers", "0", "--backend", "cpu"];
    expect(await runCli(argv, io)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toContain(
      `the evolution search of ${run} is in use by another psvit (pid ${process.ppid}`,
    );
    expect(journal()).toBe(after);
    expect(before.length).toBeLessThan(after.length);
    // a random search of the same run is another lock
    expect((await search(run, { strategy: "random" })).evaluations).toBeGreaterThan(0);
    // a rank-corr study has its own lock too
    writeLock(join(run, ".psvit-rank-corr.lock"), process.ppid);
    const rc = captureIo();
    expect(await runCli(["node", "psvit", "rank-corr", "--run", run, "--backend", "cpu"], rc)).toBe(2);
    expect(rc.stderr.join("")).toMatch(
      /^psvit: the rank-corr study rank-corr\/ of .* is in use by another psvit \(pid \d+/,
    );
    // the holder died: the next search takes the lock over
    writeLock(lock, deadPid());
    expect((await searchCommand({ ...quiet, run, resume: true, workers: 0 }, captureIo())).evaluations).toBe(
      done.evaluations,
    );
    expect(existsSync(lock)).toBe(false);
  });

  it("a budget below the smallest architecture is a clear error naming the minimum", async () => {
    const run = await freshRun();
    const err = await search(run, { flops: "1K" }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(
      /--flops 1K is below the smallest architecture of tiny, which needs [\d.]+ KFLOPs \([\d,]+\)/,
    );
    const io = captureIo();
    expect(await runCli(["node", "psvit", "search", "--run", run, "--flops", "1K"], io)).toBe(2);
  });

  it("random strategy: same number of evaluations, its own directory", async () => {
    const run = await freshRun();
    const evo = await search(run);
    const rnd = await search(run, { strategy: "random" });
    expect(rnd.evaluations).toBe(evo.evaluations);
    expect(rnd.generations.length).toBe(3);
  });

  it("aging strategy: its own directory, two workers in flight, resumed after a generation to the same result", async () => {
    const run = await freshRun();
    const whole = await search(run, { strategy: "aging", workers: 2 });
    expect(whole.strategy).toBe("aging");
    expect(existsSync(join(run, "search-aging", "result.json"))).toBe(true);
    const journal = readJournal(join(run, "search-aging", "candidates.jsonl"));
    expect(journal.entries.size).toBe(whole.evaluations);
    const other = await freshRun();
    await expect(search(other, { strategy: "aging", workers: 2, stopAfterGenerations: 1 })).rejects.toThrow(
      InterruptedError,
    );
    const resumed = await searchCommand(
      { ...quiet, run: other, strategy: "aging", resume: true, workers: 2 },
      captureIo(),
    );
    expect(resumed.top).toEqual(whole.top);
    expect(resumed.final?.ranking).toEqual(whole.final?.ranking);
    const io = captureIo();
    expect(
      await runCli(["node", "psvit", "export", "--run", run, "--strategy", "aging", "--backend", "cpu"], io),
    ).toBe(0);
    expect(io.stdout.join("")).toContain(`exported ${whole.final!.ranking[0].arch}`);
  }, 60_000);

  it("worker threads give the same accuracies as the main thread", async () => {
    const a = await search(await freshRun(), { workers: 0 });
    const b = await search(await freshRun(), { workers: 2 });
    expect(b.top).toEqual(a.top);
    expect(b.workers).toBe(2);
  });

  it("writes result.json and a script-free HTML report with the SVG plots", async () => {
    const run = await freshRun();
    await search(run);
    const html = readFileSync(join(run, "search-evolution", "report.html"), "utf8");
    expect(html).toContain("<svg");
    expect(html.match(/<svg/g)!.length).toBe(2);
    expect(html).not.toContain("<script");
    const result = JSON.parse(readFileSync(join(run, "search-evolution", "result.json"), "utf8"));
    expect(result.pareto.length).toBeGreaterThan(0);
  });
});

describe("the final stage (issue 16 item 1)", () => {
  it("re-scores the top k on every validation image, ranks by that, tests the winner; export takes its winner", async () => {
    const run = await freshRun();
    const io = captureIo();
    const r = await searchCommand({ ...quiet, ...small, run, flops: budget(), seed: 1, valImages: 3 }, io);
    // the search's fitness: 3 of the 7 validation images, each candidate with its standard error
    expect(r.fitnessImages).toBe(3);
    const journal = [...readJournal(join(run, "search-evolution", "candidates.jsonl")).entries.values()];
    for (const e of journal) expect(e.se).toBeCloseTo(Math.sqrt((e.accuracy * (1 - e.accuracy)) / 3), 12);
    // the final stage: the top 10 on the whole validation split, independently re-computed here
    const { loadRunData } = await import("../../src/train/run.js");
    const { fitnessSet, pathAccuracy, supernetFromCheckpoint } = await import("../../src/eval/fitness.js");
    const snap = RunDir.existing(run).readJson<any>("run.json");
    const data = await loadRunData(snap);
    const f = r.final!;
    expect(f.k).toBe(Math.min(10, r.evaluations));
    expect(f.images).toBe(data.val.n);
    expect(f.images).toBeGreaterThan(3);
    const whole = fitnessSet(data.val as Dataset, snap.preprocess, 1);
    const search = JSON.parse(readFileSync(join(run, "search-evolution", "search.json"), "utf8"));
    const { parseSpaceConfig } = await import("../../src/config/validate.js");
    const net = await supernetFromCheckpoint(join(run, search.checkpoint.file), parseSpaceConfig(snap.space));
    for (const e of f.ranking) expect(e.accuracy).toBe(await pathAccuracy(net, parseArch(e.arch), whole));
    net.dispose();
    const accs = f.ranking.map((e) => e.accuracy);
    expect(accs).toEqual([...accs].sort((a, b) => b - a));
    expect(f.test?.runnerUp).toBe(f.ranking[1].arch);
    expect(io.stdout.join("")).toMatch(
      /final stage: the top \d+ re-scored on all \d+ validation images; winner /,
    );
    expect(io.stdout.join("")).toContain("McNemar");
    // export's rank 1 is the final stage's winner, with its whole-split accuracy
    const exp = await exportCommand({ run, out: join(tempDir(), "exp"), backend: "cpu" }, captureIo());
    expect(exp.arch).toBe(f.ranking[0].arch);
    expect(exp.valAccuracy).toBe(f.ranking[0].accuracy);
    const summary = JSON.parse(readFileSync(exp.summary!, "utf8"));
    expect(summary.final_stage).toMatchObject({
      k: f.k,
      images: f.images,
      winner: f.ranking[0].arch,
      tied: f.tied,
    });
    expect(summary.val_top1_se).toBeCloseTo(f.ranking[0].se, 12);
    // the report shows the stage and error bars
    const html = readFileSync(join(run, "search-evolution", "report.html"), "utf8");
    expect(html).toContain("Final stage: the top");
    expect(html).toContain("± 1 standard error");
  });
  it("--rescore-top 0 turns it off; --resume refuses to change it", async () => {
    const run = await freshRun();
    const r = await search(run, { rescoreTop: 0 });
    expect(r.final).toBeNull();
    await expect(
      search(run, { resume: true, flops: undefined, seed: undefined, rescoreTop: 3 }),
    ).rejects.toThrow(/drop .*--rescore-top/);
  });
});

describe("psvit export", () => {
  it("exports the best candidate: config with preprocess, SPEC §4 weights, summary; predict == supernet path", async () => {
    const run = await freshRun();
    await search(run);
    const io = captureIo();
    const out = join(tempDir(), "exp");
    const r = await exportCommand({ run, out, backend: "cpu" }, io);
    const journal = [...readJournal(join(run, "search-evolution", "candidates.jsonl")).entries.values()];
    const best = journal.sort(
      (x, y) => y.accuracy - x.accuracy || x.flops - y.flops || (x.arch < y.arch ? -1 : 1),
    )[0];
    expect(r.arch).toBe(best.arch);
    const config = JSON.parse(readFileSync(r.config, "utf8"));
    expect(config.kind).toBe("psvit.model");
    expect(config.preprocess.mean).toHaveLength(1);
    const summary = JSON.parse(readFileSync(r.summary!, "utf8"));
    expect(summary).toMatchObject({ architecture: best.arch, val_top1_inherited: best.accuracy });

    // the exported files work with flops and predict, and give the supernet path's logits
    const flops = captureIo();
    expect(await runCli(["node", "psvit", "flops", r.config, "--json"], flops)).toBe(0);
    expect(JSON.parse(flops.stdout.join("")).flops).toBe(r.flops);
    // predict (the command) on the exported weights gives the supernet path's logits
    const { encodeIdx } = await import("../../src/data/idx.js");
    const { supernetFromCheckpoint } = await import("../../src/eval/fitness.js");
    const { normalize } = await import("../../src/data/stats.js");
    const pixels = new Uint8Array(5 * 64).map((_, i) => (i * 37) % 256);
    const idx = join(tempDir(), "five.idx");
    writeFileSync(idx, encodeIdx([5, 8, 8], pixels));
    const pio = captureIo();
    const code = await runCli(
      [
        "node",
        "psvit",
        "predict",
        r.config,
        "--weights",
        r.weights!,
        "--images",
        idx,
        "--json",
        "--backend",
        "cpu",
      ],
      pio,
    );
    expect(code).toBe(0);
    const predicted = pio.stdout
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).logits as number[]);
    expect(predicted).toHaveLength(5);
    const snap = RunDir.existing(run).readJson<any>("search-evolution/search.json");
    const net = await supernetFromCheckpoint(
      RunDir.existing(run).storedCheckpoint(snap.checkpoint.file),
      RunDir.existing(run).readJson<any>("run.json").space,
    );
    const x = tf.tensor4d(normalize(pixels, 1, config.preprocess), [5, 8, 8, 1]);
    const want = tf.tidy(() => net.forward(x, parseArch(best.arch)).arraySync() as number[][]);
    for (let i = 0; i < 5; i++)
      for (let k = 0; k < 3; k++) expect(predicted[i][k]).toBeCloseTo(want[i][k], 4);
    net.dispose();

    // eval and train accept the exported config
    const data = RunDir.existing(run).readJson<any>("run.json").data.spec;
    const eio = captureIo();
    expect(
      await runCli(
        [
          "node",
          "psvit",
          "eval",
          r.config,
          "--weights",
          r.weights!,
          "--data",
          data,
          "--json",
          "--backend",
          "cpu",
        ],
        eio,
      ),
    ).toBe(0);
    expect(JSON.parse(eio.stdout.join("")).top1).toBeGreaterThanOrEqual(0);
    const tio = captureIo();
    const trainOut = join(tempDir(), "retrain");
    expect(
      await runCli(
        [
          "node",
          "psvit",
          "train",
          r.config,
          "--data",
          data,
          "--epochs",
          "1",
          "--out",
          trainOut,
          "--backend",
          "cpu",
        ],
        tio,
      ),
    ).toBe(0);

    // refuses to overwrite without --force
    await expect(exportCommand({ run, out, backend: "cpu" }, captureIo())).rejects.toThrow("already exists");
    expect((await exportCommand({ run, out, backend: "cpu", force: true }, captureIo())).arch).toBe(
      best.arch,
    );
  });

  it("--space --arch writes the config alone", async () => {
    const s = tinySetup();
    const out = tempDir();
    const r = await exportCommand({ space: s.space, arch: "SB-IB", out }, captureIo());
    expect(r.weights).toBeNull();
    expect(JSON.parse(readFileSync(r.config, "utf8")).stages[0].layers).toEqual(["attn", "reuse", "attn"]);
    await expect(exportCommand({ space: s.space, arch: "SB", out }, captureIo())).rejects.toThrow(UsageError);
    await expect(exportCommand({ run: "x", space: s.space, arch: "SB-IB" }, captureIo())).rejects.toThrow(
      "either --run",
    );
  });
});

describe("evaluator pool", () => {
  it("a worker that exits mid-job fails that job naming the worker, later evaluate() at once; close() returns", async () => {
    const { createEvaluator } = await import("../../src/eval/pool.js");
    const { fitnessSet } = await import("../../src/eval/fitness.js");
    const { loadRunData } = await import("../../src/train/run.js");
    const run = RunDir.existing(runDir);
    const snap = run.readJson<any>("run.json");
    const data = await loadRunData(snap);
    process.env.PSVIT_TEST_WORKER_EXIT = "0:1"; // worker 0 ends its thread on its first candidate
    const evaluator = await createEvaluator({
      checkpoint: run.latestCheckpoint()!.file,
      space: snap.space,
      set: fitnessSet(data.val as Dataset, snap.preprocess, 0),
      backend: "cpu",
      workers: 2,
    }).finally(() => delete process.env.PSVIT_TEST_WORKER_EXIT);
    const archs = ["SB-IB", "BB-SS"].map(parseArch);
    const settled = await Promise.allSettled(archs.map((a) => evaluator.evaluate(a)));
    const failed = settled.filter((r) => r.status === "rejected");
    expect(failed).toHaveLength(1);
    expect(String((failed[0] as PromiseRejectedResult).reason.message)).toMatch(
      /^search worker 0 exited unexpectedly \(exit code 3\) while evaluating (SB-IB|BB-SS)$/,
    );
    const t0 = performance.now();
    await expect(evaluator.evaluate(archs[0])).rejects.toThrow("search worker 0 exited unexpectedly");
    expect(performance.now() - t0).toBeLessThan(1000);
    await evaluator.close();
  }, 60_000);
});

describe("search options", () => {
  it("SPOS defaults (50: 25 + 25, top 10) scale with a smaller population unless given", async () => {
    const { searchOptions } = await import("../../src/cli/commands/search.js");
    expect(searchOptions({ run: "x" }, "evolution")).toMatchObject({
      population: 50,
      parents: 10,
      mutations: 25,
      crossovers: 25,
    });
    expect(searchOptions({ run: "x", population: 16 }, "evolution")).toMatchObject({
      parents: 3,
      mutations: 8,
      crossovers: 8,
    });
    expect(searchOptions({ run: "x", population: 16, mutations: 2 }, "evolution")).toMatchObject({
      mutations: 2,
      crossovers: 8,
    });
    expect(() =>
      searchOptions({ run: "x", population: 10, mutations: 8, crossovers: 8 }, "evolution"),
    ).toThrow(UsageError);
  });

  it("refuses counts that make no sense (issue 15, defect 15)", async () => {
    const { searchOptions } = await import("../../src/cli/commands/search.js");
    const refused: [Partial<SearchCommandOptions>, string][] = [
      [{ population: 4, parents: 10 }, "--parents 10 exceeds --population 4"],
      [
        { population: 16, mutationProb: 0 },
        "--mutation-prob 0 makes each of the 8 mutations a copy of its parent",
      ],
      [{ population: 16, parents: 1 }, "--crossovers 8 with --parents 1"],
      [{ population: 5, parents: 1, crossovers: 2 }, "--crossovers 2 with --parents 1"],
    ];
    for (const [o, message] of refused) {
      expect(() => searchOptions({ run: "x", ...o }, "evolution"), message).toThrow(message);
    }
    // what does make sense is accepted: no mutations at p = 0, one parent without crossovers, the
    // parents of a small population (at least 2, so crossovers can mix), evolution flags kept by random
    expect(
      searchOptions({ run: "x", population: 16, mutationProb: 0, mutations: 0 }, "evolution").mutations,
    ).toBe(0);
    expect(searchOptions({ run: "x", population: 16, parents: 1, crossovers: 0 }, "evolution").parents).toBe(
      1,
    );
    expect(searchOptions({ run: "x", population: 5 }, "evolution")).toMatchObject({
      parents: 2,
      crossovers: 2,
    });
    expect(searchOptions({ run: "x", population: 1 }, "evolution")).toMatchObject({
      parents: 1,
      crossovers: 0,
    });
    expect(searchOptions({ run: "x", population: 16, parents: 16 }, "evolution").parents).toBe(16);
    expect(() => searchOptions({ run: "x", population: 4, parents: 10 }, "random")).toThrow(UsageError);
    // through the CLI: one line, exit 2, before anything is written
    const run = await freshRun();
    const io = captureIo();
    const argv = [
      "node",
      "psvit",
      "search",
      "--run",
      run,
      "--flops",
      budget(),
      "--parents",
      "10",
      "--population",
      "4",
    ];
    expect(await runCli(argv, io)).toBe(2);
    expect(io.stderr).toEqual([expect.stringContaining("psvit: --parents 10 exceeds --population 4")]);
    expect(existsSync(join(run, "search-evolution"))).toBe(false);
  });
});
