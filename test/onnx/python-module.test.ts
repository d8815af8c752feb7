/**
 * python/psvit_torch.py, the module PyTorch users load an export with: it builds the config as an
 * nn.Module, loads the safetensors (timm-style names), and its logits on real Fashion-MNIST images
 * equal `psvit predict`'s. Run by /usr/bin/python3 with Debian's python3-torch (CI installs it); the
 * `safetensors` package is not in Debian, so CI exercises the module's built-in reader.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { predictCommand, readPredictImages } from "../../src/cli/commands/predict.js";
import { captureIo } from "../../src/cli/io.js";
import { ROOT, tempDir } from "../helpers.js";
import { useCpu } from "../model/fixtures.js";
import { maxRelErr, PYTHON, requireTorch } from "../weights/torch-helpers.js";
import { FMNIST_TEST_IMAGES, ONNX_CASES, writeRandomModel } from "./cases.js";

// what README shows a user writing, plus reading the pixels the test hands over
const SCRIPT = `
import json, sys
import torch
sys.path.insert(0, sys.argv[1])
from psvit_torch import load, preprocess
model = load(sys.argv[2], sys.argv[3])
cfg = model.cfg
n, s, c = int(sys.argv[5]), cfg["image"]["size"], cfg["image"]["channels"]
images = torch.frombuffer(bytearray(open(sys.argv[4], "rb").read()), dtype=torch.uint8).reshape(n, s, s, c)
with torch.no_grad():
    logits = model(preprocess(images, cfg))
print(json.dumps(logits.double().tolist()))
`;

function torchLogits(config: string, weights: string, pixels: string, n: number) {
  const r = spawnSync(PYTHON, ["-c", SCRIPT, join(ROOT, "python"), config, weights, pixels, String(n)], {
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("python/psvit_torch.py", () => {
  const dir = tempDir("psvit-pytorch-");
  beforeAll(async () => {
    requireTorch();
    await useCpu();
  });

  for (const [i, config] of ONNX_CASES.entries()) {
    it(`${config.name}: loads the export and gives psvit predict's logits within 1e-4`, async () => {
      const files = await writeRandomModel(dir, config, 40 + i);
      const n = 7;
      const { images } = await readPredictImages(FMNIST_TEST_IMAGES, config, n);
      const pixels = join(dir, `${config.name}.u8`);
      writeFileSync(pixels, images);
      const r = torchLogits(files.config, files.weights, pixels, n);
      expect(r.status, r.stderr).toBe(0);
      const io = captureIo();
      await predictCommand(
        files.config,
        { weights: files.weights, images: FMNIST_TEST_IMAGES, limit: n, json: true, backend: "cpu" },
        io,
      );
      const want = io.stdout
        .join("")
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { logits: number[] }).logits);
      expect(maxRelErr(JSON.parse(r.stdout), want)).toBeLessThanOrEqual(1e-4);
    });
  }

  it("refuses weights saved for another config", async () => {
    const a = await writeRandomModel(dir, ONNX_CASES[1], 1);
    const b = await writeRandomModel(dir, ONNX_CASES[2], 2);
    const pixels = join(dir, "none.u8");
    writeFileSync(pixels, new Uint8Array(32 * 32));
    const r = torchLogits(a.config, b.weights, pixels, 1);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("saved for a different model config");
  });
});
