import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { HvtModel } from "../../src/model/hvt.js";
import { Supernet } from "../../src/model/supernet.js";
import { parseArch, sampleArch } from "../../src/space/arch.js";
import { Rng } from "../../src/util/rng.js";
import { maxAbsDiff, randomInput, SPACE_1D, SPACE_2D, useCpu } from "./fixtures.js";

beforeAll(useCpu);

const CASES = [
  { space: SPACE_2D, archs: ["BS-SIB", "II-III", "SS-SSS", "IB-III", "II-BSB"] },
  { space: SPACE_1D, archs: ["BSI-SB", "III-II", "SSS-SS", "IIS-IB", "BBB-II"] },
];

describe("Supernet", () => {
  it.each(CASES.map((c) => [c.space.name, c] as const))(
    "%s: extracted model gives the path's logits",
    async (_, c) => {
      const net = Supernet.create(c.space, { seed: 5 });
      const x = randomInput(c.space, 3, 9);
      const archs = [
        ...c.archs.map(parseArch),
        sampleArch(c.space, new Rng(1)),
        sampleArch(c.space, new Rng(2)),
      ];
      for (const arch of archs) {
        const { config, weights } = await net.extract(arch);
        const model = HvtModel.fromWeights(config, weights);
        const a = net.forward(x, arch);
        const b = model.forward(x);
        expect(maxAbsDiff(a, b), config.name).toBeLessThan(1e-5);
        // weights are copies: changing the supernet afterwards does not change the model
        tf.dispose([a, b]);
        model.dispose();
      }
      x.dispose();
      net.dispose();
    },
  );

  it("extract numbers the blocks of a stage in the order the cells put them down", async () => {
    const net = Supernet.create(SPACE_1D, { seed: 1 });
    const arch = parseArch("ISB-BS");
    const { config, weights } = await net.extract(arch);
    expect(config.stages.map((s) => s.layers)).toEqual([
      ["attn", "reuse", "attn"],
      ["attn", "attn", "reuse"],
    ]);
    const all = net.allVariables();
    const same = (model: string, sup: string) =>
      expect(Array.from(weights.get(model)!)).toEqual(Array.from(all.get(sup)!.dataSync()));
    same("stages.0.blocks.0.attn.qkv.weight", "stages.0.cells.1.S.0.attn.qkv.weight");
    same("stages.0.blocks.1.attn.v.weight", "stages.0.cells.1.S.1.attn.v.weight");
    same("stages.0.blocks.2.mlp.fc1.weight", "stages.0.cells.2.B.mlp.fc1.weight");
    same("stages.1.blocks.0.norm1.weight", "stages.1.cells.0.B.norm1.weight");
    same("stages.1.blocks.2.attn.proj.weight", "stages.1.cells.1.S.1.attn.proj.weight");
    same("stages.1.pool.proj.weight", "stages.1.pool.proj.weight");
    same("stages.1.pos_embed", "stages.1.pos_embed");
    same("cls_token", "cls_token");
    same("head.weight", "head.weight");
    net.dispose();
  });

  it("pathVariables are exactly the variables that get gradients", () => {
    for (const c of CASES) {
      const net = Supernet.create(c.space, { seed: 2 });
      const x = randomInput(c.space, 2, 3);
      const all = [...net.allVariables().values()];
      const byTfName = new Map([...net.allVariables()].map(([name, v]) => [v.name, name]));
      for (const text of c.archs) {
        const arch = parseArch(text);
        const { grads } = tf.variableGrads(() => tf.sum(net.forward(x, arch)) as tf.Scalar, all);
        const touched = Object.keys(grads)
          .map((n) => byTfName.get(n)!)
          .sort();
        expect([...net.pathVariables(arch).keys()].sort(), `${c.space.name} ${text}`).toEqual(touched);
        tf.dispose(Object.values(grads));
      }
      x.dispose();
      net.dispose();
    }
  });

  it("names: shared stem/pools/head, B / S.0 / S.1 per cell", () => {
    const net = Supernet.create(SPACE_2D);
    const names = [...net.allVariables().keys()];
    expect(names).toContain("patch_embed.proj.weight");
    expect(names).toContain("stages.1.pool.proj.weight");
    expect(names).toContain("stages.0.cells.1.B.attn.qkv.weight");
    expect(names).toContain("stages.0.cells.1.S.0.attn.qkv.weight");
    expect(names).toContain("stages.1.cells.2.S.1.attn.v.weight");
    expect(names).not.toContain("stages.1.cells.2.S.1.attn.qkv.weight");
    expect(names).toContain("head.weight");
    expect(new Set(names).size).toBe(names.length);
    expect(net.paramCount()).toBe([...net.allVariables().values()].reduce((n, v) => n + v.size, 0));
    net.dispose();
  });

  it("rejects an architecture that does not fit the space", () => {
    const net = Supernet.create(SPACE_2D);
    const x = randomInput(SPACE_2D, 1);
    expect(() => net.forward(x, parseArch("BS-SI"))).toThrow(/stage 1 has 2 cell\(s\).*expects 3/);
    expect(() => net.pathVariables(parseArch("BS"))).toThrow(/1 stage/);
    net.dispose();
  });

  it("numTensors stays flat over SGD steps on changing paths", () => {
    const net = Supernet.create(SPACE_1D, { seed: 4 });
    const opt = tf.train.sgd(0.01);
    const x = randomInput(SPACE_1D, 2);
    const labels = tf.oneHot(tf.tensor1d([1, 3], "int32"), SPACE_1D.numClasses);
    const rng = new Rng(3);
    const step = () => {
      const arch = sampleArch(SPACE_1D, rng);
      const vars = [...net.pathVariables(arch).values()];
      opt.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, net.forward(x, arch)) as tf.Scalar,
        false,
        vars,
      );
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 8; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([x, labels]);
    net.dispose();
  });
});
