/**
 * A queue job thread's log lines reach the worker before its result (src/queue/thread-io.ts): the
 * worker terminates the thread on the result, and lines a thread wrote to its own stderr could still be
 * on the way then ("rank-corr through the queue" missed one of its six "subnet … seed …" lines about
 * one run in five).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runJobThread } from "../../src/queue/thread-io.js";

const chatty = fileURLToPath(new URL("./fixtures/chatty-thread.mjs", import.meta.url));

describe("runJobThread", () => {
  it("writes every console line of the thread, in order, before it resolves with the result", async () => {
    for (const lines of [1, 50, 400]) {
      const got: string[] = [];
      const m = await runJobThread(chatty, { lines, forward: true }, (l) => got.push(l));
      expect(m).toEqual({ type: "done", result: lines });
      expect(got).toEqual(Array.from({ length: lines }, (_, i) => `psvit: line ${i} of ${lines}\n`));
    }
  });

  it("rejects, naming the job, when the thread ends without a result or throws", async () => {
    const empty = `data:text/javascript,${encodeURIComponent("process.exit(3)")}`;
    await expect(runJobThread(new URL(empty), {}, () => {}, "job 7")).rejects.toThrow(
      "job 7 ended without a result (exit code 3)",
    );
    const thrower = `data:text/javascript,${encodeURIComponent("throw new Error('boom')")}`;
    await expect(runJobThread(new URL(thrower), {}, () => {})).rejects.toThrow("boom");
  });
});
