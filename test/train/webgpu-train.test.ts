/**
 * Training, resuming, exporting and predicting on the webgpu backend on the real Dawn, where it finds an
 * adapter (test/engine/webgpu-adapter.ts; CI: lavapipe, a software adapter, so every run here is tiny):
 * a supernet's paths and a fixed model train and resume bit-identically and end near the cpu backend's
 * weights; a search and its export run there; `psvit predict` gives the PyTorch reference's logits.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportCommand } from "../../src/cli/commands/export.js";
import { predictCommand } from "../../src/cli/commands/predict.js";
import { searchCommand } from "../../src/cli/commands/search.js";
import { trainModelCommand, trainSupernetCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import type { ModelConfig } from "../../src/config/schema.js";
import { parseModelConfig, parseSpaceConfig } from "../../src/config/validate.js";
import { encodeIdx } from "../../src/data/idx.js";
import { normalize } from "../../src/data/stats.js";
import { initBackend, resetBackendState } from "../../src/engine/backend.js";
import { InterruptedError } from "../../src/errors.js";
import { HvtModel } from "../../src/model/hvt.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import { type Checkpoint, loadCheckpoint } from "../../src/train/checkpoint.js";
import { RunDir } from "../../src/train/rundir.js";
import { Rng } from "../../src/util/rng.js";
import { saveModelWeights } from "../../src/weights/io.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { realWebgpu, releaseWebgpu, warnIfNoAdapter } from "../engine/webgpu-adapter.js";
import { tempDir } from "../helpers.js";
import {
  maxRelErr,
  python,
  randomizeWeights,
  requireTorch,
  TORCH_CONFIGS,
} from "../weights/torch-helpers.js";
import { QUIET, TINY_SPACE, tinySetup, tinyTrainOptions } from "./fixtures.js";

warnIfNoAdapter("test/train/webgpu-train.test.ts");

const GPU = { ...QUIET, backend: "webgpu" } as const;
let setup: ReturnType<typeof tinySetup>;

beforeAll(() => {
  setup = tinySetup();
});
afterAll(async () => {
  resetBackendState();
  await tf.setBackend("cpu");
  releaseWebgpu();
});

const latest = (dir: string) => loadCheckpoint(RunDir.existing(dir).latestCheckpoint()!.file);

function expectSameCheckpoint(a: Checkpoint, b: Checkpoint): void {
  expect(b.meta.step).toBe(a.meta.step);
  expect([...b.params.keys()]).toEqual([...a.params.keys()]);
  for (const [name, t] of a.params) expect(b.params.get(name)!.data, name).toEqual(t.data);
  for (const [name, t] of a.optimizer) expect(b.optimizer.get(name)!.data, name).toEqual(t.data);
}

/** The training losses a run logged (metrics.jsonl), step by step. */
function losses(dir: string): [number, number][] {
  return readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((m) => m.type === "step")
    .map((m) => [m.step, m.loss]);
}

/**
 * Two backends' runs of the same training: the same steps with losses equal to 1e-4, and weights apart
 * by float rounding amplified through AdamW (it divides by √v: a gradient that is zero but for rounding,
 * such as a key bias's, moves its weight by up to lr either way): at most 1e-3, median 1e-5. (A norm
 * summed wrongly by webgpu's AddN made the losses differ by 2e-3 from the fourth step.)
 */
function expectSameTraining(gpuDir: string, cpuDir: string, a: Checkpoint, b: Checkpoint): void {
  const la = losses(gpuDir);
  const lb = losses(cpuDir);
  expect(la.map(([s]) => s)).toEqual(lb.map(([s]) => s));
  expect(la.length).toBeGreaterThan(2);
  for (const [i, [step, l]] of la.entries())
    expect(Math.abs(l - lb[i][1]), `loss at step ${step}`).toBeLessThan(1e-4);
  const diffs: number[] = [];
  for (const [name, t] of a.params) {
    const u = b.params.get(name)!.data as Float32Array;
    for (const [i, v] of (t.data as Float32Array).entries()) diffs.push(Math.abs(v - u[i]));
  }
  diffs.sort((x, y) => x - y);
  expect(diffs.at(-1)).toBeLessThan(1e-3);
  expect(diffs.at(-1)).toBeGreaterThan(0); // two backends did run
  expect(diffs[diffs.length >> 1]).toBeLessThan(1e-5);
}

describe.runIf(realWebgpu.ok)("on a real WebGPU adapter", () => {
  it("train-supernet: trains, resumes bit-identically, ends near the cpu backend's weights; search and export", async () => {
    const whole = join(tempDir(), "gpu-whole");
    await trainSupernetCommand({ ...tinyTrainOptions(setup, whole), ...GPU }, captureIo());
    expect(RunDir.existing(whole).readJson<{ backend: { name: string } }>("run.json").backend.name).toBe(
      "webgpu",
    );
    const cut = join(tempDir(), "gpu-cut");
    await expect(
      trainSupernetCommand({ ...tinyTrainOptions(setup, cut), ...GPU, stopAfterSteps: 5 }, captureIo()),
    ).rejects.toThrow(InterruptedError);
    await trainSupernetCommand({ ...GPU, out: cut, resume: true }, captureIo());
    const a = await latest(whole);
    expectSameCheckpoint(a, await latest(cut));
    // the same run on the cpu backend: the same steps, the same paths, weights apart by rounding only
    const cpu = join(tempDir(), "cpu-whole");
    await trainSupernetCommand(tinyTrainOptions(setup, cpu), captureIo());
    const c = await latest(cpu);
    expect(a.meta.stream).toEqual(c.meta.stream);
    expectSameTraining(whole, cpu, a, c);

    // a search on webgpu, and its winner exported there: the same weights as an export on the cpu
    const search = { population: 4, generations: 2, parents: 2, mutations: 1, crossovers: 1, workers: 0 };
    await searchCommand({ ...GPU, ...search, run: whole, flops: "120K", seed: 1 }, captureIo());
    const outGpu = join(tempDir(), "export-gpu");
    const outCpu = join(tempDir(), "export-cpu");
    const e1 = await exportCommand({ ...GPU, run: whole, out: outGpu }, captureIo());
    const e2 = await exportCommand({ ...QUIET, run: whole, out: outCpu }, captureIo());
    expect(e1.arch).toBe(e2.arch);
    const w1 = await readSafetensors(e1.weights!);
    const w2 = await readSafetensors(e2.weights!);
    expect([...w1.tensors.keys()].sort()).toEqual([...w2.tensors.keys()].sort());
    for (const [name, t] of w1.tensors) expect(w2.tensors.get(name)!.data, name).toEqual(t.data);
  }, 300_000);

  it("train: a fixed model trains and resumes bit-identically on webgpu, near the cpu backend's run", async () => {
    const file = join(tempDir(), "m.json");
    writeFileSync(file, JSON.stringify(materialize(parseSpaceConfig(TINY_SPACE), parseArch("SB-BI"))));
    const opts = (out: string) => ({
      ...GPU,
      config: setup.recipe,
      data: setup.data,
      out,
      epochs: 1,
      seed: 2,
    });
    const whole = join(tempDir(), "m-whole");
    await trainModelCommand(file, opts(whole), captureIo());
    const cut = join(tempDir(), "m-cut");
    await expect(trainModelCommand(file, { ...opts(cut), stopAfterSteps: 4 }, captureIo())).rejects.toThrow(
      InterruptedError,
    );
    await trainModelCommand(file, { ...GPU, out: cut, resume: true }, captureIo());
    const a = await latest(whole);
    expectSameCheckpoint(a, await latest(cut));
    const cpu = join(tempDir(), "m-cpu");
    await trainModelCommand(file, { ...opts(cpu), backend: "cpu" }, captureIo());
    expectSameTraining(whole, cpu, a, await latest(cpu));
  }, 300_000);

  it("predict on webgpu gives the PyTorch reference's logits (conv2d and max-pool stages, class token)", async () => {
    requireTorch();
    // the PyTorch interop models, at channel counts an IDX file holds (1 or 3), one with a preprocess
    const configs: ModelConfig[] = TORCH_CONFIGS.map((c) =>
      parseModelConfig({
        ...c,
        image: { ...c.image, channels: c.image.channels === 3 ? 3 : 1 },
        ...(c.image.channels === 3 ? { preprocess: { mean: [0.2, 0.3, 0.4], std: [0.5, 0.6, 0.7] } } : {}),
      }),
    );
    await initBackend("cpu", { log: false });
    for (const cfg of configs) {
      const dir = tempDir();
      const m = HvtModel.create(cfg, { seed: 1 });
      randomizeWeights(m, 2);
      const rng = new Rng(3);
      const weights = join(dir, "w.safetensors");
      await saveModelWeights(weights, cfg, m);
      m.dispose();
      const { size, channels } = cfg.image;
      const n = 7;
      const pixels = Uint8Array.from({ length: n * size * size * channels }, () => rng.int(256));
      const images = join(dir, "images.idx");
      writeFileSync(images, encodeIdx(channels === 1 ? [n, size, size] : [n, size, size, channels], pixels));
      const x = normalize(pixels, channels, cfg.preprocess ?? { mean: [0], std: [1] });
      const input = join(dir, "x.f32");
      writeFileSync(input, new Uint8Array(x.slice().buffer));
      const theirs = JSON.parse(python(["logits", weights, input, String(n)])).logits as number[][];
      const modelFile = join(dir, "model.json");
      writeFileSync(modelFile, JSON.stringify(cfg));
      const io = captureIo();
      resetBackendState();
      await predictCommand(modelFile, { weights, images, json: true, batchSize: 3, backend: "webgpu" }, io);
      expect(tf.getBackend()).toBe("webgpu");
      const lines = io.stdout.join("").trim().split("\n");
      const ours = lines.map((l) => JSON.parse(l).logits as number[]);
      expect(ours).toHaveLength(n);
      expect(maxRelErr(ours, theirs), cfg.name).toBeLessThanOrEqual(1e-4);
      resetBackendState();
      await initBackend("cpu", { log: false });
    }
  }, 300_000);
});
