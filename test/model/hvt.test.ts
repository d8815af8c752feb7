import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { stageGeometry } from "../../src/config/geometry.js";
import { countModel } from "../../src/flops/count.js";
import { HvtModel, modelParamSpecs } from "../../src/model/hvt.js";
import { blockForward, engineOps, lookupIn } from "../../src/model/net.js";
import { Rng } from "../../src/util/rng.js";
import {
  ALL_MODELS,
  HVT_MAX1D,
  HVT_MAX1D_CLS,
  maxAbsDiff,
  model,
  PSVIT_1D,
  PSVIT_2D,
  randomInput,
  useCpu,
} from "./fixtures.js";

beforeAll(useCpu);

describe("HvtModel", () => {
  it.each(ALL_MODELS.map((c) => [c.name, c] as const))("%s: logits [B, numClasses], finite", (_, cfg) => {
    const m = HvtModel.create(cfg, { seed: 3 });
    const x = randomInput(cfg, 2);
    const y = m.forward(x);
    expect(y.shape).toEqual([2, cfg.numClasses]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    m.dispose();
  });

  it("variables carry exactly the SPEC §4 names", () => {
    const m = HvtModel.create(PSVIT_1D);
    const names = [...m.variables().keys()];
    expect(names).toEqual(modelParamSpecs(PSVIT_1D).map((s) => s.name));
    expect(names).toEqual(
      expect.arrayContaining([
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        "cls_token",
        "pos_embed",
        "stages.0.blocks.0.norm1.weight",
        "stages.0.blocks.0.attn.qkv.weight",
        "stages.0.blocks.1.attn.v.weight",
        "stages.0.blocks.1.attn.proj.bias",
        "stages.0.blocks.1.mlp.fc2.weight",
        "stages.1.pool.proj.weight",
        "stages.1.pos_embed",
        "stages.2.pool.proj.bias",
        "norm.weight",
        "head.weight",
        "head.bias",
      ]),
    );
    expect(names).not.toContain("stages.2.pos_embed");
    expect(names.some((n) => n.startsWith("stages.2.blocks"))).toBe(false);
    // internal layouts: linear [in, out], conv [k·k·Cin, Cout]
    const v = m.variables();
    expect(v.get("stages.0.blocks.0.attn.qkv.weight")!.shape).toEqual([8, 24]);
    expect(v.get("stages.0.blocks.0.mlp.fc1.weight")!.shape).toEqual([8, 32]);
    expect(v.get("patch_embed.proj.weight")!.shape).toEqual([16, 8]);
    expect(v.get("stages.1.pos_embed")!.shape).toEqual([1, 8, 16]);
    m.dispose();
  });

  it("params counted from the variables equal the analytic count", () => {
    for (const cfg of ALL_MODELS) {
      const m = HvtModel.create(cfg);
      expect(m.paramCount(), cfg.name).toBe(countModel(cfg).params);
      m.dispose();
    }
  });

  it("initialisation follows timm and is reproducible from the seed", () => {
    const a = HvtModel.create(HVT_MAX1D, { seed: 7 });
    const b = HvtModel.create(HVT_MAX1D, { seed: 7 });
    const c = HvtModel.create(HVT_MAX1D, { seed: 8 });
    const w = (m: HvtModel, n: string) => m.variables().get(n)!.dataSync();
    const name = "stages.0.blocks.0.attn.qkv.weight";
    expect(Array.from(w(a, name))).toEqual(Array.from(w(b, name)));
    expect(Array.from(w(a, name))).not.toEqual(Array.from(w(c, name)));
    const q = Array.from(w(a, name));
    const mean = q.reduce((s, v) => s + v, 0) / q.length;
    const std = Math.sqrt(q.reduce((s, v) => s + (v - mean) ** 2, 0) / q.length);
    expect(Math.abs(mean)).toBeLessThan(0.004);
    expect(std).toBeGreaterThan(0.014);
    expect(std).toBeLessThan(0.02);
    expect(Math.max(...q.map(Math.abs))).toBeLessThanOrEqual(0.04 + 1e-7);
    expect(Array.from(w(a, "stages.0.blocks.0.norm1.weight")).every((v) => v === 1)).toBe(true);
    expect(Array.from(w(a, "stages.0.blocks.0.norm1.bias")).every((v) => v === 0)).toBe(true);
    expect(Array.from(w(a, "head.bias")).every((v) => v === 0)).toBe(true);
    for (const m of [a, b, c]) m.dispose();
  });

  it("rejects input of the wrong shape, saying what it expected", () => {
    const m = HvtModel.create(PSVIT_2D);
    const x = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
    expect(() => m.forward(x)).toThrow(/expected \[B, 16, 16, 3\].*got \[1, 16, 16, 1\]/);
    x.dispose();
    m.dispose();
  });

  it("is independent of the batch: each image's logits alone equal its row in the batch", () => {
    const m = HvtModel.create(HVT_MAX1D_CLS, { seed: 1 });
    const x = randomInput(HVT_MAX1D_CLS, 3);
    const all = m.forward(x);
    const one = m.forward(tf.slice(x, [1, 0, 0, 0], [1, 16, 16, 1]));
    expect(maxAbsDiff(tf.slice(all, [1, 0], [1, 5]), one)).toBeLessThan(1e-5);
    m.dispose();
  });

  it("class token: head reads token 0; without: the mean over tokens", () => {
    // With all block weights zeroed the tokens reaching the head are the pooled embeddings; the
    // class-token model must then not depend on the image at all.
    const cfg = model("cls-only", [{ dim: 8, heads: 2, layers: [] }], { classToken: true });
    const m = HvtModel.create(cfg, { seed: 2 });
    const a = m.forward(randomInput(cfg, 1, 1));
    const b = m.forward(randomInput(cfg, 1, 2));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    const cfg2 = model("mean", [{ dim: 8, heads: 2, layers: [] }]);
    const m2 = HvtModel.create(cfg2, { seed: 2 });
    expect(
      maxAbsDiff(m2.forward(randomInput(cfg2, 1, 1)), m2.forward(randomInput(cfg2, 1, 2))),
    ).toBeGreaterThan(1e-4);
    m.dispose();
    m2.dispose();
  });

  it("a reuse layer equals an attn layer when handed the same attention map", () => {
    const D = 12;
    const heads = 3;
    const rng = new Rng(5);
    const rand = (shape: number[], s = 0.3) =>
      tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * s),
        shape,
      );
    const qkvW = rand([D, 3 * D]);
    const qkvB = rand([3 * D]);
    const shared = {
      "norm1.weight": rand([D]),
      "norm1.bias": rand([D]),
      "attn.proj.weight": rand([D, D]),
      "attn.proj.bias": rand([D]),
      "norm2.weight": rand([D]),
      "norm2.bias": rand([D]),
      "mlp.fc1.weight": rand([D, 2 * D]),
      "mlp.fc1.bias": rand([2 * D]),
      "mlp.fc2.weight": rand([2 * D, D]),
      "mlp.fc2.bias": rand([D]),
    };
    const params = new Map<string, tf.Tensor>();
    for (const [k, v] of Object.entries(shared)) {
      params.set(`a.${k}`, v);
      params.set(`r.${k}`, v);
    }
    params.set("a.attn.qkv.weight", qkvW);
    params.set("a.attn.qkv.bias", qkvB);
    // the reuse layer's v projection = the v third of qkv
    params.set("r.attn.v.weight", tf.slice(qkvW, [0, 2 * D], [D, D]));
    params.set("r.attn.v.bias", tf.slice(qkvB, [2 * D], [D]));
    const P = lookupIn(params);
    const x = rand([2, 7, D], 1) as tf.Tensor3D;
    const a = blockForward(P, { prefix: "a.", kind: "attn" }, heads, x, null, engineOps);
    const r = blockForward(P, { prefix: "r.", kind: "reuse" }, heads, x, a.attn, engineOps);
    expect(maxAbsDiff(a.x, r.x)).toBeLessThan(1e-5);
    expect(r.attn).toBe(a.attn);
    expect(() => blockForward(P, { prefix: "r.", kind: "reuse" }, heads, x, null, engineOps)).toThrow(
      /reuse/,
    );
  });

  it("gradients match finite differences (tiny model, several random directions)", () => {
    const cfg = model(
      "grad",
      [
        { dim: 4, heads: 2, layers: ["attn", "reuse"] },
        {
          pool: { type: "linear-max1d", kernel: 2, stride: 1, posEmbed: true },
          dim: 6,
          heads: 2,
          layers: ["attn"],
        },
      ],
      { image: { size: 8, channels: 1 }, classToken: true, numClasses: 3 },
    );
    const cfg2d = model(
      "grad2d",
      [
        { dim: 4, heads: 1, layers: ["attn"] },
        {
          pool: { type: "conv2d", kernel: 2, stride: 1, padding: 0 },
          dim: 4,
          heads: 2,
          layers: ["attn", "reuse"],
        },
      ],
      { image: { size: 8, channels: 2 }, numClasses: 3 },
    );
    for (const c of [cfg, cfg2d]) {
      const m = HvtModel.create(c, { seed: 11 });
      // larger weights than the 0.02 init, so every path matters
      const rng = new Rng(12);
      const vars = [...m.variables().values()];
      for (const v of vars) {
        v.assign(
          tf.tensor(
            Float32Array.from({ length: v.size }, () => rng.normal() * 0.5),
            v.shape,
          ),
        );
      }
      const x = randomInput(c, 2, 4);
      const r = tf.tensor2d(
        Float32Array.from({ length: 2 * c.numClasses }, () => rng.normal()),
        [2, c.numClasses],
      );
      const loss = () => tf.sum(tf.mul(m.forward(x), r)) as tf.Scalar;
      const { grads } = tf.variableGrads(loss, vars);
      const eps = 1e-2;
      for (let trial = 0; trial < 4; trial++) {
        const dirs = vars.map((v) =>
          tf.tensor(
            Float32Array.from({ length: v.size }, () => rng.normal()),
            v.shape,
          ),
        );
        const norm = Math.sqrt(dirs.reduce((s, d) => s + tf.sum(tf.square(d)).dataSync()[0], 0));
        const analytic =
          vars.reduce((s, v, i) => s + tf.sum(tf.mul(grads[v.name], dirs[i])).dataSync()[0], 0) / norm;
        const orig = vars.map((v) => v.clone());
        const shift = (sign: number) =>
          vars.forEach((v, i) => {
            v.assign(tf.add(orig[i], tf.mul(dirs[i], (sign * eps) / norm)));
          });
        shift(1);
        const up = loss().dataSync()[0];
        shift(-1);
        const down = loss().dataSync()[0];
        vars.forEach((v, i) => {
          v.assign(orig[i]);
        });
        const numeric = (up - down) / (2 * eps);
        expect(
          Math.abs(numeric - analytic),
          `${c.name} trial ${trial}: ${numeric} vs ${analytic}`,
        ).toBeLessThan(1e-2 * Math.max(1, Math.abs(analytic)));
        tf.dispose([...dirs, ...orig]);
      }
      m.dispose();
    }
  });

  it("numTensors stays flat over many forward + backward + SGD steps", () => {
    for (const cfg of [PSVIT_1D, PSVIT_2D]) {
      const m = HvtModel.create(cfg, { seed: 1 });
      const opt = tf.train.sgd(0.01);
      const x = randomInput(cfg, 2);
      const labels = tf.oneHot(tf.tensor1d([0, 1], "int32"), cfg.numClasses);
      const vars = [...m.variables().values()];
      const step = () => {
        const cost = opt.minimize(
          () => tf.losses.softmaxCrossEntropy(labels, m.forward(x)) as tf.Scalar,
          true,
          vars,
        );
        cost?.dispose();
      };
      step();
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 8; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      opt.dispose();
      tf.dispose([x, labels]);
      const beforeDispose = tf.memory().numTensors;
      m.dispose();
      expect(beforeDispose - tf.memory().numTensors).toBe(vars.length);
    }
  });

  it("a forward pass frees each block's intermediates when the block ends: peak memory does not grow with depth", async () => {
    const deep = (layers: number) =>
      model(`depth-${layers}`, [{ dim: 32, heads: 2, layers: Array.from({ length: layers }, () => "attn") }]);
    const peak = async (layers: number) => {
      const m = HvtModel.create(deep(layers), { seed: 1 });
      const x = randomInput(deep(layers), 8);
      const before = tf.memory().numBytes;
      const prof = await tf.profile(() => tf.tidy(() => void m.forward(x).dataSync()));
      tf.dispose(x);
      m.dispose();
      return prof.peakBytes - before;
    };
    const one = await peak(1);
    const eight = await peak(8);
    // one block's intermediates (≈ 10 activations of [8, 16, 32..64]) at a time: eight blocks kept
    // alive until the pass ends would need ≈ 6× the one-block peak
    expect(eight).toBeLessThan(1.5 * one);
  });

  it("token geometry inside the model matches stageGeometry", () => {
    // the pools assert their output against stageGeometry; a model for every config runs without error
    for (const cfg of ALL_MODELS) expect(stageGeometry(cfg).length).toBe(cfg.stages.length);
  });
});
