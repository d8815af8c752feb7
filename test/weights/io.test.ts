import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataError } from "../../src/errors.js";
import { HvtModel, modelParamSpecs } from "../../src/model/hvt.js";
import type { ParamSpec } from "../../src/model/params.js";
import { Supernet } from "../../src/model/supernet.js";
import { parseArch } from "../../src/space/arch.js";
import {
  configDifference,
  fromTorchLayout,
  loadModelWeights,
  loadSupernetWeights,
  saveModelWeights,
  saveSupernetWeights,
  toTorchLayout,
} from "../../src/weights/io.js";
import { readSafetensors, writeSafetensors } from "../../src/weights/safetensors.js";
import { maxAbsDiff, PSVIT_1D, PSVIT_2D, randomInput, SPACE_1D, useCpu } from "../model/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "psvit-w-"));
beforeAll(useCpu);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("layout conversion", () => {
  it("linear: internal [in, out] ↔ PyTorch [out, in]", () => {
    const spec: ParamSpec = { name: "l.weight", shape: [2, 3], init: "trunc", layout: { kind: "linear" } };
    // internal w[i][o] = 10·i + o
    const internal = Float32Array.from([0, 1, 2, 10, 11, 12]);
    const t = toTorchLayout(spec, internal);
    expect(t.shape).toEqual([3, 2]);
    expect(Array.from(t.data)).toEqual([0, 10, 1, 11, 2, 12]);
    expect(Array.from(fromTorchLayout(spec, t.data))).toEqual(Array.from(internal));
  });

  it("conv: internal [k·k·cin, cout] rows (kh, kw, cin) ↔ PyTorch [cout, cin, kh, kw]", () => {
    const k = 2;
    const cin = 3;
    const cout = 2;
    const spec: ParamSpec = {
      name: "c.weight",
      shape: [k * k * cin, cout],
      init: "trunc",
      layout: { kind: "conv", k, cin },
    };
    const internal = new Float32Array(k * k * cin * cout);
    const code = (o: number, c: number, kh: number, kw: number) => 1000 * o + 100 * c + 10 * kh + kw;
    for (let kh = 0; kh < k; kh++)
      for (let kw = 0; kw < k; kw++)
        for (let c = 0; c < cin; c++)
          for (let o = 0; o < cout; o++) internal[((kh * k + kw) * cin + c) * cout + o] = code(o, c, kh, kw);
    const t = toTorchLayout(spec, internal);
    expect(t.shape).toEqual([cout, cin, k, k]);
    let i = 0;
    for (let o = 0; o < cout; o++)
      for (let c = 0; c < cin; c++)
        for (let kh = 0; kh < k; kh++)
          for (let kw = 0; kw < k; kw++) expect(t.data[i++]).toBe(code(o, c, kh, kw));
    expect(Array.from(fromTorchLayout(spec, t.data))).toEqual(Array.from(internal));
  });
});

describe("model weights files", () => {
  it.each([PSVIT_1D, PSVIT_2D].map((c) => [c.name, c] as const))(
    "%s: save → load gives identical logits",
    async (_, cfg) => {
      const m = HvtModel.create(cfg, { seed: 9 });
      const file = join(dir, `${cfg.name}.safetensors`);
      await saveModelWeights(file, cfg, m);
      const { metadata, tensors } = await readSafetensors(file);
      expect(JSON.parse(metadata["psvit.model"])).toEqual(cfg);
      expect([...tensors.keys()]).toEqual(modelParamSpecs(cfg).map((s) => s.name));
      // PyTorch layouts in the file
      const D = cfg.stages[0].dim;
      expect(tensors.get("patch_embed.proj.weight")!.shape).toEqual([
        D,
        cfg.image.channels,
        cfg.patchSize,
        cfg.patchSize,
      ]);
      expect(tensors.get("head.weight")!.shape).toEqual([cfg.numClasses, cfg.stages.at(-1)!.dim]);

      const { config, model } = await loadModelWeights(file, cfg);
      expect(config).toEqual(cfg);
      const x = randomInput(cfg, 2);
      expect(maxAbsDiff(m.forward(x), model.forward(x))).toBe(0);
      const again = await loadModelWeights(file);
      expect(again.config).toEqual(cfg);
      tf.dispose(x);
      for (const mm of [m, model, again.model]) mm.dispose();
    },
  );

  it("saves an extracted supernet path without building a model", async () => {
    const net = Supernet.create(SPACE_1D, { seed: 1 });
    const arch = parseArch("SBI-IS");
    const { config, weights } = await net.extract(arch);
    const file = join(dir, "extracted.safetensors");
    await saveModelWeights(file, config, weights);
    const { model } = await loadModelWeights(file);
    const x = randomInput(SPACE_1D, 2);
    expect(maxAbsDiff(net.forward(x, arch), model.forward(x))).toBeLessThan(1e-5);
    model.dispose();
    net.dispose();
  });

  it("supernet checkpoint round trip", async () => {
    const net = Supernet.create(SPACE_1D, { seed: 3 });
    const file = join(dir, "super.safetensors");
    await saveSupernetWeights(file, net, { step: "12" });
    const { supernet, metadata, space } = await loadSupernetWeights(file, SPACE_1D);
    expect(metadata.step).toBe("12");
    expect(space).toEqual(SPACE_1D);
    const x = randomInput(SPACE_1D, 2);
    const arch = parseArch("BSI-SB");
    expect(maxAbsDiff(net.forward(x, arch), supernet.forward(x, arch))).toBe(0);
    net.dispose();
    supernet.dispose();
  });

  describe("mismatches → DataError saying what was expected and what was found", () => {
    const save = async (
      name: string,
      tensors: Map<string, { shape: number[]; data: Float32Array }>,
      meta = {},
    ) => {
      const file = join(dir, name);
      await writeSafetensors(file, tensors, meta);
      return file;
    };
    const good = async () => {
      const m = HvtModel.create(PSVIT_1D);
      const file = join(dir, "good.safetensors");
      await saveModelWeights(file, PSVIT_1D, m);
      m.dispose();
      return readSafetensors(file);
    };

    it("a different config", async () => {
      const file = join(dir, "good2.safetensors");
      const m = HvtModel.create(PSVIT_1D);
      await saveModelWeights(file, PSVIT_1D, m);
      m.dispose();
      const other = { ...PSVIT_1D, stages: PSVIT_1D.stages.map((s, i) => (i === 1 ? { ...s, dim: 32 } : s)) };
      await expect(loadModelWeights(file, other)).rejects.toThrow(
        /different model config: stages\[1\]\.dim: 32 vs 16 \(given vs stored\)/,
      );
      // the name does not matter
      const renamed = await loadModelWeights(file, { ...PSVIT_1D, name: "other-name" });
      renamed.model.dispose();
    });

    it("missing and extra tensors", async () => {
      const { metadata, tensors } = await good();
      tensors.delete("stages.0.blocks.1.attn.v.weight");
      tensors.set("stages.0.blocks.9.attn.v.weight", { shape: [1], data: new Float32Array(1) });
      const file = await save("missing.safetensors", tensors, metadata);
      await expect(loadModelWeights(file)).rejects.toThrow(
        /missing 1 tensor\(s\): stages\.0\.blocks\.1\.attn\.v\.weight; unexpected 1 tensor\(s\): stages\.0\.blocks\.9/,
      );
      await expect(loadModelWeights(file)).rejects.toBeInstanceOf(DataError);
    });

    it("a tensor of the wrong shape (e.g. internal layout)", async () => {
      const { metadata, tensors } = await good();
      const t = tensors.get("stages.0.blocks.0.attn.qkv.weight")!;
      tensors.set("stages.0.blocks.0.attn.qkv.weight", { shape: [t.shape[1], t.shape[0]], data: t.data });
      const file = await save("shape.safetensors", tensors, metadata);
      await expect(loadModelWeights(file)).rejects.toThrow(
        /tensor stages\.0\.blocks\.0\.attn\.qkv\.weight has shape \[8, 24\] but model "t-1d" needs \[24, 8\] \(PyTorch layout\)/,
      );
    });

    it("non-finite weights (a diverged run): refused on load, naming the tensor", async () => {
      const { metadata, tensors } = await good();
      const t = tensors.get("stages.0.blocks.0.mlp.fc1.weight")!;
      const data = Float32Array.from(t.data);
      data[5] = Number.NaN;
      data[7] = Number.POSITIVE_INFINITY;
      tensors.set("stages.0.blocks.0.mlp.fc1.weight", { shape: t.shape, data });
      const file = await save("nan.safetensors", tensors, metadata);
      const err = await loadModelWeights(file).catch((e) => e);
      expect(err).toBeInstanceOf(DataError);
      expect(err.message).toMatch(
        /tensor stages\.0\.blocks\.0\.mlp\.fc1\.weight holds non-finite values \(2 of \d+; the first, NaN, at flat index 5\)/,
      );
    });

    it("no config in the metadata, or a broken one", async () => {
      const { tensors } = await good();
      const file = await save("nometa.safetensors", tensors);
      await expect(loadModelWeights(file)).rejects.toThrow(/__metadata__\["psvit\.model"\] is missing/);
      const { model } = await loadModelWeights(file, PSVIT_1D); // PyTorch-written files carry no config
      model.dispose();
      const bad = await save("badmeta.safetensors", tensors, { "psvit.model": "{nope" });
      await expect(loadModelWeights(bad)).rejects.toThrow(/__metadata__\["psvit\.model"\] is not valid JSON/);
      const invalid = await save("invalidmeta.safetensors", tensors, {
        "psvit.model": JSON.stringify({ ...PSVIT_1D, stages: [{ dim: 8, heads: 3, layers: [] }] }),
      });
      await expect(loadModelWeights(invalid)).rejects.toThrow(
        /__metadata__\["psvit\.model"\]: stages\[0\]\.heads: dim 8/,
      );
    });
  });

  it("configDifference ignores name and identity preprocess", () => {
    expect(configDifference(PSVIT_1D, { ...PSVIT_1D, name: "x" })).toBeNull();
    expect(configDifference(PSVIT_1D, { ...PSVIT_1D, preprocess: { mean: [0], std: [1] } })).toBeNull();
    expect(configDifference(PSVIT_1D, { ...PSVIT_1D, preprocess: { mean: [0.5], std: [1] } })).toMatch(
      /preprocess/,
    );
  });
});
