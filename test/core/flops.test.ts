import { describe, expect, it } from "vitest";
import { loadModelConfig } from "../../src/config/load.js";
import { parseModelConfig } from "../../src/config/validate.js";
import { attnLayerCost, countModel, reuseLayerCost } from "../../src/flops/count.js";
import { ROOT } from "../helpers.js";

/** SPEC §2's table (3 significant digits) and the exact integers they round. */
const PUBLISHED: Record<string, { gflops: number; mparams: number; flops: number; params: number }> = {
  "deit-ti": { gflops: 1.25, mparams: 5.72, flops: 1253683200, params: 5717416 },
  "deit-s": { gflops: 4.6, mparams: 22.05, flops: 4598882304, params: 22050664 },
  "hvt-s-0": { gflops: 4.57, mparams: 22.05, flops: 4574026752, params: 22049896 },
  "hvt-ti-1": { gflops: 0.642, mparams: 5.74, flops: 642299520, params: 5735656 },
  "hvt-s-1": { gflops: 2.4, mparams: 22.09, flops: 2402020608, params: 22087144 },
  "hvt-s-2": { gflops: 1.94, mparams: 22.11, flops: 1941216768, params: 22105576 },
  "hvt-s-3": { gflops: 1.62, mparams: 22.11, flops: 1620095232, params: 22114408 },
  "scale-hvt-ti-4": { gflops: 1.39, mparams: 22.12, flops: 1393640448, params: 22118632 },
};

const round3 = (x: number) => Number(x.toPrecision(3));

describe("published figures (SPEC §2)", () => {
  for (const [name, want] of Object.entries(PUBLISHED)) {
    it(`${name}: ${want.gflops} GFLOPs, ${want.mparams} M params`, () => {
      const cost = countModel(loadModelConfig(`${ROOT}/configs/${name}.json`));
      expect(cost.flops).toBe(want.flops);
      expect(cost.params).toBe(want.params);
      expect(round3(cost.flops / 1e9)).toBe(round3(want.gflops));
      // the table quotes params to 2 decimals (4 significant digits above 10 M)
      expect(Number((cost.params / 1e6).toFixed(2))).toBe(Number(want.mparams.toFixed(2)));
    });
  }
});

describe("closed forms", () => {
  it("attn: (4 + 2r)·N·D² + 2·N²·D; reuse: (2 + 2r)·N·D² + N²·D", () => {
    for (const [N, D, r] of [
      [197, 192, 4],
      [17, 48, 2],
      [4, 192, 3],
      [1, 8, 1],
    ]) {
      expect(attnLayerCost(N, D, r).flops).toBe((4 + 2 * r) * N * D * D + 2 * N * N * D);
      expect(reuseLayerCost(N, D, r).flops).toBe((2 + 2 * r) * N * D * D + N * N * D);
      // qkv + proj + fc1 + fc2 + 2 LayerNorms; reuse has v instead of qkv
      expect(attnLayerCost(N, D, r).params).toBe(4 * D * D + 4 * D + 2 * r * D * D + r * D + D + 4 * D);
      expect(reuseLayerCost(N, D, r).params).toBe(2 * D * D + 2 * D + 2 * r * D * D + r * D + D + 4 * D);
    }
  });

  it("PSViT-2D style: reuse + conv2d pool with pos embed (hand-counted)", () => {
    const cfg = parseModelConfig({
      kind: "psvit.model",
      version: 1,
      name: "a",
      image: { size: 32, channels: 1 },
      patchSize: 4,
      numClasses: 10,
      mlpRatio: 4,
      classToken: false,
      stages: [
        { dim: 32, heads: 2, layers: ["attn", "reuse"] },
        {
          pool: { type: "conv2d", kernel: 3, stride: 2, padding: 1, posEmbed: true },
          dim: 64,
          heads: 4,
          layers: ["attn"],
        },
      ],
    });
    const c = countModel(cfg);
    expect(c.embed).toEqual({ flops: 64 * 32 * 16, params: 32 * 16 + 32 + 64 * 32 });
    expect(c.stages[0].layers.map((l) => l.flops)).toEqual([1048576, 786432]);
    expect(c.stages[0].layers.map((l) => l.params)).toEqual([12704, 10592]);
    expect(c.stages[1].tokens).toBe(16);
    expect(c.stages[1].grid).toEqual([4, 4]);
    expect(c.stages[1].pool).toEqual({
      type: "conv2d",
      flops: 16 * 64 * 32 * 9,
      params: 64 * 32 * 9 + 64 + 16 * 64,
    });
    expect(c.stages[1].layers[0].flops).toBe(819200);
    expect(c.head).toEqual({ flops: 640, params: 128 + 640 + 10 });
    expect(c.flops).toBe(2982528);
    expect(c.params).toBe(96170);
  });

  it("PSViT-1D style: class token + linear-max1d (Linear on the class token too) (hand-counted)", () => {
    const cfg = parseModelConfig({
      kind: "psvit.model",
      version: 1,
      name: "b",
      image: { size: 32, channels: 3 },
      patchSize: 8,
      numClasses: 5,
      mlpRatio: 2,
      classToken: true,
      stages: [
        { dim: 48, heads: 3, layers: ["attn", "reuse", "attn"] },
        {
          pool: { type: "linear-max1d", kernel: 3, stride: 2, posEmbed: true },
          dim: 96,
          heads: 6,
          layers: ["attn", "reuse"],
        },
      ],
    });
    const c = countModel(cfg);
    expect(c.embed).toEqual({ flops: 147456, params: 10128 });
    expect(c.stages[0].seqLen).toBe(17);
    expect(c.stages[0].flops).toBe(931056);
    expect(c.stages[0].params).toBe(52176);
    expect(c.stages[1].tokens).toBe(7);
    expect(c.stages[1].seqLen).toBe(8);
    expect(c.stages[1].pool).toEqual({ type: "linear-max1d", flops: 17 * 48 * 96, params: 5472 });
    expect(c.stages[1].layers.map((l) => l.flops)).toEqual([602112, 448512]);
    expect(c.flops).toBe(2207952);
    expect(c.params).toBe(199397);
  });

  it("max1d without posEmbed costs nothing; a zero-layer stage costs only its pool", () => {
    const cfg = parseModelConfig({
      kind: "psvit.model",
      version: 1,
      name: "c",
      image: { size: 16, channels: 1 },
      patchSize: 4,
      numClasses: 2,
      mlpRatio: 4,
      classToken: false,
      stages: [
        { dim: 8, heads: 1, layers: ["attn"] },
        { pool: { type: "max1d", kernel: 2, stride: 2 }, dim: 8, heads: 1, layers: [] },
      ],
    });
    const c = countModel(cfg);
    expect(c.stages[1]).toMatchObject({ flops: 0, params: 0, tokens: 8, grid: null, layers: [] });
  });

  it("breakdown sums to the totals", () => {
    const c = countModel(loadModelConfig(`${ROOT}/configs/scale-hvt-ti-4.json`));
    const stageSum = c.stages.reduce((n, s) => n + s.flops, 0);
    expect(c.embed.flops + stageSum + c.head.flops).toBe(c.flops);
    for (const s of c.stages) {
      const layers = s.layers.reduce((n, l) => n + l.flops, 0);
      expect(layers + (s.pool?.flops ?? 0)).toBe(s.flops);
    }
    expect(c.stages.map((s) => s.tokens)).toEqual([196, 97, 48, 23, 11]);
  });
});
