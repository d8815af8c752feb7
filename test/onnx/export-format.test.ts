/**
 * `psvit export --run DIR --format onnx|web`: the searched winner written as the usual config and
 * weights and, beside them, as one ONNX file (whose logits equal psvit predict's) or a web folder
 * (with the run's class names); the guards a user meets (a config without weights, an existing output).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { predictCommand } from "../../src/cli/commands/predict.js";
import { searchCommand } from "../../src/cli/commands/search.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { encodeIdx } from "../../src/data/idx.js";
import { RunDir } from "../../src/train/rundir.js";
import { tempDir } from "../helpers.js";
import { tinySupernetRun } from "../train/fixtures.js";
import { maxRelErr } from "../weights/torch-helpers.js";

let run: string;
beforeAll(async () => {
  run = await tinySupernetRun();
  const small = { population: 6, generations: 2, parents: 3, mutations: 2, crossovers: 2, workers: 0 };
  await searchCommand(
    { backend: "cpu", logLevel: "silent", ...small, run, flops: "120K", seed: 1 },
    captureIo(),
  );
}, 120_000);

const exportArgs = (out: string, ...more: string[]) => [
  "node",
  "psvit",
  "export",
  "--run",
  run,
  "--out",
  out,
  "--backend",
  "cpu",
  ...more,
];

describe("psvit export --format", () => {
  it("onnx: the winner's ONNX file gives psvit predict's logits", async () => {
    const out = join(tempDir(), "exp");
    const io = captureIo();
    expect(await runCli([...exportArgs(out, "--format", "onnx", "--json")], io)).toBe(0);
    const r = JSON.parse(io.stdout.join("")) as {
      config: string;
      weights: string;
      deployed: { format: string; path: string };
    };
    expect(r.deployed.format).toBe("onnx");
    expect(existsSync(r.config) && existsSync(r.weights) && existsSync(r.deployed.path)).toBe(true);
    const config = JSON.parse(readFileSync(r.config, "utf8"));
    const { size, channels } = config.image;
    const n = 3;
    const pixels = new Uint8Array(n * size * size * channels).map((_, i) => (i * 53) % 256);
    const idx = join(tempDir(), "three.idx");
    writeFileSync(idx, encodeIdx([n, size, size], pixels));
    const pio = captureIo();
    await predictCommand(r.config, { weights: r.weights, images: idx, json: true, backend: "cpu" }, pio);
    const want = pio.stdout
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).logits as number[]);
    const session = await ort.InferenceSession.create(r.deployed.path);
    const outT = await session.run({ images: new ort.Tensor("uint8", pixels, [n, size, size, channels]) });
    const K = config.numClasses;
    const data = outT.logits.data as Float32Array;
    const got = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * K, (i + 1) * K)));
    expect(maxRelErr(got, want)).toBeLessThanOrEqual(1e-4);
    await session.release();
  });

  it("web: the folder carries the run's class names; an existing one is kept without --force", async () => {
    const out = join(tempDir(), "exp");
    const io = captureIo();
    expect(await runCli([...exportArgs(out, "--format", "web")], io)).toBe(0);
    expect(io.stdout.join("")).toMatch(/web: +\S+-web \(view it: psvit serve /);
    const folder = io.stdout.join("").match(/web: +(\S+-web)/)![1];
    const meta = JSON.parse(readFileSync(join(folder, "model.json"), "utf8"));
    const snap = RunDir.existing(run).readJson<any>("run.json");
    expect(meta.labels).toEqual(snap.data.info.classNames);
    const before = statSync(join(folder, "model.onnx")).mtimeMs;
    const again = captureIo();
    expect(await runCli([...exportArgs(out, "--format", "web")], again)).toBe(2);
    expect(again.stderr.join("")).toContain("already exists");
    expect(statSync(join(folder, "model.onnx")).mtimeMs).toBe(before);
    expect(await runCli([...exportArgs(out, "--format", "web", "--force")], captureIo())).toBe(0);
  });

  it("a config from --space has no weights: --format onnx says how to get them (exit 2)", async () => {
    const io = captureIo();
    const code = await runCli(
      [
        "node",
        "psvit",
        "export",
        "--space",
        "search-spaces/fmnist-2d.json",
        "--arch",
        "BBBBBB-BBBBBB-BBBBBB",
        "--out",
        tempDir(),
        "--format",
        "onnx",
      ],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join("")).toContain("psvit convert MODEL.json --weights");
  });
});
