/**
 * Model and supernet weights files (SPEC §4): safetensors with timm-style names and PyTorch layouts
 * (Linear [out, in]; conv [out, in, kh, kw]; patch_embed.proj.weight [D, C, p, p]). The header's
 * `__metadata__` carries the config as JSON: `psvit.model` for a model, `psvit.space` for a supernet
 * checkpoint. Conversion to and from the internal layouts is driven by the parameter specs
 * (src/model/params.ts), which also fix the expected names and shapes.
 */
import type * as tf from "@tensorflow/tfjs";
import type { ModelConfig, SpaceConfig } from "../config/schema.js";
import { parseModelConfig, parseSpaceConfig } from "../config/validate.js";
import { DataError, PsvitError } from "../errors.js";
import { HvtModel, modelParamSpecs } from "../model/hvt.js";
import { type ParamSpec, shapeSize } from "../model/params.js";
import { Supernet, supernetParamSpecs } from "../model/supernet.js";
import { readSafetensors, type StTensor, writeSafetensors } from "./safetensors.js";

export const MODEL_METADATA_KEY = "psvit.model";
export const SPACE_METADATA_KEY = "psvit.space";

/** The PyTorch shape of a parameter. */
export function torchShape(spec: ParamSpec): number[] {
  const l = spec.layout;
  if (l.kind === "linear") return [spec.shape[1], spec.shape[0]];
  if (l.kind === "conv") return [spec.shape[1], l.cin, l.k, l.k];
  return [...spec.shape];
}

/**
 * For a non-plain parameter, where each internal element sits in the PyTorch layout: element i of the
 * internal array is element `map[i]` of the PyTorch array. The one definition of the correspondence;
 * both conversions read it.
 */
function torchIndexMap(spec: ParamSpec): Int32Array {
  const l = spec.layout;
  const map = new Int32Array(shapeSize(spec.shape));
  if (l.kind === "linear") {
    // internal [in, out] ↔ PyTorch [out, in]
    const [inDim, outDim] = spec.shape;
    for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) map[i * outDim + o] = o * inDim + i;
  } else if (l.kind !== "plain") {
    // internal row (kh·k + kw)·cin + c, column o  ↔  PyTorch [o, c, kh, kw]
    const { k, cin } = l;
    const cout = spec.shape[1];
    for (let kh = 0; kh < k; kh++)
      for (let kw = 0; kw < k; kw++)
        for (let c = 0; c < cin; c++) {
          const row = ((kh * k + kw) * cin + c) * cout;
          for (let o = 0; o < cout; o++) map[row + o] = ((o * cin + c) * k + kh) * k + kw;
        }
  }
  return map;
}

/** Internal layout → PyTorch layout. */
export function toTorchLayout(spec: ParamSpec, data: Float32Array): StTensor {
  const shape = torchShape(spec);
  if (spec.layout.kind === "plain") return { shape, data: new Float32Array(data) };
  const map = torchIndexMap(spec);
  const out = new Float32Array(data.length);
  for (let i = 0; i < map.length; i++) out[map[i]] = data[i];
  return { shape, data: out };
}

/** PyTorch layout → internal layout (the shape must already be checked). */
export function fromTorchLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.layout.kind === "plain") return data;
  const map = torchIndexMap(spec);
  const out = new Float32Array(data.length);
  for (let i = 0; i < map.length; i++) out[i] = data[map[i]];
  return out;
}

type WeightSource = ReadonlyMap<string, Float32Array | tf.Tensor>;

async function valuesOf(t: Float32Array | tf.Tensor): Promise<Float32Array> {
  return t instanceof Float32Array ? t : ((await t.data()) as Float32Array);
}

/** Internal-layout weights (by spec name) → PyTorch-layout tensors in spec order. */
export async function exportTensors(
  specs: readonly ParamSpec[],
  weights: WeightSource,
): Promise<[string, StTensor][]> {
  const out: [string, StTensor][] = [];
  for (const spec of specs) {
    const w = weights.get(spec.name);
    if (!w) throw new Error(`weights export: no value for ${spec.name}`);
    const data = await valuesOf(w);
    if (data.length !== shapeSize(spec.shape)) {
      throw new Error(
        `weights export: ${spec.name} has ${data.length} values, expected shape [${spec.shape}]`,
      );
    }
    out.push([spec.name, toTorchLayout(spec, data)]);
  }
  return out;
}

function list(names: string[]): string {
  return names.length <= 6 ? names.join(", ") : `${names.slice(0, 6).join(", ")}, … (${names.length} in all)`;
}

/**
 * Check names, PyTorch shapes and finiteness against the specs and convert to internal layouts. Every
 * problem is a DataError naming the file (what was expected, what was found).
 */
export function importTensors(
  specs: readonly ParamSpec[],
  tensors: ReadonlyMap<string, StTensor>,
  file: string,
  what: string,
): Map<string, Float32Array> {
  const expected = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !tensors.has(s.name)).map((s) => s.name);
  const extra = [...tensors.keys()].filter((k) => !expected.has(k));
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} tensor(s): ${list(missing)}`);
    if (extra.length) parts.push(`unexpected ${extra.length} tensor(s): ${list(extra)}`);
    throw new DataError(`weights do not match ${what}: ${parts.join("; ")}`, file);
  }
  const out = new Map<string, Float32Array>();
  for (const spec of specs) {
    const t = tensors.get(spec.name)!;
    const want = torchShape(spec);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new DataError(
        `tensor ${spec.name} has shape [${t.shape.join(", ")}] but ${what} needs [${want.join(", ")}] (PyTorch layout)`,
        file,
      );
    }
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const count = t.data.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
      throw new DataError(
        `tensor ${spec.name} holds non-finite values (${count} of ${t.data.length}; the first, ${t.data[bad]}, at flat index ${bad}): these weights come from a diverged or damaged run`,
        file,
      );
    }
    out.set(spec.name, fromTorchLayout(spec, t.data));
  }
  return out;
}

/** Identity preprocessing (mean 0, std 1) is the default; treat it as absent when comparing. */
function canonical(cfg: ModelConfig | SpaceConfig): Record<string, unknown> {
  const { name: _n, $schema: _s, preprocess, ...rest } = cfg;
  if (!preprocess) return rest;
  const identity = preprocess.mean.every((m) => m === 0) && preprocess.std.every((s) => s === 1);
  return identity ? rest : { ...rest, preprocess };
}

function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || a === null || b === null) {
    return a === b ? null : `${path || "(root)"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  if (typeof a !== "object") return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return `${path}: ${a.length} entries vs ${bb.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], bb[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
    const d = firstDifference(ao[key], bo[key], path ? `${path}.${key}` : key);
    if (d) return d;
  }
  return null;
}

/**
 * The first difference between two configs that matters for the weights and the maths (the name
 * and `$schema` are ignored; absent `preprocess` equals the identity), as `path: a vs b`, or null.
 */
export function configDifference(a: ModelConfig | SpaceConfig, b: ModelConfig | SpaceConfig): string | null {
  return firstDifference(canonical(a), canonical(b), "");
}

function configFromMetadata<T>(
  metadata: Record<string, string>,
  key: string,
  parse: (raw: unknown) => T,
  file: string,
): T | undefined {
  const text = metadata[key];
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DataError(`__metadata__["${key}"] is not valid JSON (${(e as Error).message})`, file);
  }
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof PsvitError) throw new DataError(`__metadata__["${key}"]: ${e.message}`, file);
    throw e;
  }
}

/** Write a model's weights (PyTorch layouts, SPEC §4 names) with its config in the metadata. */
export async function saveModelWeights(
  file: string,
  config: ModelConfig,
  model: HvtModel | WeightSource,
): Promise<void> {
  if (model instanceof HvtModel) {
    const diff = configDifference(config, model.config);
    if (diff) throw new Error(`saveModelWeights: the model was built from another config (${diff})`);
  }
  const specs = modelParamSpecs(config);
  const weights = model instanceof HvtModel ? model.variables() : model;
  const tensors = await exportTensors(specs, weights);
  await writeSafetensors(file, tensors, { format: "pt", [MODEL_METADATA_KEY]: JSON.stringify(config) });
}

/**
 * Read a model's weights file and check it: the config comes from the file's metadata; with
 * `expectedConfig` the two must agree (else a DataError says where they differ), and a file without
 * metadata (e.g. written by PyTorch) is read with `expectedConfig`. Every tensor is checked against
 * the config (names, PyTorch shapes, finiteness). Returns the tensors in both layouts.
 */
export async function readModelTensors(
  file: string,
  expectedConfig?: ModelConfig,
): Promise<{ config: ModelConfig; torch: Map<string, StTensor>; internal: Map<string, Float32Array> }> {
  const { metadata, tensors } = await readSafetensors(file);
  const stored = configFromMetadata(metadata, MODEL_METADATA_KEY, (raw) => parseModelConfig(raw), file);
  if (!stored && !expectedConfig) {
    throw new DataError(
      `no model config in the header (__metadata__["${MODEL_METADATA_KEY}"] is missing): not psvit model weights?`,
      file,
    );
  }
  if (stored && expectedConfig) {
    const diff = configDifference(expectedConfig, stored);
    if (diff)
      throw new DataError(
        `the weights were saved for a different model config: ${diff} (given vs stored)`,
        file,
      );
  }
  const config = expectedConfig ?? stored!;
  const internal = importTensors(modelParamSpecs(config), tensors, file, `model "${config.name}"`);
  return { config, torch: new Map(tensors), internal };
}

/** Read a model's weights (checked as `readModelTensors`) and build the model. */
export async function loadModelWeights(
  file: string,
  expectedConfig?: ModelConfig,
): Promise<{ config: ModelConfig; model: HvtModel }> {
  const { config, internal } = await readModelTensors(file, expectedConfig);
  return { config, model: HvtModel.fromWeights(config, internal) };
}

/** Write all supernet weights (PyTorch layouts, supernet names) with the space in the metadata. */
export async function saveSupernetWeights(
  file: string,
  supernet: Supernet,
  extraMetadata: Record<string, string> = {},
): Promise<void> {
  const tensors = await exportTensors(supernet.paramSpecs(), supernet.allVariables());
  await writeSafetensors(file, tensors, {
    ...extraMetadata,
    format: "pt",
    [SPACE_METADATA_KEY]: JSON.stringify(supernet.space),
  });
}

/** Read supernet weights; with `expectedSpace` the stored space must agree. Returns the metadata too. */
export async function loadSupernetWeights(
  file: string,
  expectedSpace?: SpaceConfig,
): Promise<{ space: SpaceConfig; supernet: Supernet; metadata: Record<string, string> }> {
  const { metadata, tensors } = await readSafetensors(file);
  const stored = configFromMetadata(metadata, SPACE_METADATA_KEY, (raw) => parseSpaceConfig(raw), file);
  if (!stored && !expectedSpace) {
    throw new DataError(
      `no space config in the header (__metadata__["${SPACE_METADATA_KEY}"] is missing)`,
      file,
    );
  }
  if (stored && expectedSpace) {
    const diff = configDifference(expectedSpace, stored);
    if (diff)
      throw new DataError(`the supernet was saved for a different space: ${diff} (given vs stored)`, file);
  }
  const space = expectedSpace ?? stored!;
  const weights = importTensors(
    supernetParamSpecs(space),
    tensors,
    file,
    `supernet of space "${space.name}"`,
  );
  return { space, supernet: Supernet.fromWeights(space, weights), metadata };
}
