/**
 * The webgpu backend (src/engine/webgpu.ts): which adapters count as software, when `auto` asks Dawn at
 * all, what a missing or broken package says; and, where Dawn finds an adapter (a software one here:
 * Mesa's lavapipe from bookworm-backports), a path of a model forward and through a training step on
 * webgpu against the cpu backend (webgpu-real.test.ts: a file of its own, since the real package registers
 * its kernels under "webgpu" for the whole process).
 */

import * as tf from "@tensorflow/tfjs";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { initBackend, resetBackendState } from "../../src/engine/backend.js";
import { mayHaveGpu, releaseWebgpu, summarizeAdapter } from "../../src/engine/webgpu.js";
import { UsageError } from "../../src/errors.js";

const LAVAPIPE = {
  vendor: "mesa",
  architecture: "software",
  device: "llvmpipe-llvm-15-0-6-256-bits-",
  description: "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1",
  isFallbackAdapter: true,
};
const H200 = { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H200" };

/**
 * A fake `webgpu` package whose one adapter has `info`; the tfjs package registers a cpu backend as
 * "webgpu". `created` counts the Dawn instances made.
 */
function fakeImporter(info: object | null, created = { n: 0 }) {
  return async (spec: string) => {
    if (spec === "webgpu") {
      return {
        globals: {},
        create: () => {
          created.n++;
          return { requestAdapter: async () => (info ? { info } : null) };
        },
      };
    }
    if (spec === "@tensorflow/tfjs-backend-webgpu") {
      tf.registerBackend("webgpu", () => new MathBackendCPU());
      return {};
    }
    throw Object.assign(new Error(`Cannot find package '${spec}' imported from /x.js`), {
      code: "ERR_MODULE_NOT_FOUND",
    });
  };
}

afterEach(async () => {
  resetBackendState();
  releaseWebgpu();
  await tf.setBackend("cpu");
  if (tf.findBackend("webgpu")) tf.removeBackend("webgpu");
});
afterAll(async () => {
  await tf.setBackend("cpu");
});

describe("webgpu adapters", () => {
  it("lavapipe is software, an NVIDIA adapter is not", () => {
    expect(summarizeAdapter(LAVAPIPE).software).toBe(true);
    expect(summarizeAdapter({ ...LAVAPIPE, isFallbackAdapter: undefined }).software).toBe(true);
    expect(summarizeAdapter({ vendor: "google", description: "SwiftShader Device (Subzero)" }).software).toBe(
      true,
    );
    expect(summarizeAdapter(H200).software).toBe(false);
  });

  it("auto asks Dawn only where a GPU device node exists (Linux), always elsewhere", () => {
    const none = () => [];
    expect(mayHaveGpu("linux", none)).toBe(false);
    expect(mayHaveGpu("linux", (d) => (d === "/dev/dri" ? ["card0", "renderD128"] : []))).toBe(true);
    expect(mayHaveGpu("linux", (d) => (d === "/dev" ? ["null", "nvidia0", "nvidiactl"] : []))).toBe(true);
    expect(mayHaveGpu("linux", (d) => (d === "/dev" ? ["nvidiactl"] : []))).toBe(false);
    expect(mayHaveGpu("darwin", none)).toBe(true);
  });

  it("auto skips a software adapter and says why; takes a hardware one and names it", async () => {
    const soft = await initBackend("auto", {
      importer: fakeImporter(LAVAPIPE),
      mayHaveGpu: () => true,
      log: false,
      threads: 1,
    });
    expect(soft.name).toBe("wasm");
    expect(soft.reason).toMatch(/webgpu: only a software adapter: mesa software \(llvmpipe/);
    resetBackendState();
    const hard = await initBackend("auto", {
      importer: fakeImporter(H200),
      mayHaveGpu: () => true,
      log: false,
    });
    expect(hard.name).toBe("webgpu");
    expect(hard.adapter).toMatchObject({ vendor: "nvidia", architecture: "hopper", software: false });
    expect(hard.reason).toMatch(/adapter nvidia hopper \(NVIDIA H200\)$/);
    expect(tf.getBackend()).toBe("webgpu");
  });

  it("started once per process: a backend started again (tests, or reset state) reuses Dawn's instance", async () => {
    // a second Dawn instance in navigator.gpu let the first (still under tfjs's device) be collected,
    // and Dawn aborted the process ("terminate called after throwing an instance of std::system_error")
    const created = { n: 0 };
    const importer = fakeImporter(LAVAPIPE, created);
    const first = await initBackend("webgpu", { importer, log: false });
    const gpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
    resetBackendState();
    const again = await initBackend("webgpu", { importer, log: false });
    expect(created.n).toBe(1);
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBe(gpu);
    expect(again.adapter).toEqual(first.adapter);
    // auto still refuses the software adapter it holds
    resetBackendState();
    const auto = await initBackend("auto", { importer, mayHaveGpu: () => true, log: false, threads: 1 });
    expect(auto.name).toBe("wasm");
    expect(auto.reason).toMatch(/webgpu: only a software adapter/);
    expect(created.n).toBe(1);
    // released, it starts afresh
    resetBackendState();
    releaseWebgpu();
    tf.removeBackend("webgpu");
    await initBackend("webgpu", { importer, log: false });
    expect(created.n).toBe(2);
  });

  it("auto without a GPU device does not load Dawn", async () => {
    const asked: string[] = [];
    const importer = (spec: string) => {
      asked.push(spec);
      return fakeImporter(H200)(spec);
    };
    const info = await initBackend("auto", { importer, mayHaveGpu: () => false, log: false, threads: 1 });
    expect(info.name).toBe("wasm");
    expect(asked).not.toContain("webgpu");
    expect(info.reason).toMatch(/webgpu: no GPU device on this machine/);
  });

  it("--backend webgpu takes a software adapter; missing or broken packages are one-line UsageErrors", async () => {
    const soft = await initBackend("webgpu", { importer: fakeImporter(LAVAPIPE), log: false });
    expect(soft.name).toBe("webgpu");
    expect(soft.reason).toMatch(/a software adapter, not a GPU$/);
    resetBackendState();
    releaseWebgpu();
    const missing = (spec: string) => fakeImporter(null)(`${spec}-absent`);
    await expect(initBackend("webgpu", { importer: missing, log: false })).rejects.toBeInstanceOf(UsageError);
    const notInstalled = async (spec: string) => {
      throw Object.assign(new Error(`Cannot find package '${spec}' imported from /x.js`), {
        code: "ERR_MODULE_NOT_FOUND",
      });
    };
    await expect(initBackend("webgpu", { importer: notInstalled, log: false })).rejects.toThrow(
      /^--backend webgpu: webgpu not installed; install the optional packages/,
    );
    // installed, but its native part is absent (npm held back nothing here: the file is missing)
    const noDawn = async () => {
      throw Object.assign(new Error("Cannot find module '/p/node_modules/webgpu/dist/linux-x64/dawn.node'"), {
        code: "MODULE_NOT_FOUND",
      });
    };
    await expect(initBackend("webgpu", { importer: noDawn, log: false })).rejects.toThrow(
      /webgpu does not load \(Cannot find module .*dawn\.node'\)/,
    );
    await expect(initBackend("webgpu", { importer: fakeImporter(null), log: false })).rejects.toThrow(
      /no WebGPU adapter/,
    );
  });
});
