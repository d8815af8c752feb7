/**
 * The webgpu backend on the real Dawn, where it finds an adapter (CI: Mesa's lavapipe, a software
 * adapter from bookworm-backports that .ci/run installs; skipped with a message where none exists): a
 * model's forward pass and a training step against the cpu backend.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { parseModelConfig, parseSpaceConfig } from "../../src/config/validate.js";
import { AdamW } from "../../src/engine/adamw.js";
import { initBackend, resetBackendState } from "../../src/engine/backend.js";
import { trainStep } from "../../src/engine/benchmark.js";
import { releaseWebgpu, startWebgpu } from "../../src/engine/webgpu.js";
import { HvtModel } from "../../src/model/hvt.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import { TINY_SPACE } from "../train/fixtures.js";
import { expectClose } from "./helpers.js";

afterAll(async () => {
  resetBackendState();
  await tf.setBackend("cpu");
  releaseWebgpu();
});

// the real Dawn, where it finds an adapter (CI: lavapipe; .ci/run installs it)
const real = await (async () => {
  const r = await startWebgpu((s) => import(s), { allowSoftware: true });
  return r;
})();
if (!real.ok)
  console.warn(
    `test/engine/webgpu.test.ts: no WebGPU adapter (${real.why}): the real-adapter tests are skipped`,
  );

describe.runIf(real.ok)("on a real WebGPU adapter", () => {
  it("a model's forward pass and a training step equal the cpu backend's", async () => {
    const space = parseSpaceConfig(TINY_SPACE);
    const config = parseModelConfig(materialize(space, parseArch("SB-BI")));
    const run = async () => {
      const model = HvtModel.create(config, { seed: 3 });
      const x = tf.randomNormal([4, 8, 8, 1], 0, 1, "float32", 7) as tf.Tensor4D;
      const y = tf.tensor1d([0, 1, 2, 1], "int32");
      const logits = model.forward(x);
      const before = (await logits.data()) as Float32Array;
      const loss = await trainStep(model, new AdamW({ weightDecay: 0.05 }), x, y, 1e-2);
      const after = model.forward(x);
      const out = {
        before: Float32Array.from(before),
        loss,
        after: Float32Array.from((await after.data()) as Float32Array),
      };
      for (const t of [x, y, logits, after]) t.dispose();
      model.dispose();
      return out;
    };
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
