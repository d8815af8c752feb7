// The sandwich rule with in-place distillation (train-supernet --sampling sandwich): its sampler, its
// loss, the step's summed gradients against a hand computation, and the run end to end.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { parseSpaceConfig } from "../../src/config/validate.js";
import { Supernet } from "../../src/model/supernet.js";
import { formatArch, parseArch } from "../../src/space/arch.js";
import { archCost, sandwichSampler } from "../../src/space/sample.js";
import { flopsDistribution } from "../../src/space/stats.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { pathGrads } from "../../src/train/loop.js";
import { crossEntropy, softCrossEntropy } from "../../src/train/loss.js";
import { RunDir } from "../../src/train/rundir.js";
import { supernetTarget } from "../../src/train/targets.js";
import { Rng } from "../../src/util/rng.js";
import { tempDir } from "../helpers.js";
import { QUIET, TINY_SPACE, tinySetup, tinyTrainOptions } from "./fixtures.js";

const fmnist = parseSpaceConfig(
  JSON.parse(readFileSync(new URL("../../search-spaces/fmnist-2d.json", import.meta.url), "utf8")),
);
let setup: ReturnType<typeof tinySetup>;

beforeAll(async () => {
  setup = tinySetup();
  await tf.setBackend("cpu");
});

describe("softCrossEntropy", () => {
  it("equals crossEntropy when the targets are the smoothed one-hot rows, and its gradient is (softmax − target)/B", () => {
    const logits = tf.tensor2d([
      [2, -1, 0.5],
      [-3, 4, 1],
    ]);
    const labels = tf.tensor1d([0, 2], "int32");
    const eps = 0.1;
    const target = tf.tensor2d([
      [1 - eps + eps / 3, eps / 3, eps / 3],
      [eps / 3, eps / 3, 1 - eps + eps / 3],
    ]);
    expect(softCrossEntropy(logits, target).dataSync()[0]).toBeCloseTo(
      crossEntropy(logits, labels, eps).dataSync()[0],
      6,
    );
    const g = tf.grad((z: tf.Tensor) => softCrossEntropy(z as tf.Tensor2D, target))(logits);
    const want = tf.softmax(logits).sub(target).div(2);
    for (const [i, v] of Array.from(g.dataSync()).entries()) expect(v).toBeCloseTo(want.dataSync()[i], 6);
    tf.dispose([logits, labels, target, g, want]);
  });

  it("names both shapes when they differ", () => {
    const a = tf.zeros([2, 3]) as tf.Tensor2D;
    const b = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => softCrossEntropy(a, b)).toThrow("softCrossEntropy: logits [2, 3] but targets [2, 4]");
    tf.dispose([a, b]);
  });
});

describe("sandwichSampler", () => {
  it("every step: the range's largest path, its smallest, then two uniform draws from the range, distilled", () => {
    const range = { maxFlops: 25e6 };
    const dist = flopsDistribution(fmnist);
    const inRange = dist.values.filter((v) => v <= 25e6);
    const s = sandwichSampler(fmnist, range);
    const rng = new Rng(5);
    const drawn = new Set<string>();
    for (let k = 0; k < 20; k++) {
      const plan = s.plan(rng);
      expect(plan.distil).toBe(true);
      expect(plan.paths).toHaveLength(4);
      const flops = plan.paths.map((a) => archCost(fmnist, a).flops);
      expect(flops[0]).toBe(Math.max(...inRange));
      expect(flops[1]).toBe(inRange[0]);
      for (const f of flops) expect(f).toBeLessThanOrEqual(25e6);
      for (const a of plan.paths.slice(2)) drawn.add(formatArch(a));
    }
    expect(drawn.size).toBeGreaterThan(30); // the random paths are drawn afresh
    // the same RNG state, the same plan; no state of its own to checkpoint
    const again = sandwichSampler(fmnist, range);
    const [r1, r2] = [new Rng(9), new Rng(9)];
    expect(s.plan(r1).paths.map(formatArch)).toEqual(again.plan(r2).paths.map(formatArch));
    expect(s.state()).toBeNull();
  });
});

describe("a sandwich step's gradients", () => {
  it("are the teacher's label gradients plus each student's gradients toward the teacher's softmax", async () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const net = Supernet.create(space, { seed: 4 });
    const target = supernetTarget(net, space);
    const paths = ["BS-SB", "IB-BI", "SS-IB"].map(parseArch);
    const rng = new Rng(1);
    const batch = {
      x: Float32Array.from({ length: 4 * 64 }, () => rng.float() * 2 - 1),
      y: Int32Array.from([0, 1, 2, 1]),
      size: 4,
    };
    const pathVars = paths.map((a) => target.trainableVariables(a));
    const vars = new Map<string, tf.Variable>();
    for (const pv of pathVars) for (const [n, v] of pv) vars.set(n, v);
    const names = new Map([...vars].map(([n, v]) => [v.name, n]));
    const before = tf.memory().numTensors;
    const got = await pathGrads(target, paths, pathVars, true, batch, [8, 8, 1], 0.1, names);
    // by hand: each path's loss differentiated on its own, then summed by name
    const xs = tf.tensor4d(batch.x, [4, 8, 8, 1]);
    const ys = tf.tensor1d(batch.y, "int32");
    const soft = tf.tidy(() => tf.softmax(target.forward(xs, paths[0])));
    const want = new Map<string, Float32Array>();
    const losses: number[] = [];
    for (const [k, arch] of paths.entries()) {
      const own = target.trainableVariables(arch);
      const { value, grads } = tf.variableGrads(
        () =>
          k === 0
            ? crossEntropy(target.forward(xs, arch), ys, 0.1)
            : softCrossEntropy(target.forward(xs, arch), soft as tf.Tensor2D),
        [...own.values()],
      );
      losses.push(value.dataSync()[0]);
      for (const [tfn, g] of Object.entries(grads)) {
        const n = names.get(tfn)!;
        const d = g.dataSync();
        const prev = want.get(n);
        want.set(n, prev ? prev.map((x, i) => x + d[i]) : Float32Array.from(d));
      }
      tf.dispose([value, ...Object.values(grads)]);
    }
    tf.dispose([xs, ys, soft]);
    expect(got.loss).toBeCloseTo(losses[0], 5);
    expect(got.studentLoss).toBeCloseTo((losses[1] + losses[2]) / 2, 5);
    expect([...got.named.keys()].sort()).toEqual([...want.keys()].sort());
    // the step trains the union of its paths' variables
    expect(want.size).toBeGreaterThan(target.trainableVariables(paths[1]).size);
    for (const [n, g] of got.named) {
      const d = g.dataSync();
      const w = want.get(n)!;
      for (let i = 0; i < d.length; i++) expect(d[i], n).toBeCloseTo(w[i], 5);
    }
    for (const g of got.named.values()) g.dispose();
    expect(tf.memory().numTensors).toBe(before); // inputs, soft targets and partial sums released
    net.dispose();
  });
});

describe("train-supernet --sampling sandwich (cpu backend)", () => {
  it("trains four paths a step, logs the distillation loss, resumes bit-identically, leaks nothing", async () => {
    const whole = join(tempDir(), "sw-whole");
    const before = tf.memory().numTensors;
    await trainSupernetCommand({ ...tinyTrainOptions(setup, whole), sampling: "sandwich" }, captureIo());
    expect(tf.memory().numTensors).toBe(before);
    const run = RunDir.existing(whole);
    expect(run.readJson<{ sampling: string }>("run.json").sampling).toBe("sandwich");
    const steps = readFileSync(run.path("metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((m) => m.type === "step");
    expect(steps.length).toBeGreaterThan(0);
    for (const m of steps) {
      expect(m.arch.split(" + ")).toHaveLength(4);
      expect(Number.isFinite(m.student_loss)).toBe(true);
    }
    const cut = join(tempDir(), "sw-cut");
    await expect(
      trainSupernetCommand(
        { ...tinyTrainOptions(setup, cut), sampling: "sandwich", stopAfterSteps: 5 },
        captureIo(),
      ),
    ).rejects.toThrow("interrupted");
    await trainSupernetCommand({ ...QUIET, out: cut, resume: true }, captureIo());
    const a = await loadCheckpoint(run.latestCheckpoint()!.file);
    const b = await loadCheckpoint(RunDir.existing(cut).latestCheckpoint()!.file);
    expect(b.meta.step).toBe(a.meta.step);
    for (const [name, t] of a.params) expect(b.params.get(name)!.data, name).toEqual(t.data);
    for (const [name, t] of a.optimizer) expect(b.optimizer.get(name)!.data, name).toEqual(t.data);
  });
});
