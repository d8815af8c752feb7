/**
 * Decoding PNG and JPEG files at their own size (greyscale 1 channel, colour 3, alpha dropped) with
 * sharp, for `psvit predict`, which fits each image to the model by the data layer's policy
 * (src/data/fit.ts). Folder datasets are streamed and transformed instead (src/data/stream).
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import sharp, { type OutputInfo } from "sharp";
import { DataError } from "../errors.js";
import { errCode } from "./idx.js";
import { sniffFormat } from "./stream/decode.js";

export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg"];

sharp.cache(false);

export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Decode one PNG or JPEG file to 8-bit HWC pixels (alpha dropped). Errors name the file. */
export async function decodeImageFile(file: string): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new DataError(`cannot read image (${errCode(err)})`, file);
  }
  return decodeImage(bytes, file);
}

/** Decode PNG or JPEG bytes. `file` is for messages only. */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<DecodedImage> {
  if (bytes.length === 0) throw new DataError("unreadable image: empty file", file);
  const format = sniffFormat(bytes);
  if (format !== "png" && format !== "jpeg")
    throw new DataError("unreadable image: not a PNG or JPEG file (unrecognised signature)", file);
  try {
    const img = sharp(bytes, { failOn: "warning" });
    const meta = await img.metadata();
    const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    // libvips converts to sRGB on output; keep greyscale images greyscale.
    const pipeline = grey ? img.removeAlpha().toColourspace("b-w") : img.removeAlpha();
    const { data, info } = await pipeline.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) {
      throw new DataError(
        `unsupported image: ${info.channels} channels after decoding (expected 1 or 3)`,
        file,
      );
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), ...pick(info) };
  } catch (err) {
    if (err instanceof DataError) throw err;
    const msg = (err as Error).message.split("\n")[0].trim();
    throw new DataError(`unreadable image: ${msg}`, file);
  }
}

function pick(info: OutputInfo): { width: number; height: number; channels: number } {
  return { width: info.width, height: info.height, channels: info.channels };
}

/** Is `name` an image file psvit reads (by its extension)? */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}
