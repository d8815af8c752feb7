/**
 * The webgpu backend on the real Dawn, where it finds an adapter (./webgpu-adapter.ts; CI: lavapipe):
 * every op case of ./op-cases.ts (value and gradient) against the reference on the cpu backend, the
 * hostile inputs of ./hostile.test.ts that broke or could break a kernel, the loss and the optimizer,
 * and a model's forward pass and training step against the cpu backend.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseModelConfig, parseSpaceConfig } from "../../src/config/validate.js";
import { AdamW, globalGradNorm } from "../../src/engine/adamw.js";
import { initBackend, resetBackendState } from "../../src/engine/backend.js";
import { trainStep } from "../../src/engine/benchmark.js";
import { failOnDeviceErrors } from "../../src/engine/webgpu.js";
import { HvtModel } from "../../src/model/hvt.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import { TINY_SPACE } from "../train/fixtures.js";
import { expectClose, type Result, randn } from "./helpers.js";
import { realWebgpu, releaseWebgpu, warnIfNoAdapter } from "./webgpu-adapter.js";
import { parityCases } from "./webgpu-parity.js";

warnIfNoAdapter("test/engine/webgpu-real.test.ts");

afterAll(async () => {
  resetBackendState();
  await tf.setBackend("cpu");
  releaseWebgpu();
});

describe.runIf(realWebgpu.ok)("on a real WebGPU adapter", () => {
  const parity = parityCases();
  const want = new Map<string, Result>();
  beforeAll(async () => {
    await initBackend("cpu", { log: false });
    for (const c of parity) want.set(c.name, c.reference());
    resetBackendState();
    const info = await initBackend("webgpu", { log: false });
    expect(info.name).toBe("webgpu");
  });

  describe("every op case, the hostile inputs and the loss, value and gradient, = the cpu backend", () => {
    for (const c of parity)
      it(c.name, async () => expect(c.judge(await c.run(), want.get(c.name)!)).toBeNull());
  });

  it("the global gradient norm over 57 gradients (a supernet path's count) equals the cpu backend's", async () => {
    // tfjs-backend-webgpu's AddN took all 57 in one shader, past the 8 storage buffers a stage may
    // bind: an invalid pipeline, and a norm that was whatever its output buffer held
    const grads = Array.from({ length: 57 }, (_, i) => randn([3 + (i % 5), 4], 100 + i));
    const norm = async () => {
      const m = new Map(grads.map((g, i) => [`g${i}`, tf.tensor(g.data, g.shape)]));
      const n = await globalGradNorm(m);
      tf.dispose([...m.values()]);
      return n;
    };
    const truth = Math.sqrt(grads.reduce((s, g) => s + g.data.reduce((a, v) => a + v * v, 0), 0));
    expect(Math.abs((await norm()) - truth) / truth).toBeLessThan(1e-6);
  });

  it("the device's uncaptured errors are fatal, not silent: an invalid pipeline reaches the reporter", async () => {
    const device = (tf.backend() as unknown as { device: Parameters<typeof failOnDeviceErrors>[0] }).device;
    const seen: Error[] = [];
    failOnDeviceErrors(device, (e) => seen.push(e));
    try {
      const t = tf.addN(Array.from({ length: 12 }, (_, i) => tf.scalar(i))); // 13 buffers > 8: invalid
      await t.data();
      t.dispose();
      await new Promise((r) => setTimeout(r, 50));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0].message).toMatch(/^webgpu: the device reported a GPUValidationError: .*storage buffers/);
    } finally {
      failOnDeviceErrors(device);
    }
  });

  it("AdamW: huge, tiny and zero gradients give the cpu backend's update", async () => {
    const p0 = randn([37], 21).data;
    const grads = [0, 1e-30, 1e-3, 1e15].map((s, i) =>
      Float32Array.from(randn([37], 22 + i).data, (v) => v * s),
    );
    const run = async () => {
      const v = tf.variable(tf.tensor1d(p0), true, `adamw-${tf.getBackend()}`);
      const opt = new AdamW({ weightDecay: 0.05 });
      const vars = new Map([["w", v]]);
      for (const g of grads) {
        const gt = tf.tensor1d(g);
        opt.step(new Map([["w", gt]]), vars, 1e-3);
        gt.dispose();
      }
      const out = Float32Array.from((await v.data()) as Float32Array);
      opt.dispose();
      v.dispose();
      return out;
    };
    const gpu = await run();
    resetBackendState();
    await initBackend("cpu", { log: false });
    const cpu = await run();
    resetBackendState();
    await initBackend("webgpu", { log: false });
    expectClose(gpu, cpu, 1e-6, 1e-5, "AdamW parameters after 4 steps");
  });

  it("a model's forward pass and a training step equal the cpu backend's", async () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const config = parseModelConfig(materialize(space, parseArch("SB-BI")));
    const run = async () => {
      const model = HvtModel.create(config, { seed: 3 });
      const x = tf.randomNormal([4, 8, 8, 1], 0, 1, "float32", 7) as tf.Tensor4D;
      const y = tf.tensor1d([0, 1, 2, 1], "int32");
      const logits = model.forward(x);
      const before = (await logits.data()) as Float32Array;
      const l = await trainStep(model, new AdamW({ weightDecay: 0.05 }), x, y, 1e-2);
      const after = model.forward(x);
      const out = {
        before: Float32Array.from(before),
        loss: l,
        after: Float32Array.from((await after.data()) as Float32Array),
      };
      for (const t of [x, y, logits, after]) t.dispose();
      model.dispose();
      return out;
    };
    resetBackendState();
    await initBackend("cpu", { log: false });
    const cpu = await run();
    resetBackendState();
    const info = await initBackend("webgpu", { log: false });
    expect(info.name).toBe("webgpu");
    const gpu = await run();
    expectClose(gpu.before, cpu.before, 1e-4, 1e-4, "logits");
    expect(gpu.loss).toBeCloseTo(cpu.loss, 4);
    expectClose(gpu.after, cpu.after, 1e-3, 1e-3, "logits after one AdamW step");
  }, 120_000);
});
