/**
 * Multithreaded tfjs wasm under Node. tfjs 4.22 hard-codes threads off under Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` returns false when IS_NODE) and, with the flag forced on, cannot start
 * its pthread workers there:
 *   1. the worker script is handed to `new Worker()` as a `blob:` URL, which worker_threads cannot load;
 *   2. the main script is posted to the worker as a Blob, which the worker turns into another `blob:`
 *      URL and reads with fs.readFileSync (fails);
 *   3. the C++ side caps XNNPACK's pool at half of `os.cpus().length` (1 on a 2-core machine);
 *   4. the pthread workers keep the event loop alive, so Node never exits by itself.
 * `withWasmThreads` works around all four for the duration of the backend's initialisation:
 *   1+2. `Blob` and `URL.createObjectURL` are replaced by versions that write the two scripts to files
 *        in a private temporary folder (the worker script rewritten to `importScripts` the main script's
 *        file; the main script given the CommonJS names the bundled factory refers to);
 *   3. `os.cpus()` reports every core twice while the module reads it;
 *   4. after initialisation every pthread worker is `unref()`ed (they only ever run while the main
 *      thread waits synchronously inside a kernel, so nothing is lost).
 * Everything is restored in `finally`, also when initialisation fails.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface EmscriptenWorker {
  unref?: () => void;
}
interface PThreadLike {
  unusedWorkers?: EmscriptenWorker[];
  runningWorkers?: EmscriptenWorker[];
}

const MAIN_SCRIPT_PREFIX = "var WasmBackendModuleThreadedSimd";
/** The worker's branch that loads the main script from a string URL or a Blob. */
const WORKER_LOAD_RE =
  /if\(typeof e\.data\.urlOrBlob=="string"\)\{importScripts\(e\.data\.urlOrBlob\)\}else\{[^}]*\}/;
/** The CommonJS bindings the bundled (rollup) factory refers to by name. */
const MAIN_SCRIPT_HEADER =
  'var require$$0=require("fs"),require$$1=require("path"),require$$3=require("perf_hooks"),' +
  'require$$4=require("os"),commonjsGlobal=globalThis;\n';

let tempDir: string | undefined;

/**
 * Remove the temporary script folder (done at process exit; call it earlier where a test runner ends
 * processes without an 'exit' event). Workers already started keep running.
 */
export function removeWasmScriptFiles(): void {
  if (!tempDir) return;
  try {
    fs.rmSync(tempDir, { recursive: true, force: true });
  } catch {
    // best effort
  }
  tempDir = undefined;
}

function scriptDir(): string {
  if (!tempDir) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), `psvit-wasm-${process.pid}-`));
    process.once("exit", removeWasmScriptFiles);
  }
  return tempDir;
}

/**
 * Run `init` (which must initialise the tfjs wasm backend, after `setThreadsCount`) with the Node patches
 * in place, so that the threaded SIMD build starts. Returns what `init` returned.
 */
export async function withWasmThreads<T>(init: () => Promise<T>): Promise<T> {
  const dir = scriptDir();
  const mainFile = path.join(dir, "tfjs-backend-wasm-threaded-simd.cjs");
  const workerFile = path.join(dir, "tfjs-backend-wasm-threaded-simd.worker.cjs");
  const g = globalThis as { Blob: unknown };
  const originalBlob = g.Blob;
  const originalCreate = URL.createObjectURL;
  const originalCpus = os.cpus;
  let patchedWorker = false;

  class ScriptBlob {
    readonly text: string;
    readonly type: string;
    constructor(parts: unknown[], opts?: { type?: string }) {
      this.text = parts.map(String).join("");
      this.type = opts?.type ?? "";
      if (this.text.startsWith(MAIN_SCRIPT_PREFIX)) {
        fs.writeFileSync(mainFile, MAIN_SCRIPT_HEADER + this.text);
        this.text = ""; // posted to every worker, which ignores it (see the rewrite below)
      }
    }
  }
  g.Blob = ScriptBlob;
  URL.createObjectURL = ((obj: unknown) => {
    if (obj instanceof ScriptBlob) {
      if (!WORKER_LOAD_RE.test(obj.text)) {
        throw new Error("wasm threads: the tfjs pthread worker script is not the expected one");
      }
      fs.writeFileSync(
        workerFile,
        obj.text.replace(WORKER_LOAD_RE, `importScripts(${JSON.stringify(mainFile)});`),
      );
      patchedWorker = true;
      return workerFile;
    }
    return originalCreate(obj as Blob);
  }) as typeof URL.createObjectURL;
  os.cpus = () => {
    const cpus = originalCpus();
    return [...cpus, ...cpus];
  };
  try {
    const result = await init();
    if (!patchedWorker) throw new Error("wasm threads: tfjs did not create its pthread worker");
    return result;
  } finally {
    g.Blob = originalBlob;
    URL.createObjectURL = originalCreate;
    os.cpus = originalCpus;
  }
}

/** Let Node exit while the wasm module's pthread workers are alive (they only run inside kernels). */
export function unrefWasmWorkers(wasmModule: unknown): number {
  const pthread = (wasmModule as { PThread?: PThreadLike } | undefined)?.PThread;
  if (!pthread) return 0;
  let n = 0;
  for (const w of [...(pthread.unusedWorkers ?? []), ...(pthread.runningWorkers ?? [])]) {
    w.unref?.();
    n++;
  }
  return n;
}
