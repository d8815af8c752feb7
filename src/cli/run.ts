/**
 * The one place that turns errors into exit codes:
 * - PsvitError (usage, config, data, …): `psvit: <message>` on one line of stderr, its exit code (2).
 * - Node's file-system errors (EACCES, EPERM, EROFS, ENOENT, ENOTDIR, EISDIR, ENOSPC, EEXIST, EMFILE, …
 *   from a syscall on the user's paths): `psvit: cannot <action> <path>: <problem>`, exit 2.
 * - commander's usage errors (unknown option, missing argument): its message, exit 2.
 * - anything else is a bug: the stack trace, exit 1.
 */
import { CommanderError } from "commander";
import { fileSystemProblem, PsvitError } from "../errors.js";
import { type Io, processIo } from "./io.js";
import { buildProgram } from "./main.js";

/** Run the CLI with `argv` (as process.argv: node, script, args…) and return the exit code. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    return exitCodeFor(e, io);
  }
}

export function exitCodeFor(e: unknown, io: Io): number {
  if (e instanceof CommanderError) {
    // help and version end with code 0; everything else commander throws is a usage error
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof PsvitError) {
    io.err(`psvit: ${e.message.split("\n")[0]}`);
    return e.exitCode;
  }
  const problem = fileSystemProblem(e);
  if (problem !== undefined) {
    io.err(`psvit: ${problem}`);
    return 2;
  }
  io.err(`psvit: internal error (a bug; please report it with the command you ran):`);
  io.err(e instanceof Error ? (e.stack ?? String(e)) : String(e));
  return 1;
}

/** Entry point for bin/psvit. */
export async function main(argv: string[] = process.argv): Promise<void> {
  const code = await runCli(argv);
  // Dawn's instance (--backend webgpu) would keep the process alive
  const { releaseWebgpu } = await import("../engine/webgpu.js");
  releaseWebgpu();
  process.exitCode = code;
}
