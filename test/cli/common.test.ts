import { describe, expect, it } from "vitest";
import type { Logger } from "../../src/util/log.js";
import { createProgress } from "../../src/util/progress.js";

function capture() {
  const lines: string[] = [];
  const logger = { info: (m: string) => lines.push(m) } as unknown as Logger;
  return { lines, logger };
}

describe("progress lines", () => {
  it("a resumed run's ETA comes from this process's rate, not from steps done before it", async () => {
    const fresh = capture();
    const resumed = capture();
    const a = createProgress("train", 1000, fresh.logger, { tty: false, everySeconds: 0 });
    const b = createProgress("train", 1000, resumed.logger, { tty: false, everySeconds: 0, initial: 700 });
    await new Promise((r) => setTimeout(r, 60));
    a.update(701, {});
    b.update(701, {});
    const seconds = (line: string) => {
      const m = /ETA (?:(\d+)m)?(\d+)s$/.exec(line);
      expect(m, line).not.toBeNull();
      return Number(m![1] ?? 0) * 60 + Number(m![2]);
    };
    // ≥ 60 ms for 1 step, 299 to go: ≥ 17 s; extrapolating over all 701 steps would say < 1 s
    expect(seconds(resumed.lines.at(-1)!)).toBeGreaterThanOrEqual(17);
    expect(seconds(fresh.lines.at(-1)!)).toBeLessThan(2);
    expect(resumed.lines.at(-1)).toContain("train 701/1000 steps");
  });
});

describe("threads of a command", () => {
  it("training commands take 2 wasm threads where there are 2 cores; PSVIT_WASM_THREADS decides when set", async () => {
    const { commandThreads } = await import("../../src/engine/start.js");
    expect(commandThreads(true, undefined, 2)).toBe(2);
    expect(commandThreads(true, "", 16)).toBe(2);
    expect(commandThreads(true, undefined, 1)).toBe(1);
    expect(commandThreads(false, undefined, 2)).toBeUndefined(); // initBackend's default: 1 or the env
    expect(commandThreads(true, "1", 2)).toBeUndefined();
    expect(commandThreads(true, "3", 4)).toBeUndefined();
  });
});
