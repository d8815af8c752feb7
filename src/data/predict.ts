/**
 * Images for `predict`: PNG/JPEG files of any sizes and channel counts, each fitted to the model's
 * input (the policy of in-memory data, fit.ts) and normalised with the config's `preprocess` (SPEC §1).
 */
import { fitImages } from "./fit.js";
import { decodeImageFile } from "./folder.js";
import { identityPreprocess, normalize } from "./stats.js";
import type { Preprocess } from "./types.js";

export interface ModelImage {
  size: number;
  channels: number;
}

/** Decode, fit and normalise `files` into one NHWC Float32Array batch. Errors name the file. */
export async function loadImagesForModel(
  files: string[],
  image: ModelImage,
  preprocess: Preprocess = identityPreprocess(image.channels),
): Promise<{ x: Float32Array; n: number; shape: [number, number, number, number] }> {
  const per = image.size * image.size * image.channels;
  const pixels = new Uint8Array(files.length * per);
  for (let i = 0; i < files.length; i++) {
    const d = await decodeImageFile(files[i]);
    const fitted = fitImages(d.data, 1, d.height, d.width, d.channels, image);
    pixels.set(fitted.images, i * per);
  }
  return {
    x: normalize(pixels, image.channels, preprocess),
    n: files.length,
    shape: [files.length, image.size, image.size, image.channels],
  };
}
