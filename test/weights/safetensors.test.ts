import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DataError } from "../../src/errors.js";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type StTensor,
  writeSafetensors,
} from "../../src/weights/safetensors.js";

const dir = mkdtempSync(join(tmpdir(), "psvit-st-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T: [string, StTensor][] = [
  ["a", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) }],
  ["b.bias", { shape: [1], data: Float32Array.from([Math.PI]) }],
  ["empty", { shape: [0, 4], data: new Float32Array(0) }],
];

/** A file from a hand-made header object and data bytes. */
function fileWith(header: unknown, data: Uint8Array, rawHeader?: string): Uint8Array {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header), "utf8");
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);

function expectDataError(bytes: Uint8Array, pattern: RegExp): void {
  let err: unknown;
  try {
    decodeSafetensors(bytes, "w.safetensors");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(/^w\.safetensors: /);
  expect((err as Error).message).toMatch(pattern);
}

describe("safetensors", () => {
  it("round-trips tensors and metadata; header is 8-byte aligned, little-endian", () => {
    const bytes = encodeSafetensors(T, { "psvit.model": '{"x":1}', format: "pt" });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(header.a).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
    expect(header.__metadata__).toEqual({ "psvit.model": '{"x":1}', format: "pt" });
    // raw little-endian float32 at the offsets
    expect(new DataView(bytes.buffer).getFloat32(8 + n + 20, true)).toBe(-6.5);
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ "psvit.model": '{"x":1}', format: "pt" });
    expect([...back.tensors.keys()]).toEqual(["a", "b.bias", "empty"]);
    for (const [name, t] of T) {
      expect(back.tensors.get(name)!.shape).toEqual(t.shape);
      expect(Array.from(back.tensors.get(name)!.data)).toEqual(Array.from(t.data));
    }
  });

  it("writes atomically to a file and reads it back", async () => {
    const file = join(dir, "rt.safetensors");
    await writeSafetensors(file, T, { k: "v" });
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ k: "v" });
    expect(Array.from(back.tensors.get("b.bias")!.data)).toEqual([Math.fround(Math.PI)]);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(readFileSync(file).length).toBeGreaterThan(8);
  });

  it("reads files without metadata, in any offset order", () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const back = decodeSafetensors(
      fileWith(
        {
          y: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
          x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        },
        data,
      ),
    );
    expect(back.metadata).toEqual({});
    expect(Array.from(back.tensors.get("x")!.data)).toEqual([1, 2]);
    expect(Array.from(back.tensors.get("y")!.data)).toEqual([3]);
  });

  it("missing file → DataError", async () => {
    await expect(readSafetensors(join(dir, "nope.safetensors"))).rejects.toThrow(
      /nope\.safetensors: .*no such file/,
    );
  });

  describe("corrupt files → DataError naming the file and the problem", () => {
    const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
    it("too short", () => expectDataError(new Uint8Array(5), /file too short \(5 bytes/));
    it("header length beyond the file", () => {
      const b = fileWith({ x: ok }, f32(2));
      new DataView(b.buffer).setBigUint64(0, 10_000n, true);
      expectDataError(b, /header length 10000 runs past the end/);
    });
    it("header length huge (64-bit)", () => {
      const b = fileWith({ x: ok }, f32(2));
      new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
      expectDataError(b, /runs past the end/);
    });
    it("bad JSON", () => expectDataError(fileWith(null, f32(2), '{"x": {'), /not valid UTF-8 JSON/));
    it("header not an object", () => expectDataError(fileWith([1, 2], f32(0)), /not a JSON object/));
    it("metadata not strings", () =>
      expectDataError(
        fileWith({ __metadata__: { a: 1 }, x: ok }, f32(2)),
        /__metadata__\.a must be a string/,
      ));
    it("dtype not F32", () =>
      expectDataError(
        fileWith({ x: { ...ok, dtype: "F16" } }, f32(2)),
        /tensor x has dtype "F16"; psvit reads only F32/,
      ));
    it("bad shape", () =>
      expectDataError(fileWith({ x: { ...ok, shape: [-1] } }, f32(2)), /tensor x has a bad shape \[-1\]/));
    it("bad offsets", () =>
      expectDataError(fileWith({ x: { ...ok, data_offsets: [8, 0] } }, f32(2)), /bad data_offsets \[8,0\]/));
    it("offsets not matching the shape", () =>
      expectDataError(
        fileWith({ x: { ...ok, shape: [3] } }, f32(2)),
        /tensor x: data_offsets \[0, 8\] hold 8 bytes but shape \[3\] of F32 needs 12/,
      ));
    it("offsets out of range", () =>
      expectDataError(
        fileWith({ x: { ...ok, data_offsets: [4, 12] } }, f32(2)),
        /run past the end of the data \(8 bytes\)/,
      ));
    it("overlapping tensors", () =>
      expectDataError(
        fileWith({ x: ok, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)),
        /tensors x and y overlap/,
      ));
    it("gap between tensors", () =>
      expectDataError(
        fileWith(
          { x: { ...ok, shape: [1], data_offsets: [0, 4] }, y: { ...ok, shape: [1], data_offsets: [8, 12] } },
          f32(3),
        ),
        /gap in the data before tensor y/,
      ));
    it("trailing bytes", () =>
      expectDataError(fileWith({ x: ok }, f32(3)), /4 bytes of data after the last tensor/));
    it("truncated data", () => {
      const good = encodeSafetensors(T);
      expectDataError(good.subarray(0, good.length - 4), /run past the end of the data/);
    });
  });

  it("an unreadable path (a directory) → DataError", async () => {
    writeFileSync(join(dir, "x"), "");
    await expect(readSafetensors(dir)).rejects.toThrow(/is a directory/);
  });
});
