/**
 * `psvit predict <model.json> --weights W.safetensors --images (IDX-FILE | IMAGE-FOLDER) [--limit N]
 * [--batch-size B] [--json] [--backend auto|tensorflow|webgpu|wasm|cpu]`: top-1 class of every image.
 *
 * The model config and the weights' stored config must agree (name aside). Images: an IDX image file
 * (raw or .gz) or a folder of PNG/JPEG files (searched recursively, sorted by path, so a class-folder
 * dataset works too), of any sizes and channel counts.
 * Images already at the model's input size are used as is; others are fitted by the data layer's
 * policy (src/data/fit.ts: pad or resize + centre-crop, channel conversion). Pixels are scaled to
 * [0, 1] and normalised with the config's `preprocess` (default mean 0, std 1).
 *
 * Output: one line per image, `index<TAB>top1` (`index<TAB>top1<TAB>file` for folders); with --json,
 * one JSON object per line: {"index": i, "top1": k, "logits": [...]}.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadModelConfig } from "../../config/load.js";
import type { ModelConfig } from "../../config/schema.js";
import { fitImages } from "../../data/fit.js";
import { decodeImageFile, isImageFile } from "../../data/folder.js";
import { readIdxImages } from "../../data/idx.js";
import { identityPreprocess, normalize } from "../../data/stats.js";
import { initBackend } from "../../engine/backend.js";
import { DataError, UsageError } from "../../errors.js";
import type { HvtModel } from "../../model/hvt.js";
import { loadModelWeights } from "../../weights/io.js";
import type { Io } from "../io.js";

export interface PredictOptions {
  weights: string;
  images: string;
  limit?: number | string;
  batchSize?: number | string;
  json?: boolean;
  backend?: string;
}

export interface PredictImages {
  /** NHWC uint8, already at the model's size and channels. */
  images: Uint8Array;
  n: number;
  /** Source file of each image (folders only). */
  files?: string[];
}

function positiveInt(value: number | string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a whole number ≥ 1, got ${JSON.stringify(value)}`);
  return n;
}

async function listImageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      throw new DataError(`cannot read folder (${(e as NodeJS.ErrnoException).code ?? e})`, d);
    }
    const names = entries
      .filter((e) => !e.name.startsWith("."))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of names) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && isImageFile(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** Read up to `limit` images from an IDX file or an image folder, fitted to the model's input. */
export async function readPredictImages(
  path: string,
  config: ModelConfig,
  limit = Infinity,
): Promise<PredictImages> {
  const target = { size: config.image.size, channels: config.image.channels };
  const per = target.size * target.size * target.channels;
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (e) {
    throw new DataError(
      `cannot read images (${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or folder" : e})`,
      path,
    );
  }
  if (st.isDirectory()) {
    const files = (await listImageFiles(path)).slice(0, limit);
    if (files.length === 0) throw new DataError("no .png, .jpg or .jpeg images in this folder", path);
    const images = new Uint8Array(files.length * per);
    for (const [i, file] of files.entries()) {
      const d = await decodeImageFile(file);
      // each image is fitted on its own: a folder may mix sizes and channel counts, as a dataset may
      const fitted = fitImages(d.data, 1, d.height, d.width, d.channels, target);
      images.set(fitted.images, i * per);
    }
    return { images, n: files.length, files };
  }
  const idx = await readIdxImages(path);
  const n = Math.min(idx.n, limit);
  const src = idx.images.subarray(0, n * idx.height * idx.width * idx.channels);
  const fitted = fitImages(src, n, idx.height, idx.width, idx.channels, target);
  return { images: fitted.images, n };
}

/** Logits of normalised images, in batches. Returns one Float32Array row per image. */
export async function predictLogits(
  model: HvtModel,
  x: Float32Array,
  n: number,
  batchSize: number,
): Promise<Float32Array[]> {
  const { size, channels } = model.config.image;
  const per = size * size * channels;
  const K = model.config.numClasses;
  const rows: Float32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const logits = tf.tidy(() =>
      model.forward(tf.tensor4d(x.subarray(start * per, (start + b) * per), [b, size, size, channels])),
    );
    const data = (await logits.data()) as Float32Array;
    logits.dispose();
    for (let i = 0; i < b; i++) rows.push(data.slice(i * K, (i + 1) * K));
  }
  return rows;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}

export async function predictCommand(modelFile: string, opts: PredictOptions, io: Io): Promise<void> {
  if (!opts.weights) throw new UsageError("--weights FILE is required");
  if (!opts.images) throw new UsageError("--images (IDX-FILE | IMAGE-FOLDER) is required");
  const limit = positiveInt(opts.limit, "--limit", Number.POSITIVE_INFINITY);
  const batchSize = positiveInt(opts.batchSize, "--batch-size", 64);
  const config = loadModelConfig(modelFile);
  await initBackend(opts.backend ?? process.env.PSVIT_BACKEND ?? "auto");
  const { model } = await loadModelWeights(opts.weights, config);
  try {
    const { images, n, files } = await readPredictImages(opts.images, config, limit);
    const pre = config.preprocess ?? identityPreprocess(config.image.channels);
    const x = normalize(images, config.image.channels, pre);
    const rows = await predictLogits(model, x, n, batchSize);
    const lines = rows.map((row, index) => {
      const top1 = argmax(row);
      if (opts.json) return JSON.stringify({ index, top1, logits: Array.from(row) });
      return files ? `${index}\t${top1}\t${files[index]}` : `${index}\t${top1}`;
    });
    io.out(`${lines.join("\n")}\n`);
  } finally {
    model.dispose();
  }
}
