/**
 * Training checkpoints: one safetensors file holding every parameter (`params/<name>`, psvit's internal
 * layouts), the optimizer's tensors (`opt/<key>`), and in `__metadata__` the JSON of everything else a
 * resumed run needs (step, data-stream position, sampler RNG, optimizer counters) plus the space or
 * model config. Written to a temporary file and renamed (see RunDir), so an interrupted write leaves the
 * previous checkpoint as it was.
 */
import type * as tf from "@tensorflow/tfjs";
import type { BatchStreamState } from "../data/batch.js";
import type { FolderStreamState } from "../data/stream/folder-stream.js";
import type { AdamWState } from "../engine/adamw.js";
import { DataError } from "../errors.js";
import type { RngState } from "../util/rng.js";
import { readSafetensors, type StTensor, writeSafetensors } from "../weights/safetensors.js";

export const CHECKPOINT_KEY = "psvit.checkpoint";

export interface CheckpointMeta {
  version: 1;
  kind: "supernet" | "model";
  /** Optimizer steps completed. */
  step: number;
  /** Where the training stream continues. */
  stream: BatchStreamState | FolderStreamState;
  /** The architecture sampler's RNG (supernet runs). */
  sampler: RngState | null;
  /** The path sampler's own state beyond its RNG (the fair sampler's counts); absent: none. */
  samplerState?: unknown;
  /** The optimizer's non-tensor state. */
  optimizer: unknown;
  /** The space (supernet) or model config the parameters belong to. */
  config: unknown;
  /** Last completed epoch's evaluation, if any. */
  lastEval?: unknown;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  params: Map<string, StTensor>;
  optimizer: Map<string, StTensor>;
}

async function toSt(t: tf.Tensor | StTensor): Promise<StTensor> {
  if ("data" in t && t.data instanceof Float32Array) return t as StTensor;
  const tensor = t as tf.Tensor;
  return { shape: [...tensor.shape], data: (await tensor.data()) as Float32Array };
}

export async function saveCheckpoint(
  file: string,
  meta: CheckpointMeta,
  params: ReadonlyMap<string, tf.Tensor>,
  optimizer: ReadonlyMap<string, tf.Tensor | StTensor>,
): Promise<void> {
  const entries: [string, StTensor][] = [];
  for (const [name, v] of params) entries.push([`params/${name}`, await toSt(v)]);
  for (const [key, v] of optimizer) entries.push([`opt/${key}`, await toSt(v)]);
  await writeSafetensors(file, entries, { [CHECKPOINT_KEY]: JSON.stringify(meta) });
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const st = await readSafetensors(file);
  const text = st.metadata[CHECKPOINT_KEY];
  if (text === undefined) throw new DataError(`not a psvit checkpoint (no ${CHECKPOINT_KEY} metadata)`, file);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(text) as CheckpointMeta;
  } catch (e) {
    throw new DataError(`checkpoint metadata is not valid JSON (${(e as Error).message})`, file);
  }
  if (meta.version !== 1) throw new DataError(`checkpoint version ${meta.version} is not supported`, file);
  const params = new Map<string, StTensor>();
  const optimizer = new Map<string, StTensor>();
  for (const [name, t] of st.tensors) {
    if (name.startsWith("params/")) params.set(name.slice(7), t);
    else if (name.startsWith("opt/")) optimizer.set(name.slice(4), t);
    else throw new DataError(`unexpected tensor ${name} in checkpoint`, file);
  }
  return { meta, params, optimizer };
}

/** AdamW's state split into checkpoint tensors (`m/<name>`, `v/<name>`) and JSON (steps, hyper-parameters). */
export function optimizerToCheckpoint(state: AdamWState): { meta: unknown; tensors: Map<string, StTensor> } {
  const tensors = new Map<string, StTensor>();
  const steps: Record<string, number> = {};
  for (const [name, s] of Object.entries(state.vars)) {
    tensors.set(`m/${name}`, { shape: s.shape, data: s.m });
    tensors.set(`v/${name}`, { shape: s.shape, data: s.v });
    steps[name] = s.step;
  }
  const { vars: _vars, ...hyper } = state;
  return { meta: { ...hyper, steps }, tensors };
}

export function optimizerFromCheckpoint(meta: unknown, tensors: ReadonlyMap<string, StTensor>): AdamWState {
  const { steps, ...hyper } = meta as Omit<AdamWState, "vars"> & { steps: Record<string, number> };
  const vars: AdamWState["vars"] = {};
  for (const [name, step] of Object.entries(steps)) {
    const m = tensors.get(`m/${name}`);
    const v = tensors.get(`v/${name}`);
    if (!m || !v) throw new DataError(`checkpoint lacks the optimizer moments of ${name}`);
    vars[name] = { step, shape: m.shape, m: m.data, v: v.data };
  }
  return { ...hyper, vars };
}
