/**
 * Logging with pino. Console output is one readable line per event on stderr (`psvit: message k=v`);
 * a run directory also gets the full pino JSON stream in a file. Level from PSVIT_LOG_LEVEL (default
 * info), or `silent` in tests.
 */
import { Writable } from "node:stream";
import pino from "pino";

export type Logger = pino.Logger;

const LEVEL_NAMES: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "",
  40: "warning",
  50: "error",
  60: "fatal",
};

/** A stream that turns pino JSON lines into `psvit: [level] msg key=value …` lines. */
function consoleStream(write: (line: string) => void): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split("\n")) {
        if (!line) continue;
        try {
          const { level, msg, time: _t, pid: _p, hostname: _h, ...rest } = JSON.parse(line);
          const tag = LEVEL_NAMES[level] ? `${LEVEL_NAMES[level]}: ` : "";
          const extras = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
            .join(" ");
          write(`psvit: ${tag}${msg ?? ""}${extras ? ` ${extras}` : ""}\n`);
        } catch {
          write(`${line}\n`);
        }
      }
      done();
    },
  });
}

let shared: Logger | undefined;

export interface LoggerOptions {
  /** Also write the JSON stream to this file (appending). */
  file?: string;
  /** Console level (default PSVIT_LOG_LEVEL or info). */
  level?: string;
  /** Where console lines go (default stderr). */
  write?: (line: string) => void;
}

let consoleWrite: (line: string) => void = (l) => process.stderr.write(l);
/**
 * Where the console lines of loggers created from now on go (default stderr). A queue job's thread
 * sends them to its worker through its message port (src/queue/thread-io.ts): a worker thread's own
 * stderr reaches the process asynchronously, and lines still on the way were lost when the worker
 * ended the thread on its result.
 */
export function setConsoleWrite(write: (line: string) => void): void {
  consoleWrite = write;
  shared = undefined;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.PSVIT_LOG_LEVEL ?? "info";
  const streams: pino.StreamEntry[] = [
    { level: level as pino.Level, stream: consoleStream(opts.write ?? ((l) => consoleWrite(l))) },
  ];
  if (opts.file)
    streams.push({ level: "debug", stream: pino.destination({ dest: opts.file, append: true, sync: true }) });
  const minLevel = opts.file ? "debug" : level;
  return pino({ level: minLevel, base: undefined }, pino.multistream(streams));
}

/** The process-wide console logger (created on first use). */
export function log(): Logger {
  shared ??= createLogger();
  return shared;
}
/** Replace the process-wide logger (a command that opens a run directory does this). */
export function setLogger(logger: Logger): void {
  shared = logger;
}
