/**
 * IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed (detected from the content, not the
 * name). Format: two zero bytes, a type byte (only 0x08, unsigned byte, is accepted), a dimension
 * count byte, one big-endian uint32 per dimension, then the data in row-major order.
 */
import { readFile } from "node:fs/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { DataError } from "../errors.js";
import type { Dataset, LabelArray } from "./types.js";

const TYPE_NAMES: Record<number, string> = {
  8: "unsigned byte",
  9: "signed byte",
  11: "short",
  12: "int",
  13: "float",
  14: "double",
};

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Read a file; gunzip it when it starts with the gzip magic bytes. Errors name the file. */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    throw new DataError(`cannot read file (${errCode(err)})`, file);
  }
  return gunzipIfGzip(raw, file);
}

export function gunzipIfGzip(raw: Uint8Array, file: string): Uint8Array {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (err) {
      throw new DataError(`truncated or corrupt gzip data (${(err as Error).message})`, file);
    }
  }
  return raw;
}

export function errCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === "ENOENT"
    ? "no such file"
    : e.code === "EISDIR"
      ? "is a directory"
      : (e.code ?? e.message);
}

/** Parse IDX bytes (already gunzipped). `file` is for messages only. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4)
    throw new DataError(`truncated: ${bytes.length} bytes, too short for an IDX header`, file);
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const hex = `0x${magic.toString(16).padStart(8, "0")}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`wrong magic number ${hex}: not an IDX file (expected 0x0000080N)`, file);
  }
  const type = bytes[2];
  if (type !== 0x08) {
    const name = TYPE_NAMES[type];
    throw new DataError(
      name
        ? `IDX data type 0x${type.toString(16).padStart(2, "0")} (${name}) is not supported; expected 0x08 (unsigned byte)`
        : `wrong magic number ${hex}: unknown IDX data type 0x${type.toString(16).padStart(2, "0")}`,
      file,
    );
  }
  const ndims = bytes[3];
  if (ndims === 0) throw new DataError(`wrong magic number ${hex}: IDX file with 0 dimensions`, file);
  const header = 4 + 4 * ndims;
  if (bytes.length < header) {
    throw new DataError(
      `truncated: ${bytes.length} bytes, too short for an IDX header of ${ndims} dimensions`,
      file,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const have = bytes.length - header;
  if (have < count) {
    throw new DataError(
      `truncated: dimensions ${dims.join("x")} need ${count} data bytes, found ${have}`,
      file,
    );
  }
  if (have > count) {
    throw new DataError(`corrupt: ${have - count} unexpected bytes after the ${dims.join("x")} data`, file);
  }
  // a plain Uint8Array view (not a Buffer: Buffer's subclass semantics leak into copies)
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + header, count) };
}

/** An image file: dims [n, rows, cols] (channels 1) or [n, rows, cols, channels]. */
export async function readIdxImages(
  file: string,
): Promise<{ images: Uint8Array; n: number; height: number; width: number; channels: number }> {
  const { dims, data } = parseIdx(await readMaybeGzip(file), file);
  if (dims.length !== 3 && dims.length !== 4) {
    throw new DataError(
      `expected an IDX image file (3 dimensions: count, rows, columns), found ${dims.length} dimension(s)` +
        (dims.length === 1 ? " — is this a labels file?" : ""),
      file,
    );
  }
  const [n, height, width] = dims;
  const channels = dims.length === 4 ? dims[3] : 1;
  if (n === 0 || height === 0 || width === 0 || channels === 0) {
    throw new DataError(`empty: IDX image dimensions ${dims.join("x")}`, file);
  }
  if (channels !== 1 && channels !== 3) {
    throw new DataError(`${channels} channels per pixel is not supported (1 or 3)`, file);
  }
  return { images: data, n, height, width, channels };
}

/** A labels file: dims [n]. */
export async function readIdxLabels(file: string): Promise<Uint8Array> {
  const { dims, data } = parseIdx(await readMaybeGzip(file), file);
  if (dims.length !== 1) {
    throw new DataError(
      `expected an IDX labels file (1 dimension), found ${dims.length} dimensions (${dims.join("x")})` +
        (dims.length >= 3 ? " — is this an images file?" : ""),
      file,
    );
  }
  if (dims[0] === 0) throw new DataError("empty: IDX labels file with 0 labels", file);
  return data;
}

/** Check every label is < numClasses; the error names the file, the index and the value. */
export function checkLabels(labels: LabelArray, numClasses: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new DataError(
        `label ${labels[i]} at index ${i} is out of range (${numClasses} classes: 0..${numClasses - 1})`,
        file,
      );
    }
  }
}

/**
 * Read an images file and its labels file into a Dataset. `numClasses` when the source fixes it
 * (MNIST: 10); otherwise max label + 1.
 */
export async function readIdxPair(
  imagesFile: string,
  labelsFile: string,
  opts: { numClasses?: number; classNames?: string[]; source?: string } = {},
): Promise<Dataset> {
  const img = await readIdxImages(imagesFile);
  const labels = await readIdxLabels(labelsFile);
  if (labels.length !== img.n) {
    throw new DataError(`label count ${labels.length} != image count ${img.n} in ${imagesFile}`, labelsFile);
  }
  let numClasses = opts.numClasses;
  if (numClasses === undefined) {
    let max = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
    numClasses = max + 1;
  }
  checkLabels(labels, numClasses, labelsFile);
  return {
    images: img.images,
    labels,
    n: img.n,
    height: img.height,
    width: img.width,
    channels: img.channels,
    numClasses,
    classNames: opts.classNames,
    source: opts.source ?? imagesFile,
  };
}

/** Encode an IDX file of unsigned bytes (used to build the embedded dataset and test fixtures). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(`encodeIdx: dims ${dims.join("x")} != ${data.length} bytes`);
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  for (let i = 0; i < dims.length; i++) view.setUint32(4 + 4 * i, dims[i], false);
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** gzip deterministically (Node writes mtime 0, so equal input gives equal bytes). */
export function gzipDeterministic(data: Uint8Array): Uint8Array {
  return gzipSync(data, { level: 9 });
}
