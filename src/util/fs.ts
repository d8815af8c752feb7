/**
 * Files written so that a reader never sees half of one: to a temporary file beside the target (named by
 * ./debris.ts, which cleans up the ones a kill leaves behind), then renamed over it.
 */
import { rename, rm, writeFile } from "node:fs/promises";
import { DataError, FileSystemError } from "../errors.js";
import { tempFileFor } from "./debris.js";

/** The error code of a Node.js file-system error (ENOENT, EACCES, …), or its message. */
export function errCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOENT") return "no such file";
  if (e.code === "EISDIR") return "is a directory";
  return e.code ?? e.message;
}

/**
 * Write `file` atomically: to a temporary file beside it, then rename over it. A file-system failure
 * (a read-only or missing directory, a full disk) is a FileSystemError naming `file`.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempFileFor(file);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw (
      FileSystemError.from(e, { path: file, action: "write" }) ??
      new DataError(`cannot write file (${errCode(e)})`, file)
    );
  }
}
