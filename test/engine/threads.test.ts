/**
 * wasm with 2 threads under Node (own test file = own process: the wasm module starts once per process).
 * The threaded build must start, compute what the cpu backend computes, and not keep the process alive
 * (vitest would time out closing the fork otherwise).
 */
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { initBackend } from "../../src/engine/backend.js";
import * as ops from "../../src/engine/ops.js";
import {
  runFused,
  setEngineFlags,
  wasmBmmHelperJobs,
  wasmBmmThreads,
  wasmSimdFlavour,
  wasmSimdLoaded,
} from "../../src/engine/wasm-kernels.js";
import { removeWasmScriptFiles } from "../../src/engine/wasm-threads.js";
import { expectClose, randn } from "./helpers.js";

// vitest ends its forks without an 'exit' event: remove the temporary worker scripts here
afterAll(removeWasmScriptFiles);

describe.skipIf(os.cpus().length < 2)("wasm threads", () => {
  it("starts 2 XNNPACK threads and computes the same products as the cpu backend", async () => {
    const a = randn([64, 96], 1);
    const b = randn([96, 80], 2);
    const qkv = randn([2, 16, 48], 3);
    await tf.setBackend("cpu");
    const run = () =>
      tf.tidy(() => {
        const mm = tf.matMul(tf.tensor2d(a.data, a.shape as [number, number]), tf.tensor2d(b.data, [96, 80]));
        const at = ops.selfAttention(tf.tensor3d(qkv.data, [2, 16, 48]), 4).out;
        // a pre-norm MLP with gradients: the fused kernels (LayerNorm, GELU, SIMD products)
        const x = tf.tensor2d(a.data, [64, 96]);
        const w = tf.tensor2d(b.data, [96, 80]);
        const [gx, gw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
          ops
            .gelu(ops.linear(ops.layerNorm(xx, tf.ones([96]), tf.zeros([96])), ww as tf.Tensor2D))
            .square()
            .sum(),
        )([x, w]);
        return [mm, at, gx, gw].map((t) => Float32Array.from(t.dataSync() as Float32Array));
      });
    const want = run();
    const info = await initBackend("wasm", { threads: 2, log: false });
    expect(info.name).toBe("wasm");
    expect(info.threadsFailed).toBeUndefined();
    expect(info.threads).toBe(2);
    const got = run();
    expectClose(got[0], want[0], 1e-4, 1e-4, "matMul");
    expectClose(got[1], want[1], 1e-4, 1e-4, "attention");
    expect(wasmSimdLoaded()).toBe(true); // the shared-memory build of the SIMD module
    expectClose(got[2], want[2], 1e-3, 1e-3, "MLP grad x");
    expectClose(got[3], want[3], 1e-3, 1e-3, "MLP grad w");
  });

  it("splits psvit's products over a helper thread, bit-identical to one thread", async () => {
    await initBackend("wasm", { threads: 2, log: false });
    expect(wasmSimdFlavour()).not.toBeNull();
    expect(wasmBmmThreads()).toBe(2);
    // [G, M, K, P, ta, tb, bias]: batched (split by G), one matrix (split by rows, with tails of the
    // 4-row tiles), transposed operands, a K longer than one block, the bias; B's panels packed where
    // the product has M ≥ 32 and P ≥ 48 (with column tails), from a transposed b too (P = 64, 96); a residual added
    // (the last two: split by rows over two K blocks, and by matrices)
    const shapes: [number, number, number, number, boolean, boolean, boolean, boolean?][] = [
      [8, 64, 40, 64, false, false, false],
      [3, 130, 40, 70, false, true, false],
      [1, 1030, 96, 200, false, false, true],
      [1, 97, 600, 53, true, false, false],
      [1, 301, 70, 130, false, true, true],
      [4, 64, 72, 64, false, true, true],
      [1, 130, 96, 96, true, true, false],
      [1, 258, 600, 48, false, false, true, true],
      [3, 64, 80, 72, false, false, true, true],
    ];
    for (const [G, M, K, P, ta, tb, bias, residual] of shapes) {
      const a = randn(ta ? [G, K, M] : [G, M, K], M + K);
      const b = randn(tb ? [G, P, K] : [G, K, P], K + P);
      const c = randn([P], P);
      const r = randn([G * M * P], M + P);
      const product = () =>
        tf.tidy(() => {
          const inputs: Record<string, tf.Tensor> = {
            a: tf.tensor3d(a.data, a.shape as [number, number, number]),
            b: tf.tensor3d(b.data, b.shape as [number, number, number]),
          };
          if (bias) inputs.bias = tf.tensor1d(c.data);
          if (residual) inputs.res = tf.tensor(r.data, G === 1 ? [M, P] : [G, M, P]);
          if (G === 1) {
            inputs.a = inputs.a.squeeze([0]);
            inputs.b = inputs.b.squeeze([0]);
          }
          return Float32Array.from((runFused("PsvitBmm", inputs, { ta, tb }) as tf.Tensor).dataSync());
        });
      setEngineFlags({ bmmThreads: false });
      const one = product();
      setEngineFlags({ bmmThreads: true });
      const before = wasmBmmHelperJobs();
      const two = product();
      expect(wasmBmmHelperJobs()).toBeGreaterThan(before); // it was split
      expect(two, `[${G}, ${M}, ${K}, ${P}] ta=${ta} tb=${tb} bias=${bias} residual=${residual}`).toEqual(
        one,
      );
      expect(one.some((v) => v !== 0)).toBe(true);
    }
  });
});
