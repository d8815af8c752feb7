/**
 * psvit's native JPEG path (native/jpeg.c, built by `npm run build` where libjpeg-turbo's TurboJPEG
 * library is installed): decode, EXIF orientation, crop and resize with Pillow's antialiased bilinear
 * arithmetic, on libuv's thread pool. Where it is not built, or PSVIT_NATIVE_JPEG=0, image folders
 * decode with sharp (./decode.ts) as before; a JPEG it refuses (CMYK, a truncated file) goes to sharp.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { CropPlan } from "./transforms.js";
import { evalResizeCrop } from "./transforms.js";

interface Addon {
  decode(
    bytes: Uint8Array,
    channels: number,
    orientation: number,
    geometry: Float64Array,
    flip: boolean,
    callback: (err: Error | undefined, pixels: Buffer | undefined) => void,
    sink?: Float32Array,
    sinkOffset?: number,
    lut?: Float32Array,
  ): void;
}

/** Where a decode writes normalised floats instead of returning bytes: x[offset …] = lut[c·256 + v]. */
export interface FloatSink {
  x: Float32Array;
  offset: number;
  /** 256 values per channel (src/data/kernels.ts buildLut). */
  lut: Float32Array;
}

let addon: Addon | null | undefined;
let loadError: string | undefined;

function load(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.PSVIT_NATIVE_JPEG === "0") {
    loadError = "PSVIT_NATIVE_JPEG=0";
    return addon;
  }
  // dist/native/ beside dist/data/stream/, also when this module runs from src/ (tests)
  for (const rel of ["../../native/psvit_jpeg.node", "../../../dist/native/psvit_jpeg.node"]) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      addon = createRequire(import.meta.url)(file) as Addon;
      return addon;
    } catch (e) {
      loadError = (e as Error).message.split("\n")[0];
      return addon;
    }
  }
  loadError = "not built (npm run build needs libjpeg-turbo's TurboJPEG: Debian libturbojpeg0-dev)";
  return addon;
}

/** Which decoder JPEGs of an image folder go through, and why when it is not the native one. */
export function jpegDecoder(): { name: "turbojpeg" | "libvips"; why?: string } {
  return load() ? { name: "turbojpeg" } : { name: "libvips", why: loadError };
}

/** One axis of a resize: source [in0, in1) to outSize pixels, outputs [o0, o0 + n), reading [lo, hi). */
export interface ResampleAxis {
  in0: number;
  in1: number;
  outSize: number;
  o0: number;
  n: number;
  lo: number;
  hi: number;
}

/**
 * The two axes for psvit's transforms on an oriented H×W image: a RandomResizedCrop's rectangle resized
 * to size×size (reading the rectangle only, as torchvision's crop-then-resize does), or the eval
 * transform (the whole image resized so its shorter side is size/0.875, the centre size×size kept).
 */
export function resampleAxes(
  height: number,
  width: number,
  size: number,
  plan?: CropPlan,
): { x: ResampleAxis; y: ResampleAxis; flip: boolean } {
  if (plan) {
    const axis = (start: number, len: number): ResampleAxis => ({
      in0: start,
      in1: start + len,
      outSize: size,
      o0: 0,
      n: size,
      lo: start,
      hi: start + len,
    });
    return { x: axis(plan.left, plan.width), y: axis(plan.top, plan.height), flip: plan.flip };
  }
  const e = evalResizeCrop(height, width, size);
  const axis = (len: number, out: number, o0: number): ResampleAxis => ({
    in0: 0,
    in1: len,
    outSize: out,
    o0,
    n: size,
    lo: 0,
    hi: len,
  });
  return { x: axis(width, e.resizeW, e.crop.left), y: axis(height, e.resizeH, e.crop.top), flip: false };
}

const flat = (a: ResampleAxis) => [a.in0, a.in1, a.outSize, a.o0, a.n, a.lo, a.hi];

/**
 * Decode a JPEG to n_y × n_x × channels uint8 (HWC) with the native decoder, or normalised into `sink`
 * (the promise then holds undefined); null when it is not built.
 * Rejects when libjpeg-turbo refuses the file or warns about it (the caller then asks sharp, whose
 * message names what is wrong).
 */
export function decodeJpegNative(
  bytes: Uint8Array,
  channels: 1 | 3,
  orientation: number,
  axes: { x: ResampleAxis; y: ResampleAxis },
  flip: boolean,
  sink?: FloatSink,
): Promise<Uint8Array | undefined> | null {
  const a = load();
  if (!a) return null;
  const geometry = new Float64Array([...flat(axes.x), ...flat(axes.y)]);
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, pixels: Buffer | undefined) => {
      if (err) reject(err);
      else resolve(pixels && new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length));
    };
    if (sink) a.decode(bytes, channels, orientation, geometry, flip, done, sink.x, sink.offset, sink.lut);
    else a.decode(bytes, channels, orientation, geometry, flip, done);
  });
}
