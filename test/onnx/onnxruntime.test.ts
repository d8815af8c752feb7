/**
 * The ONNX export checked by an independent runtime: onnxruntime-node (its bundled CPU library) runs
 * the exported file on real Fashion-MNIST test images, and its logits equal `psvit predict`'s within
 * 1e-4, for every pool type, with and without class token, at batch 1 and batch 7. Also: the file's
 * structure (opset, dynamic batch, uint8 input), and bad inputs as the user meets them.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { predictCommand, readPredictImages } from "../../src/cli/commands/predict.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { DataError } from "../../src/errors.js";
import { convertModel } from "../../src/onnx/export.js";
import { decodeOnnx, OPSET } from "../../src/onnx/proto.js";
import { readSafetensors, writeSafetensors } from "../../src/weights/safetensors.js";
import { tempDir } from "../helpers.js";
import { useCpu } from "../model/fixtures.js";
import { maxRelErr } from "../weights/torch-helpers.js";
import { FMNIST_TEST_IMAGES, ONNX_CASES, writeRandomModel } from "./cases.js";

async function psvitLogits(config: string, weights: string, n: number): Promise<number[][]> {
  const io = captureIo();
  await predictCommand(
    config,
    { weights, images: FMNIST_TEST_IMAGES, limit: n, json: true, backend: "cpu" },
    io,
  );
  return io.stdout
    .join("")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { logits: number[] }).logits);
}

async function ortLogits(file: string, images: Uint8Array, n: number, size: number): Promise<number[][]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ images: new ort.Tensor("uint8", images, [n, size, size, 1]) });
    const logits = out.logits.data as Float32Array;
    const probs = out.probabilities.data as Float32Array;
    expect(out.logits.dims).toEqual([n, 10]);
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * 10, (i + 1) * 10));
      // probabilities: the softmax of the logits
      const m = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
      for (const [k, v] of row.entries()) expect(probs[i * 10 + k]).toBeCloseTo(Math.exp(v - m) / z, 5);
      rows.push(row);
    }
    return rows;
  } finally {
    await session.release();
  }
}

describe("ONNX export in onnxruntime-node", () => {
  const dir = tempDir("psvit-onnx-");
  beforeAll(useCpu);

  for (const [i, config] of ONNX_CASES.entries()) {
    it(`${config.name}: logits equal psvit predict's within 1e-4 at batch 1 and 7`, async () => {
      const files = await writeRandomModel(dir, config, 10 + i);
      const { path } = await convertModel({ config: files.config, weights: files.weights, to: "onnx" });
      expect(path).toBe(join(dir, `${config.name}.onnx`));
      for (const n of [1, 7]) {
        const { images } = await readPredictImages(FMNIST_TEST_IMAGES, config, n);
        const want = await psvitLogits(files.config, files.weights, n);
        const got = await ortLogits(path, images, n, 32);
        expect(got.length).toBe(n);
        const err = maxRelErr(got, want);
        expect(err, `${config.name} batch ${n}`).toBeLessThanOrEqual(1e-4);
        // the images give different logits, so a batch-mixing bug would show
        if (n > 1) expect(Math.max(...want[1].map((v, k) => Math.abs(v - want[0][k])))).toBeGreaterThan(1e-2);
      }
    });
  }

  it("writes opset 17, a symbolic batch dimension, uint8 NHWC input and the config in the metadata", async () => {
    const config = ONNX_CASES[0];
    const files = await writeRandomModel(dir, config, 3);
    const out = join(dir, "structure.onnx");
    await convertModel({ config: files.config, weights: files.weights, to: "onnx", out });
    const m = decodeOnnx(readFileSync(out)) as any;
    expect(m.opset_import).toEqual([{ version: OPSET }]);
    expect(OPSET).toBeGreaterThanOrEqual(17);
    const input = m.graph.input[0];
    expect(input.name).toBe("images");
    expect(input.type.tensor_type.elem_type).toBe(2); // UINT8
    expect(input.type.tensor_type.shape.dim).toEqual([
      { dim_param: "batch" },
      { dim_value: 32 },
      { dim_value: 32 },
      { dim_value: 1 },
    ]);
    expect(m.graph.output.map((o: any) => o.name)).toEqual(["logits", "probabilities"]);
    const meta = Object.fromEntries(m.metadata_props.map((p: any) => [p.key, p.value]));
    expect(JSON.parse(meta["psvit.model"]).name).toBe(config.name);
  });

  it("refuses weights that do not match the config (one line, exit 2) and writes nothing", async () => {
    const [a, b] = [ONNX_CASES[1], ONNX_CASES[3]];
    const fa = await writeRandomModel(dir, a, 1);
    const fb = await writeRandomModel(dir, b, 2);
    const out = join(dir, "mismatch.onnx");
    await expect(convertModel({ config: fa.config, weights: fb.weights, to: "onnx", out })).rejects.toThrow(
      DataError,
    );
    const io = captureIo();
    const code = await runCli(
      ["node", "psvit", "convert", fa.config, "--weights", fb.weights, "--to", "onnx", "--out", out],
      io,
    );
    expect(code).toBe(2);
    const err = io.stderr.join("").trim();
    expect(err.split("\n")).toHaveLength(1);
    expect(err).toContain("different model config");
    expect(existsSync(out)).toBe(false);
    // weights without metadata (as PyTorch writes them) whose head has the wrong shape
    const { tensors } = await readSafetensors(fa.weights);
    tensors.set("head.bias", { shape: [9], data: new Float32Array(9) });
    const bare = join(dir, "bare.safetensors");
    await writeSafetensors(bare, tensors, {});
    const io2 = captureIo();
    expect(
      await runCli(
        ["node", "psvit", "convert", fa.config, "--weights", bare, "--to", "onnx", "--out", out],
        io2,
      ),
    ).toBe(2);
    expect(io2.stderr.join("")).toContain("tensor head.bias has shape [9]");
    expect(existsSync(out)).toBe(false);
    writeFileSync(join(dir, "empty.safetensors"), "");
    const empty = [
      "node",
      "psvit",
      "convert",
      fa.config,
      "--weights",
      join(dir, "empty.safetensors"),
      "--to",
      "onnx",
    ];
    expect(await runCli(empty, captureIo())).toBe(2);
    const code3 = await runCli(
      ["node", "psvit", "convert", fa.config, "--weights", fa.weights, "--to", "tflite"],
      captureIo(),
    );
    expect(code3).toBe(2);
  });

  it("psvit bench --latency measures batch 1 on psvit, onnxruntime-node and onnxruntime-web", async () => {
    const config = ONNX_CASES[4];
    const files = await writeRandomModel(dir, config, 9);
    const io = captureIo();
    const args = [
      "bench",
      files.config,
      "--latency",
      "--weights",
      files.weights,
      "--runs",
      "3",
      "--backend",
      "cpu",
    ];
    expect(await runCli(["node", "psvit", ...args, "--json"], io)).toBe(0);
    const { latency } = JSON.parse(io.stdout.join("").trim().split("\n").at(-1)!) as {
      latency: Array<{ runtime: string; runs: number; median_ms: number; p10_ms: number; p90_ms: number }>;
    };
    expect(latency.map((r) => r.runtime)).toEqual([
      "psvit (cpu)",
      "onnxruntime-node (cpu)",
      "onnxruntime-web (wasm, as the web page)",
    ]);
    for (const r of latency) {
      expect(r.runs).toBe(3);
      expect(r.median_ms).toBeGreaterThan(0);
      expect(r.p10_ms).toBeLessThanOrEqual(r.median_ms);
      expect(r.p90_ms).toBeGreaterThanOrEqual(r.median_ms);
    }
    const table = captureIo();
    expect(await runCli(["node", "psvit", ...args], table)).toBe(0);
    expect(table.stdout.join("")).toMatch(/onnxruntime-node \(cpu\)\s+1\s+[\d.]+/);
    expect(await runCli(["node", "psvit", "bench", files.config, "--runs", "3"], captureIo())).toBe(2);
  });
});
