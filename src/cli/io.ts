/** Where commands write. Commands take an Io so tests can capture what they print. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal (progress bars, colours). */
  isTTY: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
};

/** An Io that records everything (for tests). */
export function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => stderr.push(t.endsWith("\n") ? t : `${t}\n`),
    isTTY: false,
  };
}

/** Left/right-aligned text table. `align[i]` is "l" or "r". */
export function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = align.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (align[c] === "r" ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
