/**
 * Choosing and starting the TensorFlow.js backend (`--backend auto|tensorflow|webgpu|wasm|cpu`, env
 * PSVIT_BACKEND). `auto` tries, in order:
 *   1. `@tensorflow/tfjs-node-gpu`, kept only if it loads and TensorFlow sees a GPU;
 *   2. `@tensorflow/tfjs-node` (native TensorFlow on the CPU);
 *   3. webgpu (Dawn's `webgpu` package + tfjs-backend-webgpu, ./webgpu.ts), only on a hardware adapter;
 *   4. wasm (XNNPACK, SIMD; threads: see wasm-threads.ts and PSVIT_WASM_THREADS);
 *   5. the pure-JS cpu backend.
 * A missing optional package, or one installed without its native part, is "not available" and makes no
 * noise. The choice and its reason (for webgpu: the adapter) are logged once (info). Asking for
 * `tensorflow` or `webgpu` explicitly when it cannot start is a UsageError.
 */
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.js";
import { log } from "../util/log.js";
import { importFailure } from "./optional.js";
import { setEngineFlags } from "./wasm-kernels.js";
import { unrefWasmWorkers, withWasmThreads } from "./wasm-threads.js";
import { type AdapterSummary, adapterLine, failOnDeviceErrors, mayHaveGpu, startWebgpu } from "./webgpu.js";

export const BACKEND_CHOICES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What actually runs: `tensorflow` (native, CPU), `tensorflow-gpu`, `webgpu`, `wasm` or `cpu`. */
export type BackendName = "tensorflow" | "tensorflow-gpu" | "webgpu" | "wasm" | "cpu";

export interface BackendInfo {
  name: BackendName;
  /** Why this backend was chosen (one line). */
  reason: string;
  /** wasm: XNNPACK threads in use. */
  threads?: number;
  /** wasm: more threads were asked for but the threaded build did not start. */
  threadsFailed?: boolean;
  /** webgpu: the adapter it runs on. */
  adapter?: AdapterSummary;
}

export interface InitBackendOptions {
  /**
   * wasm threads (default: env PSVIT_WASM_THREADS, else 1). More than 1 turns on the threaded SIMD
   * build under Node (see wasm-threads.ts); capped at the number of cores.
   */
  threads?: number;
  /** How optional packages are imported (tests replace it). Rejects when the package is absent. */
  importer?: (specifier: string) => Promise<unknown>;
  /** Log the choice (default true; only the first successful initialisation logs). */
  log?: boolean;
  /** Whether `auto` asks Dawn for an adapter (tests replace it; default: ./webgpu.ts `mayHaveGpu`). */
  mayHaveGpu?: () => boolean;
}

const NODE_GPU = "@tensorflow/tfjs-node-gpu";
const NODE_CPU = "@tensorflow/tfjs-node";

/** tfjs's own name of the native backend, registered by tfjs-node(-gpu). */
const TF_NATIVE = "tensorflow";

let current: BackendInfo | undefined;
let currentKey: string | undefined;
let logged = false;

/** Parse a --backend / PSVIT_BACKEND value. */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? "auto").trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new UsageError(`unknown backend "${value}": expected one of ${BACKEND_CHOICES.join(", ")}`);
}

/** The wasm thread count from the option or PSVIT_WASM_THREADS (default 1), capped at the core count. */
export function wasmThreadCount(requested?: number): number {
  const env = process.env.PSVIT_WASM_THREADS;
  let n = requested ?? (env !== undefined && env !== "" ? Number(env) : 1);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`wasm threads must be a positive integer, got ${requested ?? env}`);
  }
  n = Math.min(n, Math.max(1, os.cpus().length));
  return n;
}

const defaultImporter = (specifier: string): Promise<unknown> => import(specifier);

/** Silence the cpu backend's one-time "install tfjs-node" banner. */
function silenceBanner(): void {
  const cpu = tf.findBackend("cpu") as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/** Import a tfjs-node package; undefined (and why) when it is absent or does not load. */
async function tryNative(
  specifier: string,
  importer: (s: string) => Promise<unknown>,
): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await importer(specifier);
  } catch (e) {
    return { ok: false, why: importFailure(e, specifier) };
  }
  if (!tf.findBackend(TF_NATIVE)) return { ok: false, why: "registered no tensorflow backend" };
  return { ok: true };
}

function nativeUsesGpu(): boolean {
  const b = tf.findBackend(TF_NATIVE) as { binding?: { isUsingGpuDevice?: () => boolean } } | null;
  try {
    return Boolean(b?.binding?.isUsingGpuDevice?.());
  } catch {
    return false;
  }
}

async function setBackend(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** Folder of tfjs-backend-wasm's .wasm files, with the trailing slash setWasmPaths needs. */
export function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + path.sep;
}

async function startWasm(threads: number): Promise<BackendInfo | undefined> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  if (tf.getBackend() === "wasm" && tf.findBackend("wasm")) {
    // already running (a second initBackend in the same process): keep its thread count
    return { name: "wasm", reason: "", threads: wasm.getThreadsCount() };
  }
  wasm.setWasmPaths(wasmDir());
  let ok: boolean;
  if (threads > 1) {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
    wasm.setThreadsCount(threads);
    try {
      ok = await withWasmThreads(() => setBackend("wasm"));
    } catch {
      ok = false;
    }
    if (!ok) {
      // fall back to the single-threaded build (tfjs keeps the factory; a second setBackend re-runs it)
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      wasm.setThreadsCount(1);
      ok = await setBackend("wasm");
      if (!ok) return undefined;
      return { name: "wasm", reason: "", threads: wasm.getThreadsCount(), threadsFailed: true };
    }
    unrefWasmWorkers((tf.backend() as unknown as { wasm?: unknown }).wasm);
    setEngineFlags({ kernelThreads: wasm.getThreadsCount() });
  } else {
    ok = await setBackend("wasm");
  }
  if (!ok) return undefined;
  return { name: "wasm", reason: "", threads: wasm.getThreadsCount() };
}

/**
 * Select and start a backend. Idempotent: calling it again with the same choice returns the same
 * answer without logging again. Throws UsageError for an unknown name or an explicit backend that
 * cannot start.
 */
export async function initBackend(
  name: string = process.env.PSVIT_BACKEND ?? "auto",
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  const choice = parseBackendChoice(name);
  const threads = choice === "auto" || choice === "wasm" ? wasmThreadCount(opts.threads) : 1;
  const key = `${choice}/${threads}`;
  if (current && currentKey === key && tf.getBackend() === backendKey(current.name)) return current;

  const importer = opts.importer ?? defaultImporter;
  const info = await choose(choice, threads, importer, opts);
  silenceBanner();
  current = info;
  currentKey = key;
  if (opts.log !== false && !logged) {
    logged = true;
    log().info(
      { backend: info.name, ...(info.threads !== undefined ? { threads: info.threads } : {}) },
      `backend ${info.name}: ${info.reason}`,
    );
  }
  return info;
}

function backendKey(name: BackendName): string {
  return name === "tensorflow-gpu" ? TF_NATIVE : name;
}

async function choose(
  choice: BackendChoice,
  threads: number,
  importer: (s: string) => Promise<unknown>,
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  const notes: string[] = [];
  if (choice === "auto" || choice === "tensorflow") {
    const gpu = await tryNative(NODE_GPU, importer);
    if (gpu.ok && nativeUsesGpu() && (await setBackend(TF_NATIVE))) {
      return { name: "tensorflow-gpu", reason: `${NODE_GPU} loaded and TensorFlow sees a GPU` };
    }
    notes.push(gpu.ok ? `${NODE_GPU}: no GPU visible` : `${NODE_GPU} ${gpu.why}`);
    const cpu = gpu.ok ? gpu : await tryNative(NODE_CPU, importer);
    if (cpu.ok && (await setBackend(TF_NATIVE))) {
      return {
        name: "tensorflow",
        reason: gpu.ok ? `${NODE_GPU} loaded, no GPU: native TensorFlow on the CPU` : `${NODE_CPU} loaded`,
      };
    }
    if (!gpu.ok && !cpu.ok) notes.push(`${NODE_CPU} ${cpu.why}`);
    if (choice === "tensorflow") {
      throw new UsageError(
        `--backend tensorflow: native TensorFlow is not available (${notes.join("; ")}); ` +
          `install ${NODE_CPU} or ${NODE_GPU}, or use --backend wasm`,
      );
    }
  }
  if (choice === "auto" && !(opts.mayHaveGpu ?? mayHaveGpu)()) {
    notes.push("webgpu: no GPU device on this machine");
  } else if (choice === "auto" || choice === "webgpu") {
    const g = await startWebgpu(importer, { allowSoftware: choice === "webgpu" });
    if (g.ok && (await setBackend("webgpu"))) {
      failOnDeviceErrors((tf.backend() as { device?: Parameters<typeof failOnDeviceErrors>[0] }).device);
      const why = choice === "webgpu" ? "requested" : `no native TensorFlow (${notes.join("; ")})`;
      return { name: "webgpu", reason: `${why}; adapter ${adapterLine(g.adapter)}`, adapter: g.adapter };
    }
    const why = g.ok ? "the webgpu backend failed to start on its adapter" : g.why;
    if (choice === "webgpu") {
      throw new UsageError(
        `--backend webgpu: ${why}; install the optional packages webgpu and @tensorflow/tfjs-backend-webgpu and a Vulkan driver (docs/ENGINE.md), or use --backend wasm`,
      );
    }
    notes.push(`webgpu: ${why}`);
  }
  if (choice === "auto" || choice === "wasm") {
    const w = await startWasm(threads);
    if (w) {
      const why = choice === "wasm" ? "requested" : `no native TensorFlow or GPU (${notes.join("; ")})`;
      const t = `${w.threads} thread${w.threads === 1 ? "" : "s"}${w.threadsFailed ? " (the threaded build failed to start)" : ""}`;
      return { ...w, reason: `${why}; XNNPACK, ${t}` };
    }
    if (choice === "wasm") {
      throw new UsageError("--backend wasm: the WebAssembly backend failed to start");
    }
    notes.push("wasm failed to start");
  }
  if (!(await setBackend("cpu"))) throw new Error("the tfjs cpu backend failed to start");
  return {
    name: "cpu",
    reason: choice === "cpu" ? "requested (pure JavaScript, slow)" : `fallback: ${notes.join("; ")}`,
  };
}

/** For tests: forget the remembered choice (the tfjs backend itself stays as it is). */
export function resetBackendState(): void {
  current = undefined;
  currentKey = undefined;
  logged = false;
}
