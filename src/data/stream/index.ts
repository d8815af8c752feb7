/**
 * The index of an image folder (`DIR/<class>/…`, sub-folders searched recursively as torchvision's
 * ImageFolder does): class names in sorted order, every image's path and label, listed once. It is
 * cached (in the run directory) with the modification time of every folder it read, and reused only
 * while they are all unchanged — adding, removing or renaming a file changes its folder's mtime.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, relative } from "node:path";
import { DataError } from "../../errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { errCode } from "../idx.js";
import { STREAM_EXTENSIONS } from "./decode.js";

export interface FolderIndex {
  kind: "psvit.folder-index";
  version: 1;
  root: string;
  classNames: string[];
  /** Image paths relative to `root`, class by class, sorted within each. */
  files: string[];
  labels: number[];
  /** Every folder listed, with its mtime: the cache is valid while all are unchanged. */
  dirs: Array<{ path: string; mtimeMs: number }>;
  /** Files that are not .png, .jpg, .jpeg or .webp, skipped. */
  skipped: { count: number; first?: string };
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function entries(dir: string) {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith("."));
  } catch (e) {
    throw new DataError(`cannot read folder (${errCode(e)})`, dir);
  }
}

/** List `root`'s class folders and their images. */
export async function buildFolderIndex(root: string): Promise<FolderIndex> {
  const dirs: FolderIndex["dirs"] = [];
  const skipped: FolderIndex["skipped"] = { count: 0 };
  const mtime = async (d: string) =>
    dirs.push({ path: relative(root, d) || ".", mtimeMs: (await stat(d)).mtimeMs });
  await mtime(root);
  const classNames = (await entries(root))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort(byName);
  if (classNames.length === 0)
    throw new DataError("no class sub-folders (expected one folder per class)", root);
  if (classNames.length < 2)
    throw new DataError(
      `only one class sub-folder (${classNames[0]}): a classifier needs at least 2 classes`,
      root,
    );
  const files: string[] = [];
  const labels: number[] = [];
  const walk = async (d: string, label: number) => {
    await mtime(d);
    const list = (await entries(d)).sort((a, b) => byName(a.name, b.name));
    for (const e of list) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, label);
      else if (e.isFile() && STREAM_EXTENSIONS.includes(extname(e.name).toLowerCase())) {
        files.push(relative(root, p));
        labels.push(label);
      } else if (e.isFile()) {
        skipped.count++;
        skipped.first ??= p;
      }
    }
  };
  for (const [label, name] of classNames.entries()) {
    const before = files.length;
    await walk(join(root, name), label);
    if (files.length === before)
      throw new DataError("empty class folder: no .png, .jpg, .jpeg or .webp images", join(root, name));
  }
  return { kind: "psvit.folder-index", version: 1, root, classNames, files, labels, dirs, skipped };
}

async function stillValid(index: FolderIndex, root: string): Promise<boolean> {
  if (index.kind !== "psvit.folder-index" || index.version !== 1 || index.root !== root) return false;
  for (const d of index.dirs) {
    const st = await stat(join(root, d.path)).catch(() => null);
    if (!st || st.mtimeMs !== d.mtimeMs) return false;
  }
  return true;
}

/**
 * The index of `root`: from `cacheFile` when it is there and every folder it lists is unchanged, else
 * listed again (and written to `cacheFile`, atomically).
 */
export async function folderIndex(
  root: string,
  cacheFile?: string,
): Promise<{ index: FolderIndex; cached: boolean }> {
  if (cacheFile) {
    const text = await readFile(cacheFile, "utf8").catch(() => null);
    if (text !== null) {
      try {
        const index = JSON.parse(text) as FolderIndex;
        if (await stillValid(index, root)) return { index, cached: true };
      } catch {
        // a damaged cache is listed again
      }
    }
  }
  const index = await buildFolderIndex(root);
  if (cacheFile) await writeFileAtomic(cacheFile, new TextEncoder().encode(JSON.stringify(index)));
  return { index, cached: false };
}
