import { cpSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type RankCorrCommandOptions,
  type RankCorrResult,
  rankCorrCommand,
} from "../../src/cli/commands/rank-corr.js";
import { trainModelCommand, trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import type { Dataset } from "../../src/data/types.js";
import { InterruptedError, UsageError } from "../../src/errors.js";
import { kendallTau, spearmanRho } from "../../src/search/rankcorr.js";
import { tempDir } from "../helpers.js";
import { tinySetup } from "../train/fixtures.js";

const quiet = { backend: "cpu", logLevel: "silent", prefetch: 0 } as const;
let setup: ReturnType<typeof tinySetup>;
let runDir: string;
let whole: RankCorrResult;
let wholeRun: string;

beforeAll(async () => {
  setup = tinySetup();
  runDir = join(tempDir(), "run");
  await trainSupernetCommand(
    { ...quiet, space: setup.space, config: setup.recipe, data: setup.data, out: runDir, seed: 3 },
    captureIo(),
  );
  await tf.setBackend("cpu");
});

/** A copy of the trained supernet run, so every test works in a fresh directory. */
function freshRun(): string {
  const dir = join(tempDir(), "copy");
  cpSync(runDir, dir, { recursive: true });
  return dir;
}

function rankCorr(run: string, extra: Partial<RankCorrCommandOptions> = {}, io = captureIo()) {
  return rankCorrCommand({ ...quiet, run, samples: 4, epochs: 1, seed: 1, ...extra }, io);
}

const journal = (run: string) =>
  readFileSync(join(run, "rank-corr", "samples.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

/** The result without the timings (which differ between processes). */
const untimed = (r: RankCorrResult) => ({ ...r, pairs: r.pairs.map(({ seconds: _s, ...p }) => p) });

describe("psvit rank-corr", () => {
  it("trains 4 stratified subnets from scratch, writes journal, result, report; τ and ρ match the journal", async () => {
    wholeRun = freshRun();
    const io = captureIo();
    const before = tf.memory().numTensors;
    whole = await rankCorr(wholeRun, {}, io);
    expect(tf.memory().numTensors).toBe(before); // supernet and subnets disposed

    const dir = join(wholeRun, "rank-corr");
    const settings = JSON.parse(readFileSync(join(dir, "rank-corr.json"), "utf8"));
    expect(settings).toMatchObject({ kind: "psvit.rank-corr", samples: 4, epochs: 1, seed: 1 });
    const flops = settings.plan.map((p: { flops: number }) => p.flops);
    expect(flops).toEqual([...flops].sort((a, b) => a - b)); // one per stratum, cheapest first
    for (const p of settings.plan) {
      expect(p.flops).toBeGreaterThanOrEqual(p.stratum.minFlops);
      expect(p.flops).toBeLessThanOrEqual(p.stratum.maxFlops);
    }

    const lines = journal(wholeRun);
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.arch)).size).toBe(4);
    for (const l of lines) {
      expect(l.arch).toMatch(/^[BSI]{2}-[BSI]{2}$/);
      for (const k of ["inherited", "scratch"]) {
        expect(l[k]).toBeGreaterThanOrEqual(0);
        expect(l[k]).toBeLessThanOrEqual(1);
      }
      expect(l.seconds).toBeGreaterThan(0);
    }
    const x = lines.map((l) => l.inherited);
    const y = lines.map((l) => l.scratch);
    const orNull = (v: number) => (Number.isNaN(v) ? null : v);
    expect(whole.kendallTau).toBe(orNull(kendallTau(x, y)));
    expect(whole.spearmanRho).toBe(orNull(spearmanRho(x, y)));
    expect(whole.n).toBe(4);
    // two from-scratch seeds per subnet (the default): the scratch accuracy is their mean, and their τ
    // is the ceiling the supernet's τ against single seeds is measured against
    for (const l of lines) {
      expect(l.scratchBySeed).toHaveLength(2);
      expect(l.scratch).toBeCloseTo((l.scratchBySeed[0] + l.scratchBySeed[1]) / 2, 12);
    }
    const s0 = lines.map((l) => l.scratchBySeed[0]);
    const s1 = lines.map((l) => l.scratchBySeed[1]);
    expect(whole.scratchSeeds).toBe(2);
    expect(whole.ceiling?.kendallTau).toBe(orNull(kendallTau(s0, s1)));
    expect(whole.perSeedTau).toEqual([orNull(kendallTau(x, s0)), orNull(kendallTau(x, s1))]);
    if (whole.kendallTauCi) expect(whole.kendallTauCi.lo).toBeLessThanOrEqual(whole.kendallTauCi.hi);
    expect(JSON.parse(readFileSync(join(dir, "result.json"), "utf8"))).toEqual(whole);

    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html.match(/<svg/g)).toHaveLength(1);
    expect(html).not.toContain("<script");
    expect(html).toContain("Kendall τ");

    // each subnet left a finished `train` run without its checkpoints
    const subnets = readdirSync(join(dir, "subnets")).sort();
    expect(subnets).toHaveLength(8);
    expect(subnets[0]).toMatch(/^01-[BSI]{2}-[BSI]{2}$/);
    expect(subnets[1]).toBe(`${subnets[0]}-seed1`);
    const sub = JSON.parse(readFileSync(join(dir, "subnets", subnets[0], "run.json"), "utf8"));
    expect(sub).toMatchObject({ command: "train", recipe: { epochs: 1 }, seed: 3 });
    const sub1 = JSON.parse(readFileSync(join(dir, "subnets", subnets[1], "run.json"), "utf8"));
    expect(sub1).toMatchObject({ command: "train", seed: 4 });
    expect(sub.finished.steps).toBe(8);
    expect(readdirSync(join(dir, "subnets", subnets[0], "checkpoints"))).toEqual([]);

    const out = io.stdout.join("");
    expect(out).toContain("Kendall τ-b = ");
    expect(out).toContain("Spearman ρ = ");
    expect(out).toContain("ceiling (τ between two seeds of the same from-scratch training) = ");
    for (const l of lines) expect(out).toContain(l.arch);
  });

  it("--json prints the result object", async () => {
    const io = captureIo();
    const r = await rankCorrCommand({ ...quiet, run: wholeRun, resume: true, json: true }, io);
    expect(JSON.parse(io.stdout.join(""))).toEqual(JSON.parse(JSON.stringify(r)));
    expect(untimed(r)).toEqual(untimed(whole));
  });

  it("a study interrupted between subnets resumes without retraining any and gives the same result", async () => {
    const run = freshRun();
    await expect(rankCorr(run, { stopAfterSamples: 2 })).rejects.toThrow(InterruptedError);
    expect(journal(run)).toHaveLength(2);
    const subnets = join(run, "rank-corr", "subnets");
    const firstTwo = () =>
      readdirSync(subnets)
        .sort()
        .slice(0, 2)
        .map((d) => readFileSync(join(subnets, d, "metrics.jsonl"), "utf8"));
    const trained = firstTwo();
    await expect(rankCorrCommand({ ...quiet, run, resume: true, epochs: 2 }, captureIo())).rejects.toThrow(
      "--resume continues with the settings in rank-corr/rank-corr.json; drop --epochs",
    );
    const resumed = await rankCorrCommand({ ...quiet, run, resume: true }, captureIo());
    expect(firstTwo()).toEqual(trained); // the finished subnets were not trained again
    const lines = journal(run);
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.arch)).size).toBe(4);
    expect(untimed(resumed)).toEqual(untimed(whole));
  });

  it("a subnet interrupted mid-training continues from its checkpoint", async () => {
    const run = freshRun();
    const err = await rankCorr(run, { stopAfterSteps: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err.message).toContain("psvit rank-corr --run");
    expect(existsSync(join(run, "rank-corr", "samples.jsonl"))).toBe(false);
    const sub = readdirSync(join(run, "rank-corr", "subnets"))[0];
    expect(readdirSync(join(run, "rank-corr", "subnets", sub, "checkpoints"))).toHaveLength(1);
    const resumed = await rankCorrCommand({ ...quiet, run, resume: true }, captureIo());
    expect(readFileSync(join(run, "rank-corr", "log.jsonl"), "utf8")).toContain(
      "subnet 1 (seed 3): continuing its training at step 3",
    );
    expect(untimed(resumed)).toEqual(untimed(whole));
  });

  it("--sampling band: every subnet within ±5% of --flops; without --flops it is refused", async () => {
    const run = freshRun();
    const { loadSpaceConfig } = await import("../../src/config/load.js");
    const { flopsDistribution } = await import("../../src/space/stats.js");
    const space = loadSpaceConfig(setup.space);
    const values = flopsDistribution(space).values;
    // a budget whose ±5% band holds at least 3 architectures of the tiny space
    const { countSatisfying } = await import("../../src/space/stats.js");
    const budget = values.find(
      (v) => countSatisfying(space, { minFlops: Math.ceil(v * 0.95), maxFlops: Math.floor(v * 1.05) }) >= 3n,
    )!;
    expect(budget).toBeDefined();
    const r = await rankCorr(run, { samples: 3, sampling: "band", flops: String(budget), scratchSeeds: 1 });
    expect(r.sampling).toBe("flops-band");
    expect(r.ceiling).toBeNull();
    for (const p of r.pairs) {
      expect(p.flops).toBeGreaterThanOrEqual(budget * 0.95);
      expect(p.flops).toBeLessThanOrEqual(budget * 1.05);
    }
    const io = captureIo();
    expect(await runCli(["node", "psvit", "rank-corr", "--run", freshRun(), "--sampling", "band"], io)).toBe(
      2,
    );
    expect(io.stderr.join("")).toContain(
      "--sampling band draws within ±5% of the budget: give --flops BUDGET",
    );
  });

  it("bad flags and runs are usage errors (exit 2), found before anything is trained", async () => {
    const run = freshRun();
    const bad: [Partial<RankCorrCommandOptions>, string][] = [
      [{ samples: 2 }, "--samples: expected an integer >= 3"],
      [{ samples: "x" }, "--samples"],
      [{ epochs: 0 }, "--epochs: expected a number > 0"],
      [{ epochs: "-0.5" }, "--epochs: expected a number > 0"],
      [{ valImages: "0" }, "--val-images"],
      [{ flops: "1K" }, "--flops 1K is below the smallest architecture of tiny"],
      [{ flops: "lots" }, "--flops"],
      [{ samples: 200 }, "200 distinct architectures asked for, but only 81"],
    ];
    for (const [opts, message] of bad) {
      const e = await rankCorr(run, opts).catch((x) => x);
      expect(e, JSON.stringify(opts)).toBeInstanceOf(UsageError);
      expect(e.message).toContain(message);
    }
    expect(existsSync(join(run, "rank-corr"))).toBe(false);
    await expect(rankCorrCommand({ ...quiet, run, resume: true }, captureIo())).rejects.toThrow(
      "no rank-corr to resume",
    );
    await expect(rankCorr(join(tempDir(), "nothing"))).rejects.toThrow("not a psvit run directory");

    const io = captureIo();
    expect(await runCli(["node", "psvit", "rank-corr", "--run", run, "--samples", "1"], io)).toBe(2);
    expect(io.stderr.join("")).toContain("--samples");
    expect(await runCli(["node", "psvit", "rank-corr"], captureIo())).toBe(2); // --run is required
  });

  it("needs a train-supernet run", async () => {
    const out = join(tempDir(), "model-run");
    const model = join(tempDir(), "m.json");
    const { writeFileSync } = await import("node:fs");
    const { materialize, parseArch } = await import("../../src/space/arch.js");
    const { parseSpaceConfig } = await import("../../src/config/validate.js");
    const space = parseSpaceConfig(JSON.parse(readFileSync(setup.space, "utf8")));
    writeFileSync(model, JSON.stringify(materialize(space, parseArch("BI-IB"))));
    await trainModelCommand(
      model,
      { ...quiet, config: setup.recipe, data: setup.data, out, epochs: 1 },
      captureIo(),
    );
    await expect(rankCorr(out)).rejects.toThrow("rank-corr needs a train-supernet run");
  });

  it("--name keeps a second study of the same supernet in its own folder", async () => {
    const run = join(tempDir(), "named");
    cpSync(wholeRun, run, { recursive: true });
    const err = await rankCorr(run, {
      name: "band",
      samples: 3,
      seed: 2,
      scratchSeeds: 1,
      stopAfterSamples: 1,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(err.message).toContain(`psvit rank-corr --run ${run} --name band --resume`);
    const r = await rankCorrCommand({ ...quiet, run, name: "band", resume: true }, captureIo());
    expect(r.n).toBe(3);
    expect(
      readFileSync(join(run, "band", "samples.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(3);
    expect(untimed(JSON.parse(readFileSync(join(run, "rank-corr", "result.json"), "utf8")))).toEqual(
      untimed(whole),
    ); // the default study is untouched
    for (const name of ["../x", "checkpoints", "", "a b"]) {
      await expect(rankCorr(run, { name })).rejects.toThrow("--name: expected a folder name");
    }
  });

  it("--scratch-from ranks another supernet against the same from-scratch accuracies, training nothing", async () => {
    const source = join(tempDir(), "source");
    cpSync(wholeRun, source, { recursive: true });
    const other = join(tempDir(), "other");
    await trainSupernetCommand(
      // the same seed (the same validation split), trained longer: other weights
      {
        ...quiet,
        space: setup.space,
        config: setup.recipe,
        data: setup.data,
        out: other,
        seed: 3,
        epochs: 3,
      },
      captureIo(),
    );
    await tf.setBackend("cpu");
    const io = captureIo();
    const r = await rankCorrCommand({ ...quiet, run: other, scratchFrom: join(source, "rank-corr") }, io);
    expect(r.scratchFrom).toBe(join(source, "rank-corr"));
    expect(io.stdout.join("")).toContain(`(by the study in ${join(source, "rank-corr")})`);
    // the same subnets and from-scratch accuracies, this supernet's inherited ones
    expect(r.pairs.map((p) => [p.arch, p.scratchBySeed])).toEqual(
      whole.pairs.map((p) => [p.arch, p.scratchBySeed]),
    );
    expect(r.checkpoint.step).toBeGreaterThan(whole.checkpoint.step); // the other supernet's checkpoint
    expect(r.ceiling).toEqual(whole.ceiling);
    const { fitnessSet, pathAccuracy, supernetFromCheckpoint } = await import("../../src/eval/fitness.js");
    const { loadRunData } = await import("../../src/train/run.js");
    const { parseSpaceConfig } = await import("../../src/config/validate.js");
    const { parseArch } = await import("../../src/space/arch.js");
    const snap = JSON.parse(readFileSync(join(other, "run.json"), "utf8"));
    const data = await loadRunData(snap);
    const set = fitnessSet(data.val as Dataset, snap.preprocess, 1);
    const net = await supernetFromCheckpoint(join(other, r.checkpoint.file), parseSpaceConfig(snap.space));
    const inherited: number[] = [];
    for (const p of r.pairs) inherited.push(await pathAccuracy(net, parseArch(p.arch), set));
    expect(inherited).toEqual(r.pairs.map((p) => p.inherited));
    net.dispose();
    expect(readdirSync(join(other, "rank-corr", "subnets"))).toEqual([]); // nothing trained

    // refused: flags the source fixes, an unfinished source, another space, a study folder that is not one
    await expect(
      rankCorrCommand(
        { ...quiet, run: freshRun(), scratchFrom: join(source, "rank-corr"), samples: 5 },
        captureIo(),
      ),
    ).rejects.toThrow(
      `--scratch-from takes the subnets and their settings from ${join(source, "rank-corr")}; drop --samples`,
    );
    await expect(
      rankCorrCommand({ ...quiet, run: freshRun(), scratchFrom: join(other, "rank-corr") }, captureIo()),
    ).rejects.toThrow("that study reuses");
    const unfinished = join(tempDir(), "unfinished");
    cpSync(wholeRun, unfinished, { recursive: true });
    const lines = readFileSync(join(unfinished, "rank-corr", "samples.jsonl"), "utf8")
      .trim()
      .split("\n");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(unfinished, "rank-corr", "samples.jsonl"), `${lines.slice(1).join("\n")}\n`);
    const target = freshRun();
    await expect(
      rankCorrCommand({ ...quiet, run: target, scratchFrom: join(unfinished, "rank-corr") }, captureIo()),
    ).rejects.toThrow("1 of its 4 subnets are not finished");
    expect(existsSync(join(target, "rank-corr"))).toBe(false);
    const snapFile = join(unfinished, "run.json");
    const otherSpace = JSON.parse(readFileSync(snapFile, "utf8"));
    otherSpace.space.stages[0].dim += 8;
    writeFileSync(snapFile, JSON.stringify(otherSpace));
    await expect(
      rankCorrCommand({ ...quiet, run: target, scratchFrom: join(unfinished, "rank-corr") }, captureIo()),
    ).rejects.toThrow("its supernet was trained with another search space than");
    const cli = captureIo();
    expect(
      await runCli(["node", "psvit", "rank-corr", "--run", target, "--scratch-from", tempDir()], cli),
    ).toBe(2);
    expect(cli.stderr.join("")).toContain("not a rank-corr study folder (no rank-corr.json in it)");
  });

  it("refuses to replace a study without --force; --force starts over", async () => {
    await expect(rankCorr(wholeRun)).rejects.toThrow(
      "already holds a rank-corr study (rank-corr/); add --resume to continue it or --force to replace it",
    );
    const again = await rankCorr(wholeRun, { samples: 3, seed: 2, force: true });
    expect(again.n).toBe(3);
    expect(journal(wholeRun)).toHaveLength(3);
    expect(readdirSync(join(wholeRun, "rank-corr", "subnets"))).toHaveLength(6); // 3 subnets × 2 seeds
  });
});
