/** AdamW (PyTorch semantics, per-variable steps, decay mask, untouched unsampled variables, state). */
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADDN_MAX_INPUTS, AdamW, addMany, clipGradNorm, defaultDecayMask } from "../../src/engine/adamw.js";
import { expectClose } from "./helpers.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const created: tf.Tensor[] = [];
function variable(values: number[], shape: number[], name: string): tf.Variable {
  const v = tf.variable(tf.tensor(values, shape), true, `adamw-test/${name}/${created.length}`);
  created.push(v);
  return v;
}
afterAll(() => {
  for (const t of created) t.dispose();
});

/** One PyTorch AdamW step by hand (torch/optim/adamw.py, single-tensor path). */
function torchStep(
  p: number[],
  g: number[],
  st: { m: number[]; v: number[]; t: number },
  lr: number,
  wd: number,
  b1 = 0.9,
  b2 = 0.999,
  eps = 1e-8,
): number[] {
  st.t += 1;
  const bc1 = 1 - b1 ** st.t;
  const bc2 = 1 - b2 ** st.t;
  return p.map((pi, i) => {
    let x = pi * (1 - lr * wd);
    st.m[i] = b1 * st.m[i] + (1 - b1) * g[i];
    st.v[i] = b2 * st.v[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(st.v[i]) / Math.sqrt(bc2) + eps;
    x -= (lr / bc1) * (st.m[i] / denom);
    return x;
  });
}

describe("addMany", () => {
  it("sums 1 to 50 tensors with no AddN of more than ADDN_MAX_INPUTS inputs (webgpu's storage-buffer limit)", async () => {
    expect(ADDN_MAX_INPUTS).toBeLessThanOrEqual(7); // 8 storage buffers per stage on Dawn's defaults
    for (const n of [1, 2, 7, 8, 15, 49, 50]) {
      const ts = Array.from({ length: n }, (_, i) => tf.tensor1d([i, 2 * i]));
      let sum: tf.Tensor | undefined;
      const info = await tf.profile(() => {
        sum = addMany(ts);
        return sum;
      });
      const widths = info.kernels.filter((k) => k.name === "AddN").map((k) => k.inputShapes.length);
      expect(Math.max(0, ...widths), `${n} tensors`).toBeLessThanOrEqual(ADDN_MAX_INPUTS);
      if (n > 1) expect(widths.length, `${n} tensors`).toBeGreaterThan(0);
      expect(Array.from(sum!.dataSync())).toEqual([(n * (n - 1)) / 2, n * (n - 1)]);
      tf.dispose([...ts, sum!]);
    }
  });
});

describe("AdamW", () => {
  it("matches a hand-computed PyTorch AdamW trajectory, with per-variable step counts", () => {
    const w = variable([0.5, -1.0, 2.0, 0.25], [2, 2], "w");
    const b = variable([0.1, -0.2], [2], "b");
    const vars = new Map([
      ["fc.weight", w],
      ["fc.bias", b],
    ]);
    const opt = new AdamW({ weightDecay: 0.1 });
    let pw = [0.5, -1.0, 2.0, 0.25];
    let pb = [0.1, -0.2];
    const sw = { m: [0, 0, 0, 0], v: [0, 0, 0, 0], t: 0 };
    const sb = { m: [0, 0], v: [0, 0], t: 0 };
    const gws = [
      [0.3, -0.1, 0.05, 1.0],
      [-0.2, 0.4, 0.0, -0.5],
      [0.1, 0.1, -0.3, 0.2],
    ];
    const gbs = [
      [1.0, -1.0],
      [0.5, 0.25],
    ];
    for (let s = 0; s < 3; s++) {
      const lr = 0.01 * (s + 1);
      const grads = new Map<string, tf.Tensor>([["fc.weight", tf.tensor(gws[s], [2, 2])]]);
      // the bias is "sampled" only in steps 0 and 2
      if (s !== 1) grads.set("fc.bias", tf.tensor(gbs[s === 0 ? 0 : 1], [2]));
      opt.step(grads, vars, lr);
      for (const g of grads.values()) g.dispose();
      pw = torchStep(pw, gws[s], sw, lr, 0.1);
      if (s !== 1) pb = torchStep(pb, gbs[s === 0 ? 0 : 1], sb, lr, 0); // no decay on biases
      expectClose(w.dataSync() as Float32Array, Float32Array.from(pw), 1e-6, 1e-5, `weight step ${s}`);
      expectClose(b.dataSync() as Float32Array, Float32Array.from(pb), 1e-6, 1e-5, `bias step ${s}`);
    }
    expect(opt.stepOf("fc.weight")).toBe(3);
    expect(opt.stepOf("fc.bias")).toBe(2);
    opt.dispose();
  });

  it("decay mask: timm's rule by default, a set of names, or a predicate", () => {
    expect(defaultDecayMask("stages.0.blocks.1.mlp.fc1.weight", [48, 192])).toBe(true);
    expect(defaultDecayMask("stages.0.blocks.1.mlp.fc1.bias", [192])).toBe(false);
    expect(defaultDecayMask("stages.0.blocks.1.norm1.weight", [48])).toBe(false);
    expect(defaultDecayMask("pos_embed", [1, 64, 48])).toBe(false);
    expect(defaultDecayMask("stages.1.pos_embed", [1, 16, 96])).toBe(false);
    expect(defaultDecayMask("cls_token", [1, 1, 48])).toBe(false);
    expect(defaultDecayMask("patch_embed.proj.weight", [16, 48])).toBe(true);
    const bySet = new AdamW({ decay: new Set(["a"]) });
    expect(bySet.decays("a", [2])).toBe(true);
    expect(bySet.decays("b", [2, 2])).toBe(false);
    const byFn = new AdamW({ decay: (n) => n.startsWith("x") });
    expect(byFn.decays("xy", [1])).toBe(true);
  });

  it("a zero gradient still decays a decayed weight (decoupled) and leaves a masked one alone", () => {
    const w = variable([1, 2, 3, 4], [2, 2], "wz");
    const n = variable([1, 2], [2], "nz");
    const vars = new Map([
      ["w", w],
      ["norm.weight", n],
    ]);
    const opt = new AdamW({ weightDecay: 0.5 });
    const grads = new Map<string, tf.Tensor>([
      ["w", tf.zeros([2, 2])],
      ["norm.weight", tf.zeros([2])],
    ]);
    opt.step(grads, vars, 0.1);
    for (const g of grads.values()) g.dispose();
    expectClose(w.dataSync() as Float32Array, Float32Array.from([0.95, 1.9, 2.85, 3.8]), 1e-6, 1e-6, "w");
    expectClose(n.dataSync() as Float32Array, Float32Array.from([1, 2]), 0, 0, "norm");
    opt.dispose();
  });

  it("variables without a gradient are untouched (no decay, no moments, no step)", async () => {
    const a = variable([1, 2, 3, 4], [2, 2], "ua");
    const u = variable([5, 6, 7, 8], [2, 2], "uu");
    const vars = new Map([
      ["a", a],
      ["unsampled", u],
    ]);
    const opt = new AdamW({ weightDecay: 0.1 });
    for (let i = 0; i < 3; i++) {
      const g = tf.ones([2, 2]);
      opt.step(new Map([["a", g]]), vars, 0.1);
      g.dispose();
    }
    expect(Array.from(u.dataSync())).toEqual([5, 6, 7, 8]);
    expect(opt.stepOf("unsampled")).toBe(0);
    expect(Object.keys((await opt.getState()).vars)).toEqual(["a"]);
    opt.dispose();
  });

  it("state round-trips: a restored optimizer continues exactly like the original", async () => {
    const mk = (tag: string) =>
      new Map([
        ["w", variable([0.5, -0.5, 1.5, 2.5], [2, 2], `rw${tag}`)],
        ["b", variable([0.1, 0.2], [2], `rb${tag}`)],
      ]);
    const v1 = mk("1");
    const v2 = mk("2");
    const o1 = new AdamW({ weightDecay: 0.05 });
    const grads = (s: number) =>
      new Map<string, tf.Tensor>([
        ["w", tf.tensor([0.1 * s, -0.2, 0.3, 0.05 * s], [2, 2])],
        ["b", tf.tensor([0.5, -0.5 * s], [2])],
      ]);
    for (let s = 1; s <= 2; s++) {
      const g = grads(s);
      o1.step(g, v1, 0.01);
      for (const t of g.values()) t.dispose();
    }
    // make v2 equal to v1 and restore the state into a fresh optimizer
    for (const [k, v] of v1) v2.get(k)!.assign(v);
    const state = await o1.getState();
    const json = JSON.parse(
      JSON.stringify({
        ...state,
        vars: Object.fromEntries(
          Object.entries(state.vars).map(([k, s]) => [k, { ...s, m: [...s.m], v: [...s.v] }]),
        ),
      }),
    );
    const restored = {
      ...json,
      vars: Object.fromEntries(
        Object.entries(
          json.vars as Record<string, { step: number; shape: number[]; m: number[]; v: number[] }>,
        ).map(([k, s]) => [k, { ...s, m: Float32Array.from(s.m), v: Float32Array.from(s.v) }]),
      ),
    };
    const o2 = new AdamW({ weightDecay: 0.05 });
    o2.setState(restored);
    expect(o2.stepOf("w")).toBe(o1.stepOf("w"));
    const g = grads(3);
    o1.step(g, v1, 0.02);
    o2.step(g, v2, 0.02);
    for (const t of g.values()) t.dispose();
    for (const k of ["w", "b"]) {
      expectClose(v2.get(k)!.dataSync() as Float32Array, v1.get(k)!.dataSync() as Float32Array, 0, 0, k);
    }
    o1.dispose();
    o2.dispose();
  });

  it("numTensors stays flat over many steps", async () => {
    const vars = new Map([
      [
        "w",
        variable(
          Array.from({ length: 12 }, (_, i) => i / 10),
          [3, 4],
          "lw",
        ),
      ],
      ["b", variable([0, 0, 0, 0], [4], "lb")],
    ]);
    const opt = new AdamW();
    const run = async () => {
      const grads = new Map<string, tf.Tensor>([
        ["w", tf.randomNormal([3, 4])],
        ["b", tf.randomNormal([4])],
      ]);
      await clipGradNorm(grads, 0.5);
      opt.step(grads, vars, 1e-3);
      for (const g of grads.values()) g.dispose();
    };
    await run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await run();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
  });

  it("clipGradNorm: PyTorch's clip_grad_norm_ (total norm, scale only when above)", async () => {
    const grads = new Map<string, tf.Tensor>([
      ["a", tf.tensor([3, 0])],
      ["b", tf.tensor([0, 4])],
    ]);
    const norm = await clipGradNorm(grads, 1);
    expect(norm).toBeCloseTo(5, 5);
    const scale = 1 / (5 + 1e-6);
    expectClose(grads.get("a")!.dataSync() as Float32Array, Float32Array.from([3 * scale, 0]), 1e-6, 0, "a");
    expectClose(grads.get("b")!.dataSync() as Float32Array, Float32Array.from([0, 4 * scale]), 1e-6, 0, "b");
    const small = new Map<string, tf.Tensor>([["a", tf.tensor([0.1, 0.2])]]);
    const same = small.get("a");
    await clipGradNorm(small, 1);
    expect(small.get("a")).toBe(same);
    for (const g of [...grads.values(), ...small.values()]) g.dispose();
  });

  it("matches torch.optim.AdamW over 5 steps", () => {
    try {
      execFileSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore", timeout: 60_000 });
    } catch {
      throw new Error(
        "this test needs /usr/bin/python3 with torch: apt-get install -y python3-torch libopenblas0-pthread",
      );
    }
    const w0 = [0.5, -1.0, 2.0, 0.25, -0.75, 1.25];
    const gs = Array.from({ length: 5 }, (_, s) => w0.map((_, i) => Math.sin(1 + s * 7 + i * 3)));
    const script = `
import json, sys, torch
w0, gs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float32).reshape(2, 3))
opt = torch.optim.AdamW([p], lr=0.05, weight_decay=0.2, betas=(0.9, 0.99), eps=1e-6)
for g in gs:
    p.grad = torch.tensor(g, dtype=torch.float32).reshape(2, 3)
    opt.step()
print(json.dumps(p.detach().reshape(-1).tolist()))
`;
    const out = execFileSync("/usr/bin/python3", ["-c", script, JSON.stringify(w0), JSON.stringify(gs)], {
      encoding: "utf8",
      env: { ...process.env, OMP_NUM_THREADS: "1" },
      timeout: 120_000,
    });
    const want = Float32Array.from(JSON.parse(out.trim().split("\n").at(-1)!));
    const w = variable(w0, [2, 3], "torch");
    const opt = new AdamW({ weightDecay: 0.2, beta2: 0.99, eps: 1e-6 });
    const vars = new Map([["w", w]]);
    for (const g of gs) {
      const gt = tf.tensor(g, [2, 3]);
      opt.step(new Map([["w", gt]]), vars, 0.05);
      gt.dispose();
    }
    expectClose(w.dataSync() as Float32Array, want, 1e-6, 1e-5, "torch trajectory");
    opt.dispose();
  }, 120_000);
});
