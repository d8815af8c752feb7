/**
 * Closing a queue client with jobs still in flight (a search stopped by a failed job does this): every
 * outstanding run() rejects with the client's own error, and nothing is left as an unhandled
 * rejection. Before the fix, BullMQ's Job.waitUntilFinished read the job's state inside a promise
 * executor and we disconnected connections BullMQ still used: 12–48 unhandled ioredis "Connection is
 * closed." rejections per 20 closes, depending on the delay ("errors a user can act on" in
 * queue.test.ts ended vitest with exit 1 about once in seven runs).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openQueue, QueueJobError } from "../../src/queue/evaluator.js";
import { parseQueueUrl } from "../../src/queue/url.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

describe("QueueClient.close with jobs in flight", () => {
  it("rejects every outstanding run with QueueJobError and leaves no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      let round = 0;
      for (const delayMs of [0, 1, 2, 5, 20]) {
        for (let k = 0; k < 4; k++, round++) {
          const client = await openQueue(parseQueueUrl(redis.url(round % 16)));
          // no worker listens: each run stays in flight until the client closes
          const runs = Array.from({ length: 6 }, (_, i) =>
            client.run("search-eval", `close-${round}-${i}`, { kind: "search-eval" }, `candidate ${i}`).then(
              () => "resolved",
              (e) => e,
            ),
          );
          await new Promise((r) => setTimeout(r, delayMs));
          await client.close();
          const settled = await Promise.race([
            Promise.all(runs),
            new Promise<string>((r) => setTimeout(() => r("still pending"), 2000)),
          ]);
          expect(Array.isArray(settled), `delay ${delayMs} ms: runs ${settled}`).toBe(true);
          for (const e of settled as unknown[]) {
            expect(e).toBeInstanceOf(QueueJobError);
            expect((e as Error).message).toMatch(/closed/);
          }
          await expect(client.run("search-eval", `after-${round}`, {}, "late")).rejects.toThrow(
            "the queue client is closed",
          );
        }
      }
      await new Promise((r) => setTimeout(r, 200)); // late rejections surface
      expect(unhandled.map((e) => (e as Error).message ?? String(e))).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  }, 60_000);
});
