/**
 * Image folders: one sub-folder per class (sorted by name; the class index is the position in that
 * order), PNG and JPEG files inside, decoded with sharp (libvips). Either `DIR/<class>/*` or, when
 * DIR's sub-folders are only `train`, `val` and `test`, `DIR/train/<class>/*` (+ optional
 * `DIR/val/<class>/*`, `DIR/test/<class>/*`).
 *
 * A folder dataset has at least 2 classes. Every image of it must have the same width, height and
 * channel count (greyscale 1, colour 3; an alpha channel is dropped; `checkSameShape`, the rule
 * `predict` applies to a folder too); the whole set is then fitted to the model's input size. Files
 * that are not .png, .jpg or .jpeg are skipped, with one warning that counts them.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import sharp, { type OutputInfo } from "sharp";
import { DataError } from "../errors.js";
import { log } from "../util/log.js";
import { errCode } from "./idx.js";
import type { Dataset } from "./types.js";

export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg"];
const SPLIT_NAMES = ["train", "val", "test"] as const;
const DECODE_CONCURRENCY = 8;

sharp.cache(false);

export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

function sniff(bytes: Uint8Array): "png" | "jpeg" | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return "png";
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return undefined;
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
  if (!sniff(bytes))
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

async function listDir(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new DataError(`cannot read folder (${errCode(err)})`, dir);
  }
  const visible = entries.filter((e) => !e.name.startsWith("."));
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    dirs: visible
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(byName),
    files: visible
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort(byName),
  };
}

/** Is `name` an image file psvit reads (by its extension)? */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Files skipped while reading a folder dataset: not .png, .jpg or .jpeg. */
interface Skipped {
  count: number;
  first?: string;
}

/** Class folders of `dir` and their image files, in sorted order; other files are counted in `skipped`. */
async function scanClasses(
  dir: string,
  skipped: Skipped,
): Promise<{ classNames: string[]; files: string[][] }> {
  const { dirs } = await listDir(dir);
  if (dirs.length === 0) throw new DataError("no class sub-folders (expected one folder per class)", dir);
  const files: string[][] = [];
  for (const name of dirs) {
    const cdir = join(dir, name);
    const all = (await listDir(cdir)).files;
    const list = all.filter(isImageFile);
    for (const f of all) {
      if (isImageFile(f)) continue;
      skipped.count++;
      skipped.first ??= join(cdir, f);
    }
    if (list.length === 0) throw new DataError("empty class folder: no .png, .jpg or .jpeg images", cdir);
    files.push(list.map((f) => join(cdir, f)));
  }
  return { classNames: dirs, files };
}

/**
 * The rule for every set of images psvit reads as one (a folder dataset, `predict`'s folder): all of
 * the same width, height and channel count as the first. Throws a DataError naming the odd file.
 */
export function checkSameShape(d: DecodedImage, file: string, first: DecodedImage, firstFile: string): void {
  if (d.width !== first.width || d.height !== first.height || d.channels !== first.channels) {
    throw new DataError(
      `mixed image sizes or channels: ${d.width}x${d.height}x${d.channels} differs from ` +
        `${first.width}x${first.height}x${first.channels} of ${firstFile} (all images must match)`,
      file,
    );
  }
}

async function decodeAll(files: string[]): Promise<DecodedImage[]> {
  const out: DecodedImage[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      out[i] = await decodeImageFile(files[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, files.length) }, worker));
  return out;
}

/** Read one `<class>/*` folder into a Dataset; `expectClasses` checks the class list of a split. */
export async function readClassFolder(
  dir: string,
  expectClasses?: string[],
  expectFrom?: string,
  skipped: Skipped = { count: 0 },
): Promise<Dataset> {
  const { classNames, files } = await scanClasses(dir, skipped);
  if (!expectClasses && classNames.length < 2) {
    throw new DataError(
      `only one class sub-folder (${classNames[0]}): a classifier needs at least 2 classes, one folder each`,
      dir,
    );
  }
  if (expectClasses && classNames.join("\n") !== expectClasses.join("\n")) {
    throw new DataError(
      `class folders [${classNames.join(", ")}] differ from those of ${expectFrom} [${expectClasses.join(", ")}]`,
      dir,
    );
  }
  const flat = files.flat();
  const decoded = await decodeAll(flat);
  const first = decoded[0];
  const per = first.width * first.height * first.channels;
  const images = new Uint8Array(flat.length * per);
  const labels = new Uint16Array(flat.length);
  let i = 0;
  for (let c = 0; c < files.length; c++) {
    for (let k = 0; k < files[c].length; k++, i++) {
      const d = decoded[i];
      checkSameShape(d, flat[i], first, flat[0]);
      images.set(d.data, i * per);
      labels[i] = c;
    }
  }
  return {
    images,
    labels,
    n: flat.length,
    height: first.height,
    width: first.width,
    channels: first.channels,
    numClasses: classNames.length,
    classNames,
    source: dir,
  };
}

/**
 * Read an image-folder dataset. Returns the given splits: `val` and `test` only when the folder has
 * the `train/val/test` layout and those sub-folders exist.
 */
export async function readImageFolder(
  dir: string,
): Promise<{ train: Dataset; val?: Dataset; test?: Dataset }> {
  const { dirs } = await listDir(dir);
  const isSplitLayout =
    dirs.includes("train") && dirs.every((d) => (SPLIT_NAMES as readonly string[]).includes(d));
  const skipped: Skipped = { count: 0 };
  const warnSkipped = () => {
    if (skipped.count === 0) return;
    log().warn(
      `${dir}: ${skipped.count} file(s) that are not .png, .jpg or .jpeg images skipped (the first: ${skipped.first})`,
    );
  };
  if (!isSplitLayout) {
    const train = await readClassFolder(dir, undefined, undefined, skipped);
    warnSkipped();
    return { train };
  }
  const trainDir = join(dir, "train");
  const train = await readClassFolder(trainDir, undefined, undefined, skipped);
  const names = train.classNames!;
  const split = (name: string) => readClassFolder(join(dir, name), names, trainDir, skipped);
  const val = dirs.includes("val") ? await split("val") : undefined;
  const test = dirs.includes("test") ? await split("test") : undefined;
  warnSkipped();
  for (const s of [val, test]) {
    if (s && (s.width !== train.width || s.height !== train.height || s.channels !== train.channels)) {
      throw new DataError(
        `mixed image sizes or channels: ${s.width}x${s.height}x${s.channels} differs from the training images ` +
          `${train.width}x${train.height}x${train.channels}`,
        s.source,
      );
    }
  }
  return { train, val, test };
}
