/**
 * The static web folder of `psvit export --format web` / `psvit convert --to web`:
 *
 *   index.html, app.js          the page (webapp/ in the package)
 *   psvit/data/fit.js, psvit/errors.js
 *                               psvit's own fitting (src/data/fit.ts, compiled), which the page uses
 *   model.onnx                  the model (src/onnx/graph.ts)
 *   model.json                  its config, class names, FLOPs and the psvit version
 *   ort.wasm.min.js, ort-wasm-simd-threaded.{mjs,wasm}
 *                               onnxruntime-web's wasm runtime, copied from the installed package
 *
 * onnxruntime-web rather than psvit's own engine in the browser: it is one script and one wasm file
 * with no build step, and the page then runs the very ONNX file the Node tests check, so the browser
 * and onnxruntime-node agree by construction. The page fetches only these files, so it works from any
 * static server (`psvit serve FOLDER`); browsers refuse those fetches from a file:// page.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelConfig } from "../config/schema.js";
import { FileSystemError } from "../errors.js";
import { countModel } from "../flops/count.js";
import { tempFileFor } from "../util/debris.js";
import { grouped, human } from "../util/units.js";
import { PSVIT_VERSION } from "../version.js";

/** webapp/ of the package (from dist/webapp/ or src/webapp/ alike). */
export const WEBAPP_ASSETS = join(dirname(fileURLToPath(import.meta.url)), "../../webapp");
const PAGE_FILES = ["index.html", "app.js"];
/** psvit's own fitting (src/data/fit.ts, compiled) and what it imports: the page fits images with it. */
const PSVIT_MODULES = ["data/fit.js", "errors.js"];

/** The compiled psvit modules (dist/): beside this file when it runs from dist, else the build's. */
function compiledDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return existsSync(join(here, "../data/fit.js")) ? join(here, "..") : join(here, "../../dist");
}
const ORT_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

/** onnxruntime-web's dist/ folder. */
export function ortWebDist(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("onnxruntime-web/wasm")); // its "require" entry: dist/ort.wasm.min.js
}

/**
 * Write the folder at `dir`: built complete in a temporary folder beside it, then renamed into place
 * (an existing folder is moved aside first and removed once the new one stands). Returns the path of
 * its model.onnx.
 */
export async function writeWebApp(
  dir: string,
  config: ModelConfig,
  onnx: Uint8Array,
  labels: string[],
): Promise<string> {
  const tmp = tempFileFor(dir);
  const old = tempFileFor(dir);
  const cost = countModel(config);
  try {
    await mkdir(tmp, { recursive: true });
    for (const f of PAGE_FILES) await copyFile(join(WEBAPP_ASSETS, f), join(tmp, f));
    for (const m of PSVIT_MODULES) {
      await mkdir(dirname(join(tmp, "psvit", m)), { recursive: true });
      await copyFile(join(compiledDir(), m), join(tmp, "psvit", m));
    }
    const ort = ortWebDist();
    for (const f of ORT_FILES) await copyFile(join(ort, f), join(tmp, f));
    await writeFile(join(tmp, "model.onnx"), onnx);
    const meta = {
      kind: "psvit.webapp",
      version: 1,
      psvit: PSVIT_VERSION,
      config,
      labels,
      flops: cost.flops,
      flops_human: `${human(cost.flops)}FLOPs (${grouped(cost.flops)})`,
      params: cost.params,
    };
    await writeFile(join(tmp, "model.json"), `${JSON.stringify(meta, null, 2)}\n`);
    let replaced = false;
    try {
      await rename(dir, old);
      replaced = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    try {
      await rename(tmp, dir);
    } catch (e) {
      if (replaced) await rename(old, dir); // put the old folder back
      throw e;
    }
    if (replaced) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw FileSystemError.from(e, { path: dir, action: "write" }) ?? e;
  }
  return join(dir, "model.onnx");
}
