/**
 * psvit's native JPEG path (native/jpeg.c via src/data/stream/native.ts) against torchvision's own
 * arithmetic: Pillow (Debian python3-pil) decoding the same files and running the same crops and
 * resizes (test/data/fixtures/pil_transforms.py) — bit for bit, for RandomResizedCrop rectangles of every
 * kind (downscaled, upscaled, one pixel, the whole image, flipped), the eval transform, RGB and grey,
 * 4:2:0 / 4:4:4 / progressive / grey JPEGs, every EXIF orientation and degenerate sizes. Then what it
 * refuses goes to sharp (CMYK, truncated files), bad arguments are refused, and its buffers are freed.
 *
 * The native decoder is required here: `npm run build` builds it where libjpeg-turbo's TurboJPEG is
 * installed (.ci/run installs libturbojpeg0-dev). With PSVIT_NATIVE_JPEG=0 set for the whole suite,
 * the native decoder's tests are skipped (the last test checks that setting in a process of its own).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeInto, decodeToInput } from "../../src/data/stream/decode.js";
import { jpegDecoder, resampleAxes } from "../../src/data/stream/native.js";
import { evalResizeCrop, IMAGENET_TRAIN, randomResizedCrop } from "../../src/data/stream/transforms.js";
import { DataError } from "../../src/errors.js";
import { Rng } from "../../src/util/rng.js";
import { ROOT, tempDir } from "../helpers.js";

const PYTHON = "/usr/bin/python3";
const PIL_SCRIPT = join(ROOT, "test/data/fixtures/pil_transforms.py");
const disabled = process.env.PSVIT_NATIVE_JPEG === "0";

/** A smooth random picture (what a JPEG encoder sees in photographs), w×h×c. */
function picture(w: number, h: number, c: 1 | 3, seed: number): Buffer {
  const rng = new Rng(seed);
  const waves = Array.from({ length: 3 * c }, () => [
    rng.float() * 0.05,
    rng.float() * 0.05,
    rng.float() * 6,
  ]);
  const px = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        let v = 0;
        for (let i = 0; i < 3; i++) {
          const [fx, fy, ph] = waves[k * 3 + i];
          v += Math.sin(x * fx + y * fy + ph);
        }
        px[(y * w + x) * c + k] = Math.max(
          0,
          Math.min(255, Math.round(128 + 40 * v + (rng.float() - 0.5) * 30)),
        );
      }
  return px;
}

interface Fixture {
  file: string;
  /** size after EXIF orientation */
  height: number;
  width: number;
}

let dir: string;
const fixtures: Record<string, Fixture> = {};

async function jpeg(
  name: string,
  w: number,
  h: number,
  c: 1 | 3,
  opts: { orientation?: number; progressive?: boolean; subsampling?: string } = {},
): Promise<void> {
  let img = sharp(picture(w, h, c, w * 31 + h), { raw: { width: w, height: h, channels: c } });
  img = img.jpeg({
    quality: 90,
    progressive: opts.progressive ?? false,
    chromaSubsampling: opts.subsampling ?? "4:2:0",
  });
  if (opts.orientation) img = img.withMetadata({ orientation: opts.orientation });
  const file = join(dir, `${name}.jpg`);
  writeFileSync(file, await img.toBuffer());
  const turned = (opts.orientation ?? 1) >= 5;
  fixtures[name] = { file, height: turned ? w : h, width: turned ? h : w };
}

beforeAll(async () => {
  dir = tempDir();
  await jpeg("landscape-420", 500, 375, 3);
  await jpeg("portrait-444", 333, 500, 3, { subsampling: "4:4:4" });
  await jpeg("progressive", 640, 427, 3, { progressive: true });
  await jpeg("grey", 301, 203, 1);
  await jpeg("one-pixel", 1, 1, 3);
  await jpeg("strip", 1500, 3, 3);
  for (let o = 1; o <= 8; o++) await jpeg(`exif-${o}`, 97, 61, 3, { orientation: o });
}, 60_000);

interface Case {
  file: string;
  channels: 1 | 3;
  size: number;
  mode: "train" | "eval";
  top: number;
  left: number;
  height?: number;
  width?: number;
  flip?: boolean;
  resizeH?: number;
  resizeW?: number;
}

function pil(cases: Case[]): Uint8Array[] {
  const out = execFileSync(PYTHON, [PIL_SCRIPT], { input: JSON.stringify(cases), maxBuffer: 1 << 28 });
  return (JSON.parse(out.toString()) as string[]).map((b) => new Uint8Array(Buffer.from(b, "base64")));
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(disabled)("native JPEG decoder", () => {
  it("is built and chosen (npm run build with libturbojpeg0-dev; PSVIT_NATIVE_JPEG=0 turns it off)", () => {
    expect(jpegDecoder()).toEqual({ name: "turbojpeg" });
  });

  it("equals Pillow (torchvision's arithmetic) bit for bit: crops, eval, RGB and grey, every kind of JPEG", async () => {
    const rng = new Rng(5);
    const cases: Case[] = [];
    const mine: Uint8Array[] = [];
    for (const f of Object.values(fixtures)) {
      for (const channels of [3, 1] as const) {
        for (const size of [224, 32, 7]) {
          const { height: H, width: W } = f;
          const rects = [
            randomResizedCrop(H, W, rng, { ...IMAGENET_TRAIN, flipProb: 0.5 }),
            randomResizedCrop(H, W, rng, { scale: [0.001, 0.01], ratio: [0.5, 2], flipProb: 1 }), // upscaled
            { top: 0, left: 0, height: H, width: W, flip: false }, // the whole image
            { top: H - 1, left: W - 1, height: 1, width: 1, flip: true }, // one pixel
          ];
          for (const r of rects) {
            mine.push(await decodeToInput(f.file, { size, channels }, () => r));
            cases.push({ file: f.file, channels, size, mode: "train", ...r });
          }
          mine.push(await decodeToInput(f.file, { size, channels }));
          const e = evalResizeCrop(H, W, size);
          cases.push({
            file: f.file,
            channels,
            size,
            mode: "eval",
            top: e.crop.top,
            left: e.crop.left,
            resizeH: e.resizeH,
            resizeW: e.resizeW,
          });
        }
      }
    }
    const ref = pil(cases);
    const bad = cases
      .map((c, i) => ({ c, d: maxDiff(mine[i], ref[i]) }))
      .filter((x) => x.d !== 0)
      .map((x) => `${JSON.stringify(x.c)}: max |diff| ${x.d}`);
    expect(bad, bad.slice(0, 5).join("\n")).toEqual([]);
    expect(cases.length).toBe(420); // 14 files × 2 channel counts × 3 sizes × (4 crops + eval)
  }, 120_000);

  it("a CMYK JPEG goes to sharp (libjpeg-turbo converts no CMYK to RGB) and decodes as sharp does", async () => {
    const file = join(dir, "cmyk.jpg");
    const rgb = sharp(picture(64, 48, 3, 9), { raw: { width: 64, height: 48, channels: 3 } });
    writeFileSync(file, await rgb.toColourspace("cmyk").jpeg().toBuffer());
    expect((await sharp(file).metadata()).space).toBe("cmyk");
    const plan = () => ({ top: 4, left: 6, height: 30, width: 40, flip: false });
    const got = await decodeToInput(file, { size: 16, channels: 3 }, plan);
    const viaSharp = execFileSync(process.execPath, [
      "--input-type=module",
      "-e",
      `process.env.PSVIT_NATIVE_JPEG = "0";
       const { decodeToInput } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/decode.js"))});
       const px = await decodeToInput(${JSON.stringify(file)}, { size: 16, channels: 3 }, () => ({ top: 4, left: 6, height: 30, width: 40, flip: false }));
       process.stdout.write(Buffer.from(px).toString("base64"));`,
    ]).toString();
    expect(Buffer.from(got).toString("base64")).toBe(viaSharp);
  });

  it("a truncated or damaged JPEG is named by sharp's message, as before", async () => {
    const whole = await sharp(picture(200, 150, 3, 4), { raw: { width: 200, height: 150, channels: 3 } })
      .jpeg()
      .toBuffer();
    const cut = join(dir, "cut.jpg");
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await decodeToInput(cut, { size: 8, channels: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain("cut.jpg");
    expect(err.message).toContain("unreadable image");
  });

  it("refuses bad arguments with a TypeError naming the call", () => {
    const addon = createRequire(import.meta.url)(join(ROOT, "dist/native/psvit_jpeg.node"));
    const g = new Float64Array(14);
    expect(() => addon.decode(new Uint8Array(4), 3, 1, g, false)).toThrow(
      "decode: 6 or 9 arguments expected",
    );
    expect(() => addon.decode([1, 2], 3, 1, g, false, () => {})).toThrow("bytes must be a Uint8Array");
    expect(() => addon.decode(new Uint8Array(4), 3, 1, new Float64Array(3), false, () => {})).toThrow(
      "geometry must be a Float64Array of 14",
    );
    expect(() => addon.decode(new Uint8Array(4), 2, 1, g, false, () => {})).toThrow(
      "bad channels or geometry",
    );
    const ok = new Float64Array([0, 4, 4, 0, 4, 0, 4, 0, 4, 4, 0, 4, 0, 4]); // 4×4 out of a 4×4 image
    const lut = new Float32Array(768);
    const cb = () => {};
    const u8 = new Uint8Array(4);
    expect(() => addon.decode(u8, 3, 1, ok, false, cb, new Float32Array(47), 0, lut)).toThrow(
      "the sink is too small",
    );
    expect(() => addon.decode(u8, 3, 1, ok, false, cb, new Float32Array(96), 49, lut)).toThrow(
      "the sink is too small",
    );
    expect(() =>
      addon.decode(u8, 3, 1, ok, false, cb, new Float32Array(48), 0, new Float32Array(256)),
    ).toThrow("lut is not 256 x channels");
    expect(() => addon.decode(u8, 3, 1, ok, false, cb, [0], 0, lut)).toThrow(
      "sink and lut must be Float32Arrays",
    );
  });

  it("normalises into a batch slot through the table: the same values as the bytes looked up", async () => {
    const f = fixtures["portrait-444"];
    for (const channels of [3, 1] as const) {
      const lut = Float32Array.from(
        { length: 256 * channels },
        (_, i) => (i % 256) / 255 - 0.3 * Math.floor(i / 256),
      );
      const per = 32 * 32 * channels;
      const x = new Float32Array(3 * per).fill(Number.NaN);
      const plan = () => ({ top: 10, left: 20, height: 200, width: 150, flip: true });
      const bytes = await decodeToInput(f.file, { size: 32, channels }, plan);
      const r = await decodeInto(f.file, { size: 32, channels }, plan, false, { x, offset: per, lut });
      expect(r).toBeUndefined();
      const want = Float32Array.from(bytes, (v, i) => lut[(i % channels) * 256 + v]);
      expect(x.subarray(per, 2 * per)).toEqual(want);
      expect(x.subarray(0, per).every(Number.isNaN)).toBe(true); // the other slots untouched
      expect(x.subarray(2 * per).every(Number.isNaN)).toBe(true);
    }
  });

  it("frees what it decodes: 3,000 decodes leave the resident set where 300 left it", () => {
    const file = fixtures["landscape-420"].file;
    const script = `
      const { decodeToInput } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/decode.js"))});
      const run = async (n) => { for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, () => decodeToInput(${JSON.stringify(file)}, { size: 224, channels: 3 }))); };
      await run(300); globalThis.gc(); const a = process.memoryUsage().rss;
      await run(3000); globalThis.gc(); const b = process.memoryUsage().rss;
      process.stdout.write(JSON.stringify({ a, b }));`;
    const out = execFileSync(process.execPath, [
      "--expose-gc",
      "--input-type=module",
      "-e",
      script,
    ]).toString();
    const { a, b } = JSON.parse(out);
    // 2,700 more outputs of 150 KB each would be 400 MB if none were freed
    expect((b - a) / 2 ** 20).toBeLessThan(40);
  }, 60_000);
});

describe("resampleAxes", () => {
  it("reads only the crop for a RandomResizedCrop and the whole image for the eval transform", () => {
    const r = resampleAxes(375, 500, 224, { top: 10, left: 20, height: 100, width: 150, flip: true });
    expect(r.x).toEqual({ in0: 20, in1: 170, outSize: 224, o0: 0, n: 224, lo: 20, hi: 170 });
    expect(r.y).toEqual({ in0: 10, in1: 110, outSize: 224, o0: 0, n: 224, lo: 10, hi: 110 });
    expect(r.flip).toBe(true);
    const e = resampleAxes(375, 500, 224);
    const t = evalResizeCrop(375, 500, 224);
    expect(e.x).toEqual({ in0: 0, in1: 500, outSize: t.resizeW, o0: t.crop.left, n: 224, lo: 0, hi: 500 });
    expect(e.y).toEqual({ in0: 0, in1: 375, outSize: t.resizeH, o0: t.crop.top, n: 224, lo: 0, hi: 375 });
  });
});

describe("without the native decoder (PSVIT_NATIVE_JPEG=0)", () => {
  it("says why, and JPEGs decode with sharp", () => {
    const script = `
      const { jpegDecoder } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/native.js"))});
      const { decodeToInput } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/decode.js"))});
      const px = await decodeToInput(${JSON.stringify(fixtures["landscape-420"].file)}, { size: 8, channels: 3 });
      process.stdout.write(JSON.stringify({ decoder: jpegDecoder(), n: px.length }));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, PSVIT_NATIVE_JPEG: "0" },
    }).toString();
    expect(JSON.parse(out)).toEqual({
      decoder: { name: "libvips", why: "PSVIT_NATIVE_JPEG=0" },
      n: 8 * 8 * 3,
    });
  });
});
