/** Ctrl-C and SIGTERM as a flag that long loops read between steps, so they stop at a clean point. */

/** Set by a signal handler; the loop stops after the current step. */
export interface StopFlag {
  signal: "SIGINT" | "SIGTERM" | null;
}

/** SIGINT/SIGTERM set the flag (the loop finishes its step and checkpoints); a second signal exits at once. */
export function installStopHandlers(): { flag: StopFlag; dispose(): void } {
  const flag: StopFlag = { signal: null };
  const handler = (signal: "SIGINT" | "SIGTERM") => () => {
    if (flag.signal) process.exit(signal === "SIGINT" ? 130 : 143);
    flag.signal = signal;
    process.stderr.write(`\npsvit: ${signal}: finishing the current step and writing a checkpoint…\n`);
  };
  const onInt = handler("SIGINT");
  const onTerm = handler("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return {
    flag,
    dispose() {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
}
