/**
 * The artifact store a driver and its queue workers share (`--artifacts DIR`, a shared filesystem):
 * inputs named by content, `DIR/sha256/<64 hex><ext>`. The driver publishes a file once (copied under
 * a temporary name, then renamed, so a worker never sees half a file); a worker opens it by its hash
 * and refuses it when the bytes hash to anything else.
 *
 *   DIR/sha256/3f…9a.safetensors   a supernet checkpoint (SPEC §4 with the checkpoint metadata)
 *   DIR/sha256/b7…01.fitset        a search's fitness set (safetensors: x [n,H,W,C], y [n])
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { encodeIdx, parseIdx } from "../data/idx.js";
import type { Dataset } from "../data/types.js";
import { UsageError } from "../errors.js";
import type { FitnessSet } from "../eval/fitness.js";
import { decodeSafetensors, encodeSafetensors } from "../weights/safetensors.js";

export interface ArtifactRef {
  sha256: string;
  /** The file name's ending (`.safetensors`, `.fitset`). */
  ext: string;
  bytes: number;
  /** What it is, for messages (`supernet checkpoint`). */
  what: string;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function artifactPath(dir: string, ref: Pick<ArtifactRef, "sha256" | "ext">): string {
  return join(resolve(dir), "sha256", `${ref.sha256}${ref.ext}`);
}

export function checkArtifactsDir(dir: string): void {
  if (!existsSync(dir)) {
    throw new UsageError(`--artifacts ${dir}: no such folder (the folder driver and workers share)`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`--artifacts ${dir}: not a folder`);
}

/** Put `bytes` into the store (once: an existing file of that hash is kept). */
export function publishBytes(dir: string, bytes: Uint8Array, ext: string, what: string): ArtifactRef {
  checkArtifactsDir(dir);
  const ref = { sha256: sha256(bytes), ext, bytes: bytes.length, what };
  const dest = artifactPath(dir, ref);
  if (!existsSync(dest) || statSync(dest).size !== bytes.length) {
    mkdirSync(join(resolve(dir), "sha256"), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, dest);
  }
  return ref;
}

/** Put the file `file` into the store. */
export function publishFile(dir: string, file: string, ext: string, what: string): ArtifactRef {
  checkArtifactsDir(dir);
  const bytes = readFileSync(file);
  const ref = { sha256: sha256(bytes), ext, bytes: bytes.length, what };
  const dest = artifactPath(dir, ref);
  if (!existsSync(dest) || statSync(dest).size !== bytes.length) {
    mkdirSync(join(resolve(dir), "sha256"), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    try {
      copyFileSync(file, tmp);
      renameSync(tmp, dest);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return ref;
}

/** Files this process has verified (path → size and mtime when it did): hashed once, not per job. */
const verified = new Map<string, string>();

/** The path of `ref` in the store, its content checked against its hash. */
export function openArtifact(dir: string, ref: ArtifactRef): string {
  const file = artifactPath(dir, ref);
  if (!existsSync(file)) {
    throw new UsageError(
      `the ${ref.what} sha256:${ref.sha256.slice(0, 12)}… is not in ${resolve(dir)} (${file}): does this worker's --artifacts name the folder the driver publishes to?`,
    );
  }
  const st = statSync(file);
  const stamp = `${st.size}:${st.mtimeMs}`;
  if (verified.get(file) !== stamp) {
    const actual = sha256(readFileSync(file));
    if (actual !== ref.sha256) {
      throw new UsageError(
        `${file}: its content hashes to sha256:${actual.slice(0, 12)}…, not the ${ref.what}'s sha256:${ref.sha256.slice(0, 12)}…: the file was changed or damaged; delete it and let the driver publish it again`,
      );
    }
    verified.set(file, stamp);
  }
  return file;
}

/** A dataset in the store: its images and labels as IDX files (u8; labels of at most 256 classes). */
export interface DatasetRef {
  images: ArtifactRef;
  labels: ArtifactRef;
  numClasses: number;
  classNames?: string[];
  source: string;
}

export function publishDataset(dir: string, ds: Dataset, what: string): DatasetRef {
  if (ds.numClasses > 256) {
    throw new UsageError(
      `${what}: ${ds.numClasses} classes do not fit the queue's u8 IDX labels (at most 256)`,
    );
  }
  const { n, height: H, width: W, channels: C } = ds;
  return {
    images: publishBytes(dir, encodeIdx([n, H, W, C], ds.images), ".idx", `${what} images`),
    labels: publishBytes(dir, encodeIdx([n], Uint8Array.from(ds.labels)), ".idx", `${what} labels`),
    numClasses: ds.numClasses,
    ...(ds.classNames ? { classNames: ds.classNames } : {}),
    source: ds.source,
  };
}

export function openDataset(dir: string, ref: DatasetRef): Dataset {
  const imagesFile = openArtifact(dir, ref.images);
  const labelsFile = openArtifact(dir, ref.labels);
  const images = parseIdx(readFileSync(imagesFile), imagesFile);
  const labels = parseIdx(readFileSync(labelsFile), labelsFile);
  const [n, height, width, channels] = images.dims;
  return {
    images: images.data,
    labels: labels.data,
    n,
    height,
    width,
    channels,
    numClasses: ref.numClasses,
    ...(ref.classNames ? { classNames: ref.classNames } : {}),
    source: ref.source,
  };
}

const FITSET_KEY = "psvit.fitness-set";

/** A fitness set as bytes (safetensors, float32: images and labels; labels are small integers). */
export function encodeFitnessSet(set: FitnessSet): Uint8Array {
  const { n, height: H, width: W, channels: C } = set;
  return encodeSafetensors(
    [
      ["x", { shape: [n, H, W, C], data: set.x }],
      ["y", { shape: [n], data: Float32Array.from(set.y) }],
    ],
    { [FITSET_KEY]: JSON.stringify({ version: 1, numClasses: set.numClasses }) },
  );
}

export function decodeFitnessSet(bytes: Uint8Array, file?: string): FitnessSet {
  const st = decodeSafetensors(bytes, file);
  const meta = st.metadata[FITSET_KEY];
  const x = st.tensors.get("x");
  const y = st.tensors.get("y");
  if (!meta || !x || !y || x.shape.length !== 4 || y.shape.length !== 1 || x.shape[0] !== y.shape[0]) {
    throw new UsageError(`${file ?? "fitness set"}: not a psvit fitness set`);
  }
  const [n, height, width, channels] = x.shape;
  return {
    x: x.data,
    y: Int32Array.from(y.data),
    n,
    height,
    width,
    channels,
    numClasses: (JSON.parse(meta) as { numClasses: number }).numClasses,
  };
}
