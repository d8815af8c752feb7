/**
 * Deployable forms of a trained model (a `psvit.model` config and its SPEC §4 weights): one ONNX file
 * (src/onnx/graph.ts) or a static web folder (src/webapp/write.ts) that runs that file in a browser.
 * `psvit convert` and `psvit export --format onnx|web` call these; the weights are read through the
 * same validator as `psvit predict` (names, PyTorch shapes, finiteness, config agreement), so a
 * mismatch is one DataError naming the file before anything is written.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadModelConfig } from "../config/load.js";
import type { ModelConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { PSVIT_VERSION } from "../version.js";
import { readModelTensors } from "../weights/io.js";
import { modelToOnnx } from "./graph.js";

export const DEPLOY_FORMATS = ["onnx", "web"] as const;
export type DeployFormat = (typeof DEPLOY_FORMATS)[number];

export function parseDeployFormat(value: string, flag: string): DeployFormat {
  if ((DEPLOY_FORMATS as readonly string[]).includes(value)) return value as DeployFormat;
  throw new UsageError(`${flag} must be one of ${DEPLOY_FORMATS.join(", ")}; got ${JSON.stringify(value)}`);
}

/** The ONNX bytes of a weights file, checked against `config` (or the config stored in the file). */
export async function onnxBytes(
  weightsFile: string,
  config?: ModelConfig,
): Promise<{ config: ModelConfig; bytes: Uint8Array }> {
  const { config: checked, torch } = await readModelTensors(weightsFile, config);
  return { config: checked, bytes: modelToOnnx(checked, torch, PSVIT_VERSION) };
}

/**
 * Class names for a model: `labels` (comma-separated, or a file with one name per line) if given, else
 * those of the run that trained the weights (run.json beside them, `data.info.classNames`), else
 * "class 0", "class 1", …
 */
export function classNamesFor(
  config: ModelConfig,
  weightsFile: string,
  labels?: string | string[],
): string[] {
  const K = config.numClasses;
  let names: string[] | undefined;
  if (Array.isArray(labels) && labels.length === K) return labels;
  if (typeof labels === "string") {
    names =
      existsSync(labels) && !labels.includes(",")
        ? readFileSync(labels, "utf8")
            .split(/\r?\n/)
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : labels.split(",").map((s) => s.trim());
    if (names.length !== K)
      throw new UsageError(`--labels: ${names.length} class names for a model with ${K} classes`);
    return names;
  }
  const runJson = join(dirname(resolve(weightsFile)), "run.json");
  if (existsSync(runJson)) {
    try {
      const snap = JSON.parse(readFileSync(runJson, "utf8")) as {
        data?: { info?: { classNames?: unknown } };
      };
      const found = snap.data?.info?.classNames;
      if (Array.isArray(found) && found.length === K && found.every((n) => typeof n === "string"))
        names = found as string[];
    } catch {
      // a damaged run.json only costs the names
    }
  }
  return names ?? Array.from({ length: K }, (_, k) => `class ${k}`);
}

export interface ConvertOptions {
  /** The model config file (psvit.model). */
  config: string;
  weights: string;
  to: DeployFormat;
  /** Output file (onnx) or folder (web); default beside the config: NAME.onnx / NAME-web. */
  out?: string;
  labels?: string;
  force?: boolean;
}

export interface ConvertResult {
  format: DeployFormat;
  /** The written .onnx file, or the web folder. */
  path: string;
  /** The ONNX file (inside the web folder for `web`). */
  onnx: string;
  bytes: number;
}

function guard(path: string, force: boolean | undefined): void {
  if (existsSync(path) && !force)
    throw new UsageError(`${path} already exists; add --force to replace it or choose another --out`);
}

/** The default output of a conversion: NAME.onnx or NAME-web beside `dir`. */
export function defaultDeployPath(dir: string, name: string, format: DeployFormat): string {
  return join(dir, format === "onnx" ? `${name}.onnx` : `${name}-web`);
}

/**
 * Write a model in a deployable format. Validates everything first (config, weights, labels, the
 * output path), then writes: the ONNX file atomically; a web folder built beside its target and
 * renamed into place, so an existing folder is replaced only once the new one is complete.
 */
export async function deployModel(
  config: ModelConfig,
  weightsFile: string,
  to: DeployFormat,
  out: string,
  opts: { labels?: string | string[]; force?: boolean } = {},
): Promise<ConvertResult> {
  const path = resolve(out);
  guard(path, opts.force);
  const { config: checked, bytes } = await onnxBytes(weightsFile, config);
  const names = classNamesFor(checked, weightsFile, opts.labels);
  if (to === "onnx") {
    await writeFileAtomic(path, bytes);
    return { format: to, path, onnx: path, bytes: bytes.length };
  }
  const { writeWebApp } = await import("../webapp/write.js");
  const onnx = await writeWebApp(path, checked, bytes, names);
  return { format: to, path, onnx, bytes: bytes.length };
}

/** `psvit convert MODEL.json --weights W.safetensors --to onnx|web`. */
export async function convertModel(opts: ConvertOptions): Promise<ConvertResult> {
  if (!opts.weights) throw new UsageError("--weights FILE is required");
  const config = loadModelConfig(opts.config);
  const out =
    opts.out ??
    defaultDeployPath(
      dirname(resolve(opts.config)),
      basename(opts.config).replace(/\.model\.json$|\.json$/, ""),
      opts.to,
    );
  return deployModel(config, opts.weights, opts.to, out, { labels: opts.labels, force: opts.force });
}
