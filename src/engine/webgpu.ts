/**
 * The WebGPU backend under Node: Dawn's bindings (the `webgpu` package, `dist/<platform>/dawn.node`
 * inside its tarball; Vulkan through `libvulkan.so.1` at run time) give `navigator.gpu`, and
 * `@tensorflow/tfjs-backend-webgpu` registers its backend when it is imported with `navigator.gpu`
 * already there. Both packages are optional: absent, or present without a loadable native part, they
 * are "not available" like any missing backend.
 *
 * An adapter is software when Dawn says it is a fallback adapter or its architecture is "software"
 * (Mesa's lavapipe/llvmpipe, SwiftShader): `auto` never picks one (a CPU pretending to be a GPU is
 * slower than wasm); `--backend webgpu` takes it and says so.
 *
 * Dawn's instance keeps Node's event loop alive: `releaseWebgpu()` drops it (the CLI does at exit).
 */
import { readdirSync } from "node:fs";
import { errorText, importFailure } from "./optional.js";

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A fallback / software adapter (not a GPU). */
  software: boolean;
}

export type WebgpuStart =
  | { ok: true; adapter: AdapterSummary }
  | { ok: false; why: string; adapter?: AdapterSummary };

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface GpuLike {
  requestAdapter(o?: { powerPreference?: string }): Promise<{
    info?: AdapterInfoLike;
    isFallbackAdapter?: boolean;
  } | null>;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

/** What an adapter is, from its info (vendor, architecture, device, description, fallback flag). */
export function summarizeAdapter(info: AdapterInfoLike, fallback?: boolean): AdapterSummary {
  const s = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
  };
  const software =
    Boolean(info.isFallbackAdapter ?? fallback) ||
    s.architecture.toLowerCase() === "software" ||
    SOFTWARE.test(`${s.device} ${s.description}`);
  return { ...s, software };
}

/** One line for the log: `nvidia hopper (NVIDIA H200)`, `mesa software (llvmpipe …), software`. */
export function adapterLine(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(" ") || "unknown adapter";
  const what = a.description || a.device;
  return `${name}${what ? ` (${what})` : ""}${a.software ? ", a software adapter, not a GPU" : ""}`;
}

let instance: GpuLike | undefined;
/** The adapter the held instance runs on (set with `instance`). */
let started: AdapterSummary | undefined;

/**
 * Whether this machine may have a hardware GPU for Dawn: on Linux a GPU shows up as a device node
 * (`/dev/dri/renderD*` for Mesa/AMD/Intel, `/dev/nvidia*` for NVIDIA's driver); without one only a
 * software adapter can exist, so `auto` does not load Dawn at all (no start-up cost, none of the
 * warnings Dawn prints while it probes Vulkan). Elsewhere: true (Dawn is asked).
 */
export function mayHaveGpu(
  platform = process.platform,
  list: (dir: string) => string[] = (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
): boolean {
  if (platform !== "linux") return true;
  return (
    list("/dev/dri").some((f) => f.startsWith("renderD")) || list("/dev").some((f) => /^nvidia\d+$/.test(f))
  );
}

/**
 * Load Dawn, find an adapter and register tfjs's webgpu backend (not selected: the caller sets it).
 * `allowSoftware: false` (auto) refuses a software adapter. Never throws for a missing or broken
 * package: `{ ok: false, why }`. Started once per process (until `releaseWebgpu`): a second call answers
 * from the instance it holds, since tfjs's backend keeps the first instance's device, and a second
 * Dawn instance put in its place lets the first be collected under it (Dawn then aborts the process).
 */
export async function startWebgpu(
  importer: (specifier: string) => Promise<unknown>,
  opts: { allowSoftware: boolean },
): Promise<WebgpuStart> {
  if (instance && started) {
    if (started.software && !opts.allowSoftware)
      return { ok: false, why: `only a software adapter: ${adapterLine(started)}`, adapter: started };
    return { ok: true, adapter: started };
  }
  let dawn: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    dawn = (await importer("webgpu")) as typeof dawn;
    if (typeof dawn?.create !== "function") return { ok: false, why: "webgpu has no create()" };
  } catch (e) {
    return {
      ok: false,
      why: `webgpu ${importFailure(e, "webgpu")}`,
    };
  }
  let gpu: GpuLike;
  let adapter: Awaited<ReturnType<GpuLike["requestAdapter"]>>;
  try {
    // the WebGPU constants tfjs uses (GPUBufferUsage, GPUMapMode, …), where Node has none of its own
    for (const [k, v] of Object.entries(dawn.globals ?? {})) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    return { ok: false, why: `Dawn failed to start (${errorText(e)})` };
  }
  if (!adapter) {
    return { ok: false, why: "no WebGPU adapter (Dawn found no Vulkan driver: libvulkan1 and a GPU driver)" };
  }
  const summary = summarizeAdapter(adapter.info ?? {}, adapter.isFallbackAdapter);
  if (summary.software && !opts.allowSoftware) {
    return { ok: false, why: `only a software adapter: ${adapterLine(summary)}`, adapter: summary };
  }
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  }
  g.navigator!.gpu = gpu;
  instance = gpu;
  try {
    await importer("@tensorflow/tfjs-backend-webgpu");
  } catch (e) {
    releaseWebgpu();
    const spec = "@tensorflow/tfjs-backend-webgpu";
    return {
      ok: false,
      why: `${spec} ${importFailure(e, spec)}`,
    };
  }
  started = summary;
  return { ok: true, adapter: summary };
}

interface DeviceLike {
  onuncapturederror?: ((e: { error?: { message?: string; constructor?: { name?: string } } }) => void) | null;
}

/**
 * Make the device's uncaptured errors fatal. Dawn reports an invalid pipeline, a bad binding or an
 * exhausted memory pool asynchronously and tfjs goes on with whatever the output buffers held, so a
 * training run would continue on garbage (seen: AddN past the storage-buffer limit, ./adamw.ts
 * `addMany`). Each error reaches `report` (default: thrown on the next tick, so the process ends
 * with the stack and exit 1: a psvit or tfjs bug, or the GPU out of memory).
 */
export function failOnDeviceErrors(
  device: DeviceLike | undefined,
  report: (e: Error) => void = (e) =>
    process.nextTick(() => {
      throw e;
    }),
): void {
  if (!device) return;
  device.onuncapturederror = (ev) => {
    const kind = ev.error?.constructor?.name ?? "GPUError";
    const first = String(ev.error?.message ?? ev.error ?? "unknown").split("\n")[0];
    report(
      new Error(
        `webgpu: the device reported a ${kind}: ${first}; its results are not valid, so psvit stops ` +
          `(out of memory: a smaller batch; otherwise a bug of psvit or tfjs-backend-webgpu: --backend wasm meanwhile)`,
      ),
    );
  };
}

/** Drop Dawn's instance (it keeps the process alive); the webgpu backend cannot be used after this. */
export function releaseWebgpu(): void {
  if (!instance) return;
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu === instance) delete g.navigator.gpu;
  instance = undefined;
  started = undefined;
}
