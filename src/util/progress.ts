/**
 * Progress for long loops: a bar with ETA and images/s on a terminal (cli-progress), plain periodic
 * lines otherwise (logs, CI, pipes).
 */
import cliProgress from "cli-progress";
import type { Logger } from "./log.js";

export interface Progress {
  update(done: number, info: Record<string, string | number>): void;
  stop(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(s % 60).padStart(2, "0")}s`
      : `${s}s`;
}

/**
 * `total` units of work labelled `label`, `initial` of them already done before this process (a resumed
 * run: the ETA is extrapolated from this process's rate only). On a TTY (stderr) a bar; else a line
 * through `logger` at most every `everySeconds`, and at the end.
 */
export function createProgress(
  label: string,
  total: number,
  logger: Logger,
  opts: { tty?: boolean; everySeconds?: number; unit?: string; initial?: number } = {},
): Progress {
  const initial = opts.initial ?? 0;
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const unit = opts.unit ?? "steps";
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} |{bar}| {value}/{total} ${unit} | {info} | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, initial, { info: "" });
    return {
      update: (done, info) =>
        bar.update(done, {
          info: Object.entries(info)
            .map(([k, v]) => `${k} ${v}`)
            .join(" "),
        }),
      stop: () => bar.stop(),
    };
  }
  const start = performance.now();
  let last = start;
  const every = (opts.everySeconds ?? 15) * 1000;
  const line = (done: number, info: Record<string, string | number>) => {
    const elapsed = (performance.now() - start) / 1000;
    const eta = done > initial ? (elapsed / (done - initial)) * (total - done) : Number.NaN;
    const extras = Object.entries(info)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    logger.info(
      `${label} ${done}/${total} ${unit}${extras ? `, ${extras}` : ""}, ETA ${formatDuration(eta)}`,
    );
  };
  let lastInfo: Record<string, string | number> = {};
  let lastDone = 0;
  return {
    update(done, info) {
      lastInfo = info;
      lastDone = done;
      const now = performance.now();
      if (now - last >= every || done === total) {
        last = now;
        line(done, info);
      }
    },
    stop() {
      if (lastDone !== total && lastDone > 0) line(lastDone, lastInfo);
    },
  };
}
