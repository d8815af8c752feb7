/**
 * Error kinds and their exit codes. This module is pure (no tfjs, no I/O) so every layer can throw
 * user-facing errors; only src/cli/run.ts turns them into exit codes.
 *
 * - PsvitError and its subclasses are the user's fault or the world's (bad flags, bad config, bad
 *   data, missing files): the CLI prints `psvit: <message>` on one line and exits 2.
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
