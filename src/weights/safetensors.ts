/**
 * safetensors, float32 only (SPEC §4): 8-byte little-endian header length N, N bytes of JSON header
 * `{"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, …}`,
 * then the raw little-endian data; offsets are relative to the start of the data and the tensors
 * must tile it exactly (as the reference Rust implementation checks).
 *
 * Hand-written: the format is tiny, and psvit needs every malformed file reported as a DataError that
 * names the file and says what is wrong; see docs/MODEL.md for why no npm reader is used.
 */
import { readFile } from "node:fs/promises";
import { DataError } from "../errors.js";
import { errCode, writeFileAtomic } from "../util/fs.js";

export interface StTensor {
  shape: number[];
  data: Float32Array;
}

export interface StFile {
  metadata: Record<string, string>;
  /** In file (offset) order. */
  tensors: Map<string, StTensor>;
}

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Encode tensors (in the given order) and string metadata. The header is space-padded to 8 bytes. */
export function encodeSafetensors(
  tensors: Iterable<[string, StTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const list: StTensor[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") throw new Error(`encodeSafetensors: "__metadata__" is not a tensor name`);
    if (name in header) throw new Error(`encodeSafetensors: tensor ${name} given twice`);
    if (t.data.length !== size(t.shape)) {
      throw new Error(`encodeSafetensors: ${name} has ${t.data.length} values for shape [${t.shape}]`);
    }
    const bytes = t.data.length * 4;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    list.push(t);
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of list) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i], true);
    }
    pos += t.data.byteLength;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Decode and validate; every problem is a DataError naming `file`. Tensor data are copies. */
export function decodeSafetensors(bytes: Uint8Array, file?: string): StFile {
  function fail(msg: string): never {
    throw new DataError(`not a valid safetensors file: ${msg}`, file);
  }
  if (bytes.length < 8) fail(`file too short (${bytes.length} bytes; the header length alone takes 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) {
    fail(
      `header length ${n64} runs past the end of the file (${bytes.length - 8} bytes after the length field)`,
    );
  }
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) fail("header is not a JSON object");
  const h = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if ("__metadata__" in h) {
    const m = h.__metadata__;
    if (!isObject(m)) fail(`__metadata__ must be an object of strings`);
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== "string") fail(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata[k] = v as string;
    }
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(h)) {
    if (name === "__metadata__") continue;
    if (!isObject(raw)) fail(`entry ${name} is not an object`);
    const e = raw as Record<string, unknown>;
    if (e.dtype !== "F32") {
      fail(`tensor ${name} has dtype ${JSON.stringify(e.dtype)}; psvit reads only F32 (float32) weights`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${name} has a bad shape ${JSON.stringify(shape)} (a list of non-negative integers)`);
    }
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offs[0] > offs[1]
    ) {
      fail(`tensor ${name} has bad data_offsets ${JSON.stringify(offs)} (two integers, begin ≤ end)`);
    }
    const [begin, end] = offs as number[];
    const want = size(shape as number[]) * 4;
    if (end - begin !== want) {
      fail(
        `tensor ${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape}] of F32 needs ${want}`,
      );
    }
    if (end > dataLen) {
      fail(`tensor ${name}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes)`);
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const [i, e] of entries.entries()) {
    if (e.begin < expected) {
      fail(`tensors ${entries[i - 1].name} and ${e.name} overlap (byte ${e.begin} < ${expected})`);
    }
    if (e.begin > expected)
      fail(`gap in the data before tensor ${e.name} (bytes ${expected}..${e.begin} unused)`);
    expected = e.end;
  }
  if (expected !== dataLen) {
    fail(`${dataLen - expected} bytes of data after the last tensor are not described by the header`);
  }
  const tensors = new Map<string, StTensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / 4;
    const data = new Float32Array(count);
    const at = dataStart + e.begin;
    if (LITTLE_ENDIAN) {
      new Uint8Array(data.buffer).set(bytes.subarray(at, at + 4 * count));
    } else {
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { metadata, tensors };
}

export async function readSafetensors(file: string): Promise<StFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DataError(`cannot read weights file (${errCode(e)})`, file);
  }
  return decodeSafetensors(bytes, file);
}

/** Write atomically: to a temporary file next to `file`, then rename over it. */
export async function writeSafetensors(
  file: string,
  tensors: Iterable<[string, StTensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
