/**
 * The real Dawn adapter the webgpu tests run on, where one exists (CI: Mesa's lavapipe, a software
 * adapter from bookworm-backports that .ci/run installs). Where there is none, each file that imports
 * this says so once and its real-adapter tests are skipped (describe.runIf(realWebgpu.ok)).
 */
import { releaseWebgpu, startWebgpu } from "../../src/engine/webgpu.js";

export const realWebgpu = await startWebgpu((s) => import(s), { allowSoftware: true });

/** Warn (once per file) when the real-adapter tests of `file` are skipped. */
export function warnIfNoAdapter(file: string): void {
  if (!realWebgpu.ok)
    console.warn(`${file}: no WebGPU adapter (${realWebgpu.why}): the real-adapter tests are skipped`);
}

export { releaseWebgpu };
