/** Backend selection: auto falls back quietly, explicit unavailable backends fail clearly. */
import * as tf from "@tensorflow/tfjs";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { initBackend, parseBackendChoice, resetBackendState, wasmDir } from "../../src/engine/backend.js";
import { UsageError } from "../../src/errors.js";

const notInstalled = (spec: string) =>
  Promise.reject(
    Object.assign(new Error(`Cannot find package '${spec}' imported from /x/backend.js`), {
      code: "ERR_MODULE_NOT_FOUND",
    }),
  );

afterEach(() => {
  resetBackendState();
  vi.restoreAllMocks();
});
afterAll(async () => {
  await tf.setBackend("cpu");
});

describe("initBackend", () => {
  it("parses the choices and rejects unknown ones with a UsageError", () => {
    expect(parseBackendChoice(undefined)).toBe("auto");
    expect(parseBackendChoice("WASM")).toBe("wasm");
    expect(() => parseBackendChoice("webgl")).toThrow(UsageError);
    expect(() => parseBackendChoice("webgl")).toThrow(/auto, tensorflow, webgpu, wasm, cpu/);
  });

  it("auto without tfjs-node falls back to wasm, quietly, and says why", async () => {
    const warn = vi.spyOn(console, "warn");
    const error = vi.spyOn(console, "error");
    const log = vi.spyOn(console, "log");
    const info = await initBackend("auto", { importer: notInstalled, log: false, threads: 1 });
    expect(info.name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(info.reason).toMatch(/tfjs-node-gpu not installed/);
    expect(info.reason).toMatch(/tfjs-node not installed/);
    // a first tensor op must not print tfjs's "install tfjs-node" banner
    tf.tidy(() => tf.add(tf.scalar(1), 1).dataSync());
    expect(warn).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
  });

  it("auto with the real importer picks a backend without noise (tfjs-node is not installable here)", async () => {
    const warn = vi.spyOn(console, "warn");
    const info = await initBackend("auto", { log: false, threads: 1 });
    expect(["wasm", "tensorflow", "tensorflow-gpu"]).toContain(info.name);
    expect(warn).not.toHaveBeenCalled();
  });

  it("an installed-but-broken native package is reported, not hidden", async () => {
    const broken = (spec: string) =>
      spec.endsWith("-gpu") ? notInstalled(spec) : Promise.reject(new Error("libtensorflow.so: cannot open"));
    const info = await initBackend("auto", { importer: broken, log: false, threads: 1 });
    expect(info.name).toBe("wasm");
    expect(info.reason).toMatch(/does not load \(libtensorflow\.so: cannot open\)/);
  });

  it("explicit tensorflow without tfjs-node is a one-line UsageError", async () => {
    const p = initBackend("tensorflow", { importer: notInstalled, log: false });
    await expect(p).rejects.toBeInstanceOf(UsageError);
    await expect(initBackend("tensorflow", { importer: notInstalled, log: false })).rejects.toThrow(
      /^--backend tensorflow: native TensorFlow is not available .*use --backend wasm$/,
    );
  });

  it("explicit cpu and wasm; a repeated call is idempotent", async () => {
    expect((await initBackend("cpu", { log: false })).name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const a = await initBackend("wasm", { log: false, threads: 1 });
    const b = await initBackend("wasm", { log: false, threads: 1 });
    expect(a).toBe(b);
    expect(a.threads).toBe(1);
  });

  it("PSVIT_WASM_THREADS must be a positive integer", async () => {
    await expect(initBackend("wasm", { log: false, threads: 0 })).rejects.toBeInstanceOf(UsageError);
  });

  it("the wasm folder ends with a separator and holds the .wasm files", async () => {
    const { existsSync } = await import("node:fs");
    const dir = wasmDir();
    expect(dir.endsWith("/")).toBe(true);
    expect(existsSync(`${dir}tfjs-backend-wasm-simd.wasm`)).toBe(true);
  });
});
