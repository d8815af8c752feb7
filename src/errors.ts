/**
 * Error kinds and their exit codes. This module is pure (no tfjs, no I/O) so every layer can throw
 * user-facing errors; only src/cli/run.ts turns them into exit codes.
 *
 * - PsvitError and its subclasses are the user's fault or the world's (bad flags, bad config, bad
 *   data, missing files): the CLI prints `psvit: <message>` on one line and exits 2.
 * - So are Node's file-system errors (EACCES, EROFS, ENOENT, ENOSPC, … on the user's paths: a
 *   read-only run directory, a missing folder, a full disk): one line naming the path, exit 2
 *   (`fileSystemProblem`).
 * - Anything else is a bug: the CLI prints the stack trace and exits 1.
 */
export class PsvitError extends Error {
  /** Process exit code for this error. */
  readonly exitCode: number = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage: unknown flag, malformed value, missing argument. */
export class UsageError extends PsvitError {}

/** A config file (model, space, recipe) that does not parse or does not validate. */
export class ConfigError extends PsvitError {
  constructor(
    message: string,
    /** The file the problem is in, when there is one. */
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

/** A data file or folder that is missing, truncated, corrupt or inconsistent. */
export class DataError extends PsvitError {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

/** The run was interrupted by a signal after a checkpoint was written (exit 128 + signal). */
export class InterruptedError extends PsvitError {
  override readonly exitCode: number;
  constructor(message: string, signal: "SIGINT" | "SIGTERM") {
    super(message);
    this.exitCode = signal === "SIGINT" ? 130 : 143;
  }
}

/** Another psvit process holds the lock of a run directory (src/util/lock.ts). */
export class LockedError extends PsvitError {}

const FS_PROBLEMS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOENT: "no such file or directory",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "is a directory",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EEXIST: "already exists",
  ENOTEMPTY: "directory not empty",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENAMETOOLONG: "name too long",
  ELOOP: "too many symbolic links",
  EBUSY: "resource busy",
  EXDEV: "cross-device link",
  EIO: "input/output error",
};

const FS_ACTIONS: Record<string, string> = {
  open: "open",
  mkdir: "create the directory",
  mkdtemp: "create a directory in",
  rename: "rename",
  unlink: "remove",
  rmdir: "remove",
  rm: "remove",
  scandir: "list",
  opendir: "list",
  stat: "access",
  lstat: "access",
  access: "access",
  read: "read",
  write: "write",
  copyfile: "copy",
  link: "link",
  symlink: "link",
  chmod: "change the mode of",
  utime: "change the times of",
};

/**
 * A Node.js file-system error (EACCES, EROFS, ENOENT, ENOSPC, … from a syscall) as the one line the
 * CLI prints: `cannot <action> <path>: <problem> (<code>)`; `at` names the path (and action) instead
 * of the error's own. Undefined for anything else. These are the world's fault or the user's (a
 * read-only or missing directory, a full disk), not bugs: exit 2.
 */
export function fileSystemProblem(
  e: unknown,
  at: { path?: string; action?: string } = {},
): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const err = e as NodeJS.ErrnoException & { dest?: unknown };
  if (typeof err.code !== "string" || typeof err.syscall !== "string" || !(err.code in FS_PROBLEMS)) {
    return undefined;
  }
  const action = at.action ?? FS_ACTIONS[err.syscall] ?? err.syscall;
  const path = at.path ?? err.path;
  const dest = at.path === undefined && typeof err.dest === "string" ? ` to ${err.dest}` : "";
  return `cannot ${action}${path === undefined ? "" : ` ${path}${dest}`}: ${FS_PROBLEMS[err.code]} (${err.code})`;
}

/** A file-system operation on one of the user's paths failed (see `fileSystemProblem`): exit 2. */
export class FileSystemError extends PsvitError {
  constructor(
    message: string,
    readonly code: string,
    readonly path?: string,
  ) {
    super(message);
  }

  /** `e` as a FileSystemError (naming `at.path` rather than its own path), or undefined if it is not one. */
  static from(e: unknown, at: { path?: string; action?: string } = {}): FileSystemError | undefined {
    const message = fileSystemProblem(e, at);
    if (message === undefined) return undefined;
    const err = e as NodeJS.ErrnoException;
    return new FileSystemError(message, err.code!, at.path ?? err.path);
  }
}
