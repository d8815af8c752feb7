import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { trainModelCommand, trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { parseSpaceConfig } from "../../src/config/validate.js";
import { defaultDecayMask } from "../../src/engine/adamw.js";
import { InterruptedError, LockedError, UsageError } from "../../src/errors.js";
import { formatArch, materialize, parseArch } from "../../src/space/arch.js";
import { archCost, fairSampler, rejectionSampler, uniformSampler } from "../../src/space/sample.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { RunDir } from "../../src/train/rundir.js";
import { Rng } from "../../src/util/rng.js";
import { deadPid, tempDir, writeLock } from "../helpers.js";
import { QUIET, TINY_SPACE, tinySetup, tinyTrainOptions } from "./fixtures.js";

const quiet = QUIET;
let setup: ReturnType<typeof tinySetup>;

beforeAll(async () => {
  setup = tinySetup();
  await tf.setBackend("cpu");
});

const base = (out: string) => tinyTrainOptions(setup, out);

async function finalWeights(dir: string) {
  const run = RunDir.existing(dir);
  const ck = await loadCheckpoint(run.latestCheckpoint()!.file);
  return ck;
}

describe("train-supernet end to end (cpu backend)", () => {
  it("trains, evaluates fixed paths each epoch, writes run.json, metrics, log and checkpoints", async () => {
    const out = join(tempDir(), "run");
    const io = captureIo();
    const before = tf.memory().numTensors;
    const result = await trainSupernetCommand(base(out), io);
    const stepsPerEpoch = Math.floor(64 / 8); // 72 images, 8 carved out for validation
    expect(result.steps).toBe(2 * stepsPerEpoch);
    expect(tf.memory().numTensors).toBe(before); // the supernet and the optimizer were disposed
    const run = RunDir.existing(out);
    const snap = run.readJson<any>("run.json");
    expect(snap).toMatchObject({ kind: "psvit.run", command: "train-supernet", seed: 7 });
    expect(snap.evalPaths.map((p: any) => p.label)).toEqual(["smallest", "median", "largest"]);
    expect(snap.finished.steps).toBe(result.steps);
    const metrics = readFileSync(run.path("metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const steps = metrics.filter((m) => m.type === "step");
    expect(steps.length).toBeGreaterThan(0);
    expect(steps[0]).toMatchObject({ type: "step", epoch: 0 });
    expect(typeof steps[0].loss).toBe("number");
    expect(steps[0].arch).toMatch(/^[BSI]{2}-[BSI]{2}$/);
    const evals = metrics.filter((m) => m.type === "eval");
    expect(evals).toHaveLength(2);
    expect(evals[1].paths).toHaveLength(3);
    expect(existsSync(run.path("log.jsonl"))).toBe(true);
    expect(run.checkpoints().length).toBe(2); // keep: 2
    expect(io.stdout.join("")).toContain("next: psvit search --run");
  });

  it("an interrupted run resumed with --resume ends with bit-identical weights and optimizer state", async () => {
    const whole = join(tempDir(), "whole");
    await trainSupernetCommand(base(whole), captureIo());
    const cut = join(tempDir(), "cut");
    await expect(trainSupernetCommand({ ...base(cut), stopAfterSteps: 5 }, captureIo())).rejects.toThrow(
      InterruptedError,
    );
    expect(RunDir.existing(cut).latestCheckpoint()!.step).toBe(5);
    await trainSupernetCommand({ ...quiet, out: cut, resume: true }, captureIo());
    const a = await finalWeights(whole);
    const b = await finalWeights(cut);
    expect(b.meta.step).toBe(a.meta.step);
    expect(b.meta.stream).toEqual(a.meta.stream);
    expect(b.meta.sampler).toEqual(a.meta.sampler);
    expect([...b.params.keys()]).toEqual([...a.params.keys()]);
    for (const [name, t] of a.params) expect(b.params.get(name)!.data, name).toEqual(t.data);
    for (const [name, t] of a.optimizer) expect(b.optimizer.get(name)!.data, name).toEqual(t.data);
    const stepsOf = (m: any) => m.optimizer.steps;
    expect(stepsOf(b.meta)).toEqual(stepsOf(a.meta));
  });

  it("--sampling fair: recorded in run.json, its counts checkpointed, a resumed run bit-identical", async () => {
    const whole = join(tempDir(), "fair-whole");
    await trainSupernetCommand({ ...base(whole), sampling: "fair" }, captureIo());
    expect(RunDir.existing(whole).readJson<{ sampling: string }>("run.json").sampling).toBe("fair");
    const cut = join(tempDir(), "fair-cut");
    await expect(
      trainSupernetCommand({ ...base(cut), sampling: "fair", stopAfterSteps: 5 }, captureIo()),
    ).rejects.toThrow(InterruptedError);
    const mid = await loadCheckpoint(RunDir.existing(cut).latestCheckpoint()!.file);
    const counts = (mid.meta.samplerState as { counts: number[][][] }).counts;
    // 5 steps: every cell counted 5 times over its three choices
    for (const stage of counts) for (const cell of stage) expect(cell.reduce((a, b) => a + b, 0)).toBe(5);
    await expect(
      trainSupernetCommand({ ...quiet, out: cut, resume: true, sampling: "uniform" }, captureIo()),
    ).rejects.toThrow("drop --sampling");
    await trainSupernetCommand({ ...quiet, out: cut, resume: true }, captureIo());
    const a = await finalWeights(whole);
    const b = await finalWeights(cut);
    expect(b.meta.samplerState).toEqual(a.meta.samplerState);
    for (const [name, t] of a.params) expect(b.params.get(name)!.data, name).toEqual(t.data);
    // and it trained other paths than uniform sampling with the same seed
    const uniform = join(tempDir(), "uniform");
    await trainSupernetCommand(base(uniform), captureIo());
    const u = await finalWeights(uniform);
    expect(u.meta.samplerState).toBeUndefined();
    expect([...a.params].some(([name, t]) => t.data.some((x, i) => x !== u.params.get(name)!.data[i]))).toBe(
      true,
    );
    await expect(
      trainSupernetCommand({ ...base(join(tempDir(), "x")), sampling: "even" }, captureIo()),
    ).rejects.toThrow('--sampling: expected one of uniform, fair, sandwich, got "even"');
  });

  it("the interrupted process exits 130 through the CLI and says how to resume", async () => {
    const out = join(tempDir(), "sig");
    const io = captureIo();
    const { trainSupernetCommand: cmd } = await import("../../src/cli/commands/train.js");
    const err = await cmd({ ...base(out), stopAfterSteps: 2 }, io).catch((e) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err.exitCode).toBe(130);
    expect(err.message).toContain("--resume");
  });

  it("through the CLI: interrupted with --stop-after, continued with only --out and --resume", async () => {
    const out = join(tempDir(), "cli-resume");
    const common = ["--backend", "cpu"];
    const first = captureIo();
    const argv = [
      "node",
      "psvit",
      "train-supernet",
      ...common,
      "--space",
      setup.space,
      "--config",
      setup.recipe,
    ];
    argv.push("--data", setup.data, "--out", out, "--stop-after", "2");
    expect(await runCli(argv, first)).toBe(130);
    const second = captureIo();
    const code = await runCli(
      ["node", "psvit", "train-supernet", ...common, "--out", out, "--resume"],
      second,
    );
    expect(second.stderr.join("")).not.toContain("drop --");
    expect(code).toBe(0);
    expect(RunDir.existing(out).readJson<any>("run.json").finished.steps).toBe(16);
  });

  it("the resume hint of an interruption is a command that works as printed (train-supernet and train)", async () => {
    const { spawnSync } = await import("node:child_process");
    const { ROOT } = await import("../helpers.js");
    // as a shell runs it: `psvit` is the built CLI, the hint's words are parsed by bash
    const runAsPrinted = (hint: string) =>
      spawnSync("bash", ["-c", `psvit() { "${process.execPath}" "${ROOT}/bin/psvit" "$@"; }; ${hint}`], {
        encoding: "utf8",
      });
    const hintOf = (io: ReturnType<typeof captureIo>) => {
      const m = /Continue with: (.*)$/m.exec(io.stderr.join(""));
      expect(m, io.stderr.join("")).not.toBeNull();
      return m![1];
    };
    const out = join(tempDir(), "hint's run"); // a space and a quote: the hint quotes them
    const first = captureIo();
    const argv = ["node", "psvit", "train-supernet", "--backend", "cpu", "--space", setup.space];
    argv.push("--config", setup.recipe, "--data", setup.data, "--seed", "7", "--epochs", "2");
    argv.push("--eval-images", "4", "--out", out, "--stop-after", "2");
    expect(await runCli(argv, first)).toBe(130);
    const hint = hintOf(first);
    expect(hint).toMatch(/^psvit train-supernet --out '.*' --resume --backend cpu --eval-images 4$/);
    const resumed = runAsPrinted(hint);
    expect(resumed.stderr).not.toContain("drop --");
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(RunDir.existing(out).readJson<any>("run.json").finished.steps).toBe(16);

    const space = parseSpaceConfig(TINY_SPACE);
    const model = join(tempDir(), "m.json");
    writeFileSync(model, JSON.stringify(materialize(space, parseArch("SB-BI"))));
    const modelOut = join(tempDir(), "model-run");
    const second = captureIo();
    const margv = ["node", "psvit", "train", model, "--backend", "cpu", "--config", setup.recipe];
    margv.push("--data", setup.data, "--epochs", "1", "--out", modelOut, "--stop-after", "3");
    expect(await runCli(margv, second)).toBe(130);
    const modelHint = hintOf(second);
    expect(modelHint).toBe(`psvit train ${model} --out ${modelOut} --resume --backend cpu`);
    const modelResumed = runAsPrinted(modelHint);
    expect(modelResumed.status, modelResumed.stderr).toBe(0);
    expect(RunDir.existing(modelOut).readJson<any>("run.json").finished.steps).toBe(8);
  }, 120_000);

  it("--resume refuses new settings; a fresh start refuses a non-empty directory", async () => {
    const out = join(tempDir(), "guard");
    await trainSupernetCommand({ ...base(out), stopAfterSteps: 1 }, captureIo()).catch(() => {});
    await expect(
      trainSupernetCommand({ ...quiet, out, resume: true, epochs: 5 }, captureIo()),
    ).rejects.toThrow("--resume continues with the settings in run.json; drop --epochs");
    await expect(trainSupernetCommand(base(out), captureIo())).rejects.toThrow("already holds a run");
    const other = tempDir();
    writeFileSync(join(other, "notes.txt"), "mine");
    await expect(trainSupernetCommand(base(other), captureIo())).rejects.toThrow("is not a psvit run");
    expect(readFileSync(join(other, "notes.txt"), "utf8")).toBe("mine");
    await expect(
      trainSupernetCommand({ ...quiet, out: tempDir(), resume: true }, captureIo()),
    ).rejects.toThrow("nothing to resume");
    // --force replaces a previous run
    const r = await trainSupernetCommand({ ...base(out), force: true }, captureIo());
    expect(r.steps).toBe(16);
  });

  it("fractional --epochs trains that share of one epoch, then validates once; 0 or junk is a usage error", async () => {
    const out = join(tempDir(), "short");
    const result = await trainSupernetCommand({ ...base(out), epochs: "0.5" }, captureIo());
    expect(result.steps).toBe(4); // 8 steps per epoch
    const metrics = readFileSync(RunDir.existing(out).path("metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === "eval").map((m) => m.step)).toEqual([4]);
    expect(RunDir.existing(out).readJson<any>("run.json").recipe.epochs).toBe(0.5);
    for (const bad of ["0", "-1", "half"]) {
      const err = await trainSupernetCommand(
        { ...base(join(tempDir(), "bad")), epochs: bad },
        captureIo(),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toContain("--epochs: expected a number > 0");
    }
  });

  it("an empty --flops-range is a clear usage error naming the space's range", async () => {
    const err = await trainSupernetCommand(
      { ...base(join(tempDir(), "x")), flopsRange: "1:2" },
      captureIo(),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/--flops-range 1:2 keeps no architecture of tiny: its FLOPs run from .* to /);
    const io = captureIo();
    const code = await runCli(
      ["node", "psvit", "train-supernet", "--space", setup.space, "--flops-range", "9:1"],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join("")).toContain("is above maximum");
  });

  it("a non-finite loss stops the run, names the last good checkpoint and keeps it", async () => {
    const out = join(tempDir(), "nan");
    const recipe = JSON.parse(readFileSync(setup.recipe, "utf8"));
    recipe.optimizer.lr = 1e30;
    recipe.schedule.warmupEpochs = 0;
    recipe.clipGradNorm = null;
    recipe.checkpoint.everySteps = 1;
    const file = join(tempDir(), "nan-recipe.json");
    writeFileSync(file, JSON.stringify(recipe));
    const err = await trainSupernetCommand({ ...base(out), config: file }, captureIo()).catch((e) => e);
    expect(err.name).toBe("NonFiniteLossError");
    expect(err.message).toMatch(/loss became (NaN|Infinity|-Infinity) at step \d+/);
    const run = RunDir.existing(out);
    const last = run.latestCheckpoint();
    expect(last).toBeDefined();
    expect(err.message).toContain(`The last good checkpoint is step ${last!.step}`);
    const ck = await loadCheckpoint(last!.file);
    for (const t of ck.params.values()) expect(t.data.every(Number.isFinite)).toBe(true);
  });
});

describe("signals", () => {
  it("SIGTERM to a real process: finishes the step, checkpoints, exits 143 with a resume hint", async () => {
    const { spawn } = await import("node:child_process");
    const { ROOT } = await import("../helpers.js");
    const out = join(tempDir(), "term");
    const recipe = JSON.parse(readFileSync(setup.recipe, "utf8"));
    recipe.epochs = 200; // long enough to be interrupted
    recipe.checkpoint.everySteps = null;
    const file = join(tempDir(), "long.json");
    writeFileSync(file, JSON.stringify(recipe));
    const args = [`${ROOT}/bin/psvit`, "train-supernet", "--backend", "cpu", "--space", setup.space];
    args.push("--config", file, "--data", setup.data, "--out", out);
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const metrics = join(out, "metrics.jsonl");
    for (let i = 0; i < 600 && !existsSync(metrics); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(metrics)).toBe(true);
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(143);
    expect(stderr).toContain(
      `checkpoint written. Continue with: psvit train-supernet --out ${out} --resume --backend cpu`,
    );
    const last = RunDir.existing(out).latestCheckpoint();
    expect(last!.step).toBeGreaterThanOrEqual(2);
  });

  it("SIGTERM mid-epoch on the cpu backend with prefetched batches stops within a few steps", async () => {
    const { spawn } = await import("node:child_process");
    const { ROOT } = await import("../helpers.js");
    // a long epoch (hundreds of steps): the loop must not wait for the epoch's end to see the signal
    const big = tinySetup(4008);
    const out = join(tempDir(), "term-mid");
    const recipe = JSON.parse(readFileSync(big.recipe, "utf8"));
    recipe.epochs = 1;
    recipe.checkpoint.everySteps = null;
    recipe.logEverySteps = 1;
    const file = join(tempDir(), "one-long-epoch.json");
    writeFileSync(file, JSON.stringify(recipe));
    const args = [`${ROOT}/bin/psvit`, "train-supernet", "--backend", "cpu", "--space", big.space];
    args.push("--config", file, "--data", big.data, "--out", out); // prefetch: the default (a worker)
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    const metrics = join(out, "metrics.jsonl");
    const lastStep = () =>
      existsSync(metrics)
        ? Math.max(
            0,
            ...readFileSync(metrics, "utf8")
              .trim()
              .split("\n")
              .filter((l) => l.startsWith('{"type":"step"'))
              .map((l) => JSON.parse(l).step as number),
          )
        : 0;
    for (let i = 0; i < 600 && lastStep() < 5; i++) await new Promise((r) => setTimeout(r, 100));
    const atSignal = lastStep();
    expect(atSignal).toBeGreaterThanOrEqual(5);
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const code = await exited;
    clearTimeout(timer);
    expect(stderr).toContain("psvit: SIGTERM: finishing the current step");
    expect(code).toBe(143);
    const stopped = RunDir.existing(out).latestCheckpoint()!.step;
    // the step in flight when the signal came, and a margin for this test's own reading of metrics.jsonl
    // on a busy machine: far from the ~450 steps of the epoch
    expect(stopped - atSignal).toBeLessThanOrEqual(20);
  }, 120_000);
});

describe("no leaks", () => {
  it("numTensors is flat from step to step", async () => {
    const { trainLoop } = await import("../../src/train/loop.js");
    const { supernetTarget } = await import("../../src/train/targets.js");
    const { Supernet } = await import("../../src/model/supernet.js");
    const { resolveData } = await import("../../src/data/resolve.js");
    const { parseRecipe } = await import("../../src/config/recipe.js");
    const { createLogger } = await import("../../src/util/log.js");
    const space = parseSpaceConfig(TINY_SPACE);
    const data = await resolveData(setup.data, { seed: 1, imageSize: 8, channels: 1 });
    const net = Supernet.create(space, { seed: 1 });
    const counts: number[] = [];
    await trainLoop({
      target: supernetTarget(net, space),
      sampler: uniformSampler(space, {}),
      evalPaths: [],
      data: {
        train: data.train,
        val: data.val,
        preprocess: data.info.preprocess,
        augment: data.info.augment,
      },
      recipe: parseRecipe({ ...JSON.parse(readFileSync(setup.recipe, "utf8")), epochs: 3 }),
      seed: 1,
      run: RunDir.open(join(tempDir(), "leak")),
      logger: createLogger({ level: "silent" }),
      prefetch: 0,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    // after every variable has been updated once, the optimizer holds all its moments: flat from there
    const tail = counts.slice(-12);
    expect(new Set(tail).size).toBe(1);
    net.dispose();
  });
});

describe("train a fixed model", () => {
  it("trains an HVT config, writes its config with preprocess and SPEC §4 weights", async () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const model = materialize(space, parseArch("SB-BI"));
    const file = join(tempDir(), "m.json");
    writeFileSync(file, JSON.stringify(model));
    const out = join(tempDir(), "m");
    const r = await trainModelCommand(
      file,
      { ...quiet, config: setup.recipe, data: setup.data, out, epochs: 1 },
      captureIo(),
    );
    expect(r.steps).toBe(8);
    const run = RunDir.existing(out);
    const saved = run.readJson<any>(`${model.name}.model.json`);
    expect(saved.preprocess.mean).toHaveLength(1);
    const evals = readFileSync(run.path("metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === "eval");
    expect(evals.at(-1).paths[0]).toMatchObject({
      label: "model",
      flops: archCost(space, parseArch("SB-BI")).flops,
    });
    const { loadModelWeights } = await import("../../src/weights/io.js");
    const { model: loaded } = await loadModelWeights(run.path(`${model.name}.safetensors`));
    expect(loaded.paramCount()).toBeGreaterThan(0);
    loaded.dispose();
  });
});

describe("one writer per run (issue 15, defect 8)", () => {
  it("a run another live process holds is refused in one line (resume and --force); a stale lock is taken over", async () => {
    const out = join(tempDir(), "locked");
    await expect(trainSupernetCommand({ ...base(out), stopAfterSteps: 3 }, captureIo())).rejects.toThrow(
      InterruptedError,
    );
    expect(existsSync(join(out, ".psvit-train.lock"))).toBe(false); // released when the command ended
    const lock = join(out, ".psvit-train.lock");
    writeLock(lock, process.ppid);
    await expect(trainSupernetCommand({ ...quiet, out, resume: true }, captureIo())).rejects.toThrow(
      LockedError,
    );
    const io = captureIo();
    const argv = ["node", "psvit", "train-supernet", "--out", out, "--resume", "--backend", "cpu"];
    expect(await runCli(argv, io)).toBe(2);
    expect(io.stderr).toEqual([
      expect.stringMatching(
        new RegExp(
          `^psvit: the run directory ${out} is in use by another psvit \\(pid ${process.ppid} on .*${lock} if that process is gone\n$`,
        ),
      ),
    ]);
    // --force does not delete a run that another process is writing
    await expect(trainSupernetCommand({ ...base(out), force: true }, captureIo())).rejects.toThrow(
      LockedError,
    );
    expect(RunDir.existing(out).latestCheckpoint()!.step).toBe(3);
    // the holder was killed: its lock is stale
    writeLock(lock, deadPid());
    const r = await trainSupernetCommand({ ...quiet, out, resume: true }, captureIo());
    expect(r.steps).toBe(16);
    expect(existsSync(lock)).toBe(false);
  });
});

describe("debris of a killed run (issue 15, defect 13)", () => {
  it("--resume removes the temporary files of a dead writer (a checkpoint cut short), not a live one's", async () => {
    const out = join(tempDir(), "debris");
    await expect(trainSupernetCommand({ ...base(out), stopAfterSteps: 3 }, captureIo())).rejects.toThrow(
      InterruptedError,
    );
    const run = RunDir.existing(out);
    const dead = deadPid();
    const cut = `${run.checkpointPath(6)}.tmp-${dead}-0123abcd`;
    const json = run.path(`run.json.tmp-${dead}-deadbeef`);
    const live = `${run.checkpointPath(6)}.tmp-${process.ppid}-89abcdef`;
    const notOurs = run.path("checkpoints", "notes.tmp-1-x");
    for (const f of [cut, json, live, notOurs]) writeFileSync(f, "half");
    await trainSupernetCommand({ ...quiet, out, resume: true, stopAfterSteps: 1 }, captureIo()).catch(
      () => {},
    );
    expect([cut, json, live, notOurs].map((f) => existsSync(f))).toEqual([false, false, true, true]);
  });
});

describe("checkpoint writes", () => {
  it("an interrupted write leaves the previous checkpoint intact and no partial file under a real name", async () => {
    const out = join(tempDir(), "ck");
    await trainSupernetCommand({ ...base(out), stopAfterSteps: 3 }, captureIo()).catch(() => {});
    const run = RunDir.existing(out);
    const before = run.latestCheckpoint()!;
    const bytes = readFileSync(before.file);
    const { saveCheckpoint } = await import("../../src/train/checkpoint.js");
    // a parameter whose data cannot be read makes the write fail half-way through
    const bad = {
      shape: [2],
      get data(): Float32Array {
        throw new Error("disk full");
      },
    };
    await expect(
      saveCheckpoint(
        run.checkpointPath(99),
        (await loadCheckpoint(before.file)).meta,
        new Map(),
        new Map([["x", bad as any]]),
      ),
    ).rejects.toThrow("disk full");
    expect(run.checkpoints().map((c) => c.step)).toEqual([before.step]);
    expect(readFileSync(before.file).equals(bytes)).toBe(true);
    // and a write that fails inside the file system (target is a directory) cleans its temporary file
    const { writeFileAtomic } = await import("../../src/util/fs.js");
    await expect(writeFileAtomic(run.path("checkpoints"), new Uint8Array(4))).rejects.toThrow();
    expect(run.checkpoints().map((c) => c.step)).toEqual([before.step]);
  });
});

describe("path sampling", () => {
  const space = parseSpaceConfig(TINY_SPACE);
  it("is uniform per cell", () => {
    const sample = rejectionSampler(space, {});
    const rng = new Rng(3);
    const counts = new Map<string, number>();
    const n = 6000;
    for (let i = 0; i < n; i++) {
      const arch = sample(rng);
      for (const [s, stage] of arch.entries())
        for (const [c, cell] of stage.entries())
          counts.set(`${s}${c}${cell}`, (counts.get(`${s}${c}${cell}`) ?? 0) + 1);
    }
    for (const v of counts.values()) expect(Math.abs(v - n / 3)).toBeLessThan(150);
    expect(counts.size).toBe(4 * 3);
  });
  it("--flops-range holds for every sample", () => {
    const costs = ["II-II", "BB-BB", "SS-SS"].map((a) => archCost(space, parseArch(a)).flops);
    const range = { minFlops: costs[0] + 1, maxFlops: costs[1] };
    const sample = rejectionSampler(space, range);
    const rng = new Rng(4);
    for (let i = 0; i < 500; i++) {
      const f = archCost(space, sample(rng)).flops;
      expect(f).toBeGreaterThanOrEqual(range.minFlops);
      expect(f).toBeLessThanOrEqual(range.maxFlops);
    }
  });
});

describe("fair path sampling", () => {
  const fmnist = parseSpaceConfig(
    JSON.parse(readFileSync(join(__dirname, "../../search-spaces/fmnist-2d.json"), "utf8")),
  );
  /** Per cell, the counts of B, S, I over `n` steps. */
  const tally = (
    next: (rng: Rng) => ReturnType<typeof parseArch>,
    n: number,
    seed: number,
    check?: (a: ReturnType<typeof parseArch>) => void,
  ) => {
    const rng = new Rng(seed);
    const counts = fmnist.stages.map((st) => Array.from({ length: st.cells }, () => [0, 0, 0]));
    for (let i = 0; i < n; i++) {
      const a = next(rng);
      check?.(a);
      a.forEach((stage, s) => {
        stage.forEach((c, j) => {
          counts[s][j]["BSI".indexOf(c)]++;
        });
      });
    }
    return counts.flat();
  };
  /** Max over cells of (most − least trained choice) / n. */
  const imbalance = (cells: number[][], n: number) =>
    Math.max(...cells.map((c) => (Math.max(...c) - Math.min(...c)) / n));

  it("without a range every choice of every cell is trained (almost) equally often", () => {
    const n = 900;
    const fair = fairSampler(fmnist, {});
    const cells = tally((r) => fair.next(r), n, 1);
    for (const c of cells) for (const k of c) expect(Math.abs(k - n / 3)).toBeLessThanOrEqual(3);
    // uniform sampling's counts wander by about sqrt(n): the fair ones do not
    expect(imbalance(cells, n)).toBeLessThan(imbalance(tally(uniformSampler(fmnist, {}).next, n, 1), n) / 3);
  });

  it("under a 25M budget: every path within it, the rarest choices trained more often, the cells more alike", () => {
    // the budget keeps 8% of the space and caps how often the expensive choices (S, B) can be trained:
    // uniform sampling trains S in 12–21% of the steps depending on the cell, I in about 55%
    const n = 600;
    const range = { maxFlops: 25e6 };
    const fair = fairSampler(fmnist, range);
    const within = (a: ReturnType<typeof parseArch>) =>
      expect(archCost(fmnist, a).flops).toBeLessThanOrEqual(25e6);
    const f = tally((r) => fair.next(r), n, 2, within);
    const u = tally(uniformSampler(fmnist, range).next, n, 2, within);
    const rarest = (cells: number[][]) => Math.min(...cells.flat()) / n;
    expect(rarest(f)).toBeGreaterThan(rarest(u) + 0.03);
    /** Per choice, the spread of its share over the cells. */
    const spread = (cells: number[][], k: number) =>
      (Math.max(...cells.map((c) => c[k])) - Math.min(...cells.map((c) => c[k]))) / n;
    for (const k of [0, 1, 2]) expect(spread(f, k), "BSI"[k]).toBeLessThan(spread(u, k));
  });

  it("is deterministic, and a restored state continues the same sequence", () => {
    const run = (steps: number, from?: { state: unknown; rng: Rng }) => {
      const s = fairSampler(fmnist, { maxFlops: 25e6 });
      if (from) s.restore(from.state);
      const rng = from?.rng ?? new Rng(5);
      const out = Array.from({ length: steps }, () => formatArch(s.next(rng)));
      return { out, state: s.state(), rng };
    };
    const whole = run(40);
    expect(run(40).out).toEqual(whole.out);
    const first = run(15);
    const rest = run(25, { state: JSON.parse(JSON.stringify(first.state)), rng: first.rng });
    expect([...first.out, ...rest.out]).toEqual(whole.out);
    expect(rest.state).toEqual(whole.state);
    const s = fairSampler(fmnist, {});
    for (const bad of [
      null,
      { counts: [] },
      { counts: [[[1, 2]]] },
      { counts: fmnist.stages.map((st) => Array.from({ length: st.cells }, () => [0, -1, 0])) },
    ]) {
      expect(() => s.restore(bad)).toThrow("the fair sampler's counts do not fit the search space");
    }
  });
});

describe("weight decay mask", () => {
  it("decays weight matrices only: not norms, biases, position embeddings or the class token", () => {
    const decayed = (name: string, shape: number[]) => defaultDecayMask(name, shape);
    expect(decayed("stages.0.cells.1.B.attn.qkv.weight", [8, 24])).toBe(true);
    expect(decayed("patch_embed.proj.weight", [4, 8])).toBe(true);
    expect(decayed("stages.1.pool.proj.weight", [32, 16])).toBe(true);
    expect(decayed("head.weight", [16, 3])).toBe(true);
    expect(decayed("stages.0.cells.1.B.attn.qkv.bias", [24])).toBe(false);
    expect(decayed("stages.0.cells.1.S.0.norm1.weight", [8])).toBe(false);
    expect(decayed("norm.weight", [16])).toBe(false);
    expect(decayed("pos_embed", [1, 16, 8])).toBe(false);
    expect(decayed("stages.1.pos_embed", [1, 4, 16])).toBe(false);
    expect(decayed("cls_token", [1, 1, 8])).toBe(false);
  });
});
