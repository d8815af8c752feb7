import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { parseQueueUrl } from "../../src/queue/url.js";

describe("--queue URL", () => {
  it("host, port and database; defaults 6379 and 0; credentials kept but masked in messages", () => {
    expect(parseQueueUrl("redis://10.0.0.5:6380/3")).toEqual({
      url: "redis://10.0.0.5:6380/3",
      host: "10.0.0.5",
      port: 6380,
      db: 3,
    });
    expect(parseQueueUrl("redis://queue.local")).toMatchObject({ host: "queue.local", port: 6379, db: 0 });
    expect(parseQueueUrl("redis://[::1]:7000")).toMatchObject({ host: "::1", port: 7000 });
    const a = parseQueueUrl("redis://psvit:s3cret@h:1/2");
    expect(a).toMatchObject({ username: "psvit", password: "s3cret", url: "redis://psvit:***@h:1/2" });
  });
  it("anything else is one clear usage error", () => {
    const bad: [string, string][] = [
      ["localhost:6379", 'the scheme is "localhost", not redis'],
      ["not a url", "is not a URL"],
      ["http://h:1", 'the scheme is "http", not redis'],
      ["redis://h:99999", "--queue"],
      ["redis://h:1/queue", "the path /queue is not a database number"],
      ["redis://h:1/16", "database 16"],
      ["redis://h:1/0?x=1", "no query or fragment allowed"],
    ];
    for (const [text, message] of bad) {
      const e = (() => {
        try {
          parseQueueUrl(text);
        } catch (x) {
          return x as Error;
        }
      })();
      expect(e, text).toBeInstanceOf(UsageError);
      expect(e!.message).toContain(message);
      expect(e!.message).toContain("expected redis://HOST:PORT[/DB]");
    }
  });
});
