import { readdirSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { loadAnyConfig } from "../../src/config/load.js";
import { countModel } from "../../src/flops/count.js";
import { HvtModel, modelParamSpecs } from "../../src/model/hvt.js";
import { shapeSize } from "../../src/model/params.js";
import { Supernet } from "../../src/model/supernet.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import { tracedMacsPerImage, traceFlops } from "../oracles/trace.js";
import { ALL_MODELS, model, randomInput, SPACE_1D, SPACE_2D, useCpu } from "./fixtures.js";

beforeAll(useCpu);

const EXTRA = [
  // several reuse layers in a row, 2 heads → 4 heads, odd token counts
  model("reuse-chain", [
    { dim: 8, heads: 2, layers: ["attn", "reuse", "reuse", "attn"] },
    { pool: { type: "max1d", kernel: 3, stride: 1 }, dim: 8, heads: 4, layers: ["attn", "reuse"] },
  ]),
  // zero-layer first stage, then a linear-max1d pool with class token
  model(
    "zero-first",
    [
      { dim: 8, heads: 2, layers: [] },
      {
        pool: { type: "linear-max1d", kernel: 2, stride: 2, posEmbed: true },
        dim: 12,
        heads: 2,
        layers: ["attn"],
      },
    ],
    { classToken: true, mlpRatio: 3 },
  ),
];

describe("traced FLOPs", () => {
  it.each([...ALL_MODELS, ...EXTRA].map((c) => [c.name, c] as const))(
    "%s: traced MACs per image == countModel(config).flops",
    (_, cfg) => {
      const m = HvtModel.create(cfg);
      const x = randomInput(cfg, 2);
      const macs = tracedMacsPerImage((xx, ops) => m.forward(xx, { ops }), x);
      expect(macs).toBe(countModel(cfg).flops);
      expect(m.paramCount()).toBe(countModel(cfg).params);
      x.dispose();
      m.dispose();
    },
  );

  it("supernet paths trace to the FLOPs of the materialised config", () => {
    for (const [space, text] of [
      [SPACE_2D, "SB-BSI"],
      [SPACE_1D, "SIB-SS"],
      [SPACE_1D, "III-II"],
    ] as const) {
      const net = Supernet.create(space);
      const arch = parseArch(text);
      const x = randomInput(space, 3);
      const macs = tracedMacsPerImage((xx, ops) => net.forward(xx, arch, { ops }), x);
      expect(macs, text).toBe(countModel(materialize(space, arch)).flops);
      x.dispose();
      net.dispose();
    }
  });

  it("counts by op: attention products and linears", () => {
    const cfg = ALL_MODELS[0];
    const m = HvtModel.create(cfg);
    const x = randomInput(cfg, 1);
    const { result, trace } = traceFlops((ops) => m.forward(x, { ops }));
    expect(result.shape).toEqual([1, cfg.numClasses]);
    expect(trace.calls.selfAttention).toBe(2);
    expect(trace.calls.applyAttention).toBe(3);
    expect(trace.calls.maxPool1d).toBe(2);
    tf.dispose([x, result]);
    m.dispose();
  });

  it("params of the shipped configs: parameter specs == countModel params", () => {
    const dir = join(import.meta.dirname, "../../configs");
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const loaded = loadAnyConfig(join(dir, f));
      if (loaded.kind !== "psvit.model") continue;
      const n = modelParamSpecs(loaded.config).reduce((s, p) => s + shapeSize(p.shape), 0);
      expect(n, f).toBe(countModel(loaded.config).params);
    }
  });
});
