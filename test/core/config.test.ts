import { readdirSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadModelConfig, loadSpaceConfig } from "../../src/config/load.js";
import { parseAnyConfig, parseModelConfig, parseSpaceConfig } from "../../src/config/validate.js";
import { ConfigError } from "../../src/errors.js";
import { ROOT, readJson, variant, writeTempJson } from "../helpers.js";

const hvt = readJson("configs/hvt-s-2.json");
const space2d = readJson("search-spaces/psvit-2d-tiny.json");
const space1d = readJson("search-spaces/psvit-1d-tiny.json");

/** A small valid model with every pool type available to variants. */
const small = {
  kind: "psvit.model",
  version: 1,
  name: "small",
  image: { size: 32, channels: 1 },
  patchSize: 4,
  numClasses: 10,
  mlpRatio: 4,
  classToken: false,
  stages: [
    { dim: 32, heads: 2, layers: ["attn", "reuse"] },
    { pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1 }, dim: 64, heads: 4, layers: ["attn"] },
  ],
};

function expectConfigError(raw: unknown, message: string | RegExp, parse = parseModelConfig) {
  let error: unknown;
  try {
    parse(raw as never, "cfg.json");
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  const text = (error as Error).message;
  expect(text.startsWith("cfg.json: ")).toBe(true);
  if (typeof message === "string") expect(text).toContain(message);
  else expect(text).toMatch(message);
  expect(text).not.toContain("\n");
}

describe("shipped configs", () => {
  it("every configs/*.json is a valid psvit.model", () => {
    const files = readdirSync(`${ROOT}/configs`).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) expect(() => loadModelConfig(`${ROOT}/configs/${f}`)).not.toThrow();
  });
  it("every search-spaces/*.json is a valid psvit.space", () => {
    const files = readdirSync(`${ROOT}/search-spaces`).filter((f) => f.endsWith(".json"));
    expect(files.sort()).toEqual([
      "fmnist-1d.json",
      "fmnist-2d.json",
      "psvit-1d-tiny.json",
      "psvit-2d-tiny.json",
    ]);
    for (const f of files) expect(() => loadSpaceConfig(`${ROOT}/search-spaces/${f}`)).not.toThrow();
  });
  it("fills defaults: posEmbed false, conv2d padding 0", () => {
    const cfg = parseModelConfig(
      variant(small, (c) => {
        c.stages[1].pool = { type: "conv2d", kernel: 2, stride: 2 };
      }),
    );
    expect(cfg.stages[1].pool).toEqual({ type: "conv2d", kernel: 2, stride: 2, padding: 0, posEmbed: false });
  });
  it("parseAnyConfig dispatches on kind", () => {
    expect(parseAnyConfig(hvt).kind).toBe("psvit.model");
    expect(parseAnyConfig(space2d).kind).toBe("psvit.space");
    expectConfigError(
      { kind: "psvit.recipe" },
      'kind: must be "psvit.model" or "psvit.space"',
      parseAnyConfig as never,
    );
  });
  it("accepts zero-layer stages and the editor $schema key", () => {
    expect(() => parseModelConfig(variant(small, (c) => (c.stages[1].layers = [])))).not.toThrow();
    expect(() => parseModelConfig({ ...small, $schema: "x.json" })).not.toThrow();
  });
});

describe("model config: every invalid case names its path", () => {
  it("dim not divisible by heads", () => {
    expectConfigError(
      variant(small, (c) => (c.stages[1].heads = 5)),
      "stages[1].heads: dim 64 is not divisible by heads 5",
    );
  });
  it('"reuse" first in a stage', () => {
    expectConfigError(
      variant(small, (c) => (c.stages[1].layers = ["reuse", "attn"])),
      'stages[1].layers[0]: "reuse" cannot be the first layer of a stage',
    );
  });
  it("conv2d with a class token", () => {
    expectConfigError(
      variant(small, (c) => (c.classToken = true)),
      "stages[1].pool: conv2d pooling needs classToken: false",
    );
  });
  it("max1d changing dim", () => {
    expectConfigError(
      variant(small, (c) => (c.stages[1].pool = { type: "max1d", kernel: 3, stride: 2 })),
      "stages[1].dim: max1d pooling cannot change the width (32 -> 64)",
    );
  });
  it("a pool leaving fewer than one token", () => {
    expectConfigError(
      variant(small, (c) => {
        c.stages[1].pool = { type: "linear-max1d", kernel: 65, stride: 2 };
      }),
      "stages[1].pool: linear-max1d (kernel 65, stride 2) on 64 tokens leaves fewer than one token",
    );
    expectConfigError(
      variant(small, (c) => {
        c.stages[1].pool = { type: "conv2d", kernel: 9, stride: 1 };
      }),
      "stages[1].pool: conv2d (kernel 9, stride 1) on a 8×8 grid leaves fewer than one token",
    );
  });
  it("unknown fields, at any depth", () => {
    expectConfigError({ ...small, dropout: 0.1 }, '(root): unknown field "dropout"');
    expectConfigError(
      variant(small, (c) => (c.stages[1].pool.dilation = 2)),
      'stages[1].pool: unknown field "dilation"',
    );
    expectConfigError(
      variant(small, (c) => (c.stages[0].cells = 6)),
      'stages[0]: unknown field "cells"',
    );
  });
  it("a pool on the first stage, or none on a later one", () => {
    expectConfigError(
      variant(small, (c) => (c.stages[0].pool = { type: "max1d", kernel: 2, stride: 2 })),
      "stages[0].pool: the first stage cannot have a pool",
    );
    expectConfigError(
      variant(small, (c) => delete c.stages[1].pool),
      "stages[1]: every stage after the first needs a pool",
    );
  });
  it("conv2d after a 1D pool", () => {
    const cfg = variant(small, (c) => {
      c.stages[1] = { pool: { type: "max1d", kernel: 2, stride: 2 }, dim: 32, heads: 2, layers: ["attn"] };
      c.stages.push({ pool: { type: "conv2d", kernel: 2, stride: 2 }, dim: 64, heads: 2, layers: [] });
    });
    expectConfigError(cfg, "stages[2].pool: conv2d pooling needs a 2D token grid");
  });
  it("structural errors: types, enums, literals, missing fields", () => {
    expectConfigError(
      variant(small, (c) => (c.stages[0].layers = ["attn", "mlp"])),
      /^cfg\.json: stages\[0\]\.layers\[1\]: /,
    );
    expectConfigError(
      variant(small, (c) => (c.stages[1].pool.type = "avg")),
      'stages[1].pool.type: must be one of "max1d"',
    );
    expectConfigError(
      variant(small, (c) => (c.version = 2)),
      "version: must be 1",
    );
    expectConfigError(
      variant(small, (c) => delete c.numClasses),
      /numClasses: .*expected number/,
    );
    expectConfigError(
      variant(small, (c) => (c.patchSize = 0)),
      /patchSize: /,
    );
    expectConfigError(
      variant(small, (c) => (c.stages[0].dim = 31.5)),
      /stages\[0\]\.dim: /,
    );
  });
  it("patch size must divide the image", () => {
    expectConfigError(
      variant(small, (c) => (c.patchSize = 5)),
      "patchSize: image.size 32 is not divisible by patchSize 5",
    );
  });
  it("preprocess has one value per channel and positive std", () => {
    expectConfigError(
      variant(small, (c) => (c.preprocess = { mean: [0.5, 0.5], std: [0.2] })),
      "preprocess.mean: has 2 values but image.channels is 1",
    );
    expectConfigError(
      variant(small, (c) => (c.preprocess = { mean: [0.5], std: [0] })),
      /preprocess\.std\[0\]: /,
    );
  });
  it("mlpRatio must give whole hidden units", () => {
    expectConfigError(
      variant(small, (c) => (c.mlpRatio = 1.03)),
      "mlpRatio: mlpRatio 1.03 × stages[0].dim 32",
    );
  });
  it("reports how many more problems there are", () => {
    expectConfigError(
      variant(small, (c) => {
        c.stages[0].heads = 3;
        c.stages[1].heads = 5;
      }),
      "(and 1 more problem)",
    );
  });
});

describe("space config", () => {
  it("checks the same cross-field rules", () => {
    expectConfigError(
      variant(space2d, (c: any) => (c.classToken = true)),
      "stages[1].pool: conv2d pooling needs classToken: false",
      parseSpaceConfig as never,
    );
    expectConfigError(
      variant(space1d, (c: any) => (c.stages[2].heads = 7)),
      "stages[2].heads: dim 384 is not divisible by heads 7",
      parseSpaceConfig as never,
    );
    expectConfigError(
      variant(space2d, (c: any) => (c.stages[0].cells = 0)),
      /stages\[0\]\.cells: /,
      parseSpaceConfig as never,
    );
    expectConfigError(
      variant(space2d, (c: any) => (c.stages[0].layers = ["attn"])),
      'stages[0]: unknown field "layers"',
      parseSpaceConfig as never,
    );
  });
});

describe("loading files", () => {
  it("missing file and bad JSON are ConfigErrors naming the file", () => {
    expect(() => loadModelConfig("/nonexistent/model.json")).toThrow("/nonexistent/model.json: no such file");
    const file = writeTempJson("bad.json", {});
    writeFileSync(file, "{ not json");
    expect(() => loadModelConfig(file)).toThrow(new RegExp(`^${file}: invalid JSON: `));
  });
  it("a valid file loads", () => {
    const file = writeTempJson("m.json", small);
    expect(loadModelConfig(file).name).toBe("small");
  });
});
