import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Batch,
  BatchStream,
  type BatchStreamOptions,
  evalBatches,
  workerSource,
} from "../../src/data/batch.js";
import { normalize } from "../../src/data/stats.js";
import { UsageError } from "../../src/errors.js";
import { makeDataset, tempDir, write } from "./helpers.js";

const ds = makeDataset(103, 8, 8, 1, 5);
const base: BatchStreamOptions = {
  batchSize: 16,
  seed: 11,
  preprocess: { mean: [0.4], std: [0.3] },
  augment: { cropPadding: 2, flipProb: 0.5 },
};
const open: BatchStream[] = [];
function stream(opts: Partial<BatchStreamOptions> = {}): BatchStream {
  const s = new BatchStream(ds, { ...base, ...opts });
  open.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function take(s: BatchStream, k: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < k; i++) out.push(await s.next());
  return out;
}

function sameBits(a: Batch, b: Batch): void {
  expect([a.epoch, a.index, a.size]).toEqual([b.epoch, b.index, b.size]);
  expect(
    Buffer.from(a.x.buffer, a.x.byteOffset, a.x.byteLength).equals(
      Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength),
    ),
  ).toBe(true);
  expect(a.y).toEqual(b.y);
}

describe("BatchStream", () => {
  it("each epoch visits every image once, in a seeded order that changes per epoch", async () => {
    const s = stream({ prefetch: 0, augment: undefined });
    expect(s.mode).toBe("sync");
    expect(s.stepsPerEpoch).toBe(7);
    const batches = await take(s, 14);
    expect(batches.map((b) => b.size)).toEqual([16, 16, 16, 16, 16, 16, 7, 16, 16, 16, 16, 16, 16, 7]);
    // without augmentation pixel 0 identifies the image: (i·13) & 255, distinct for i < 103
    const ids = (bs: Batch[]) => bs.flatMap((b) => Array.from({ length: b.size }, (_, k) => b.x[k * 64]));
    const e0 = ids(batches.slice(0, 7));
    const e1 = ids(batches.slice(7));
    expect(new Set(e0).size).toBe(103);
    expect(new Set(e1).size).toBe(103);
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual([...e0].sort((a, b) => a - b));
    expect(s.state()).toMatchObject({ epoch: 2, index: 0 });
    const other = await take(stream({ prefetch: 0, augment: undefined, seed: 12 }), 1);
    expect(ids(other)).not.toEqual(e0.slice(0, 16));
  });

  it("labels follow the images; no augmentation = normalised images", async () => {
    const [b] = await take(stream({ prefetch: 0, augment: undefined, batchSize: 103 }), 1);
    const all = normalize(ds.images, 1, base.preprocess);
    const seen = new Set<number>();
    for (let k = 0; k < b.size; k++) {
      const row = b.x.subarray(k * 64, (k + 1) * 64);
      const idx = Array.from({ length: 103 }, (_, j) => j).find((j) =>
        all.subarray(j * 64, (j + 1) * 64).every((v, t) => v === row[t]),
      );
      expect(idx).toBeDefined();
      expect(b.y[k]).toBe(ds.labels[idx!]);
      seen.add(idx!);
    }
    expect(seen.size).toBe(103);
  });

  it("worker and synchronous streams give bit-identical batches", async () => {
    const w = stream({ prefetch: 3 });
    expect(w.mode).toBe("worker");
    const a = await take(w, 10);
    const b = await take(stream({ prefetch: 0 }), 10);
    for (let i = 0; i < a.length; i++) sameBits(a[i], b[i]);
  });

  for (const prefetch of [0, 2]) {
    it(`resume from a saved state continues bit-for-bit (prefetch ${prefetch}, across an epoch boundary)`, async () => {
      const whole = await take(stream({ prefetch }), 12);
      const first = stream({ prefetch });
      await take(first, 5);
      const saved = JSON.parse(JSON.stringify(first.state()));
      expect(saved).toMatchObject({ epoch: 0, index: 5, seed: 11, n: 103, batchSize: 16 });
      await first.close();
      const resumed = stream({ prefetch, resume: saved });
      expect(resumed.step).toBe(5);
      const rest = await take(resumed, 7);
      for (let i = 0; i < rest.length; i++) sameBits(rest[i], whole[5 + i]);
      expect(rest.at(-1)).toMatchObject({ epoch: 1, index: 4 });
    });
  }

  it("dropLast drops the partial batch", async () => {
    const s = stream({ prefetch: 0, dropLast: true });
    expect(s.stepsPerEpoch).toBe(6);
    const bs = await take(s, 7);
    expect(bs.every((b) => b.size === 16)).toBe(true);
    expect(bs[6]).toMatchObject({ epoch: 1, index: 0 });
  });

  it("refuses to resume on different data, seed, batch size or augmentation", () => {
    const st = new BatchStream(ds, { ...base, prefetch: 0 }).state();
    expect(() => stream({ prefetch: 0, seed: 12, resume: st })).toThrow(
      /cannot resume the data stream: seed 11 != 12/,
    );
    expect(() => stream({ prefetch: 0, batchSize: 8, resume: st })).toThrow(/batch size 16 != 8/);
    expect(() => stream({ prefetch: 0, augment: undefined, resume: st })).toThrow(
      /augmentation options differ/,
    );
    expect(() => new BatchStream(makeDataset(50, 8, 8, 1), { ...base, prefetch: 0, resume: st })).toThrow(
      /103 images != 50/,
    );
    expect(() => stream({ prefetch: 0, resume: { ...st, index: 7 } })).toThrow(/bad position/);
    expect(() => stream({ batchSize: 0 })).toThrow(UsageError);
    expect(() => stream({ seed: -1 })).toThrow(UsageError);
    expect(() => stream({ preprocess: { mean: [0, 0], std: [1, 1] } })).toThrow(UsageError);
  });

  it("records data timing", async () => {
    const s = stream({ prefetch: 2 });
    await take(s, 4);
    const t = s.timing();
    expect(t.batches).toBe(4);
    expect(t.prepMsMean).toBeGreaterThan(0);
    expect(t.waitMsTotal).toBeGreaterThanOrEqual(0);
  });

  it("close() stops the worker; next() after close fails; close is idempotent", async () => {
    const s = stream({ prefetch: 2 });
    await take(s, 1);
    await s.close();
    await s.close();
    await expect(s.next()).rejects.toThrow(/closed/);
  });

  it("the worker source is self-contained (runs in a bare context)", () => {
    const src = workerSource();
    expect(src).toContain("function prepareBatch");
    const messages: unknown[] = [];
    const handlers: ((m: unknown) => void)[] = [];
    const parentPort = {
      on: (_: string, h: (m: unknown) => void) => handlers.push(h),
      postMessage: (m: unknown) => messages.push(m),
    };
    runInNewContext(src, {
      require: () => ({ parentPort }),
      performance,
      Float32Array,
      Int32Array,
      Uint32Array,
      Math,
    });
    const lut = new Float32Array(256).map((_, v) => v);
    handlers[0]({
      type: "init",
      images: Uint8Array.from([1, 2, 3, 4]),
      labels: Int32Array.from([0, 1]),
      h: 1,
      w: 2,
      c: 1,
      lut,
      pad: 0,
      flipProb: 0,
    });
    handlers[0]({ type: "batch", id: 3, indices: Int32Array.from([1, 0]), rng: null });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      id: 3,
      x: Float32Array.from([3, 4, 1, 2]),
      y: Int32Array.from([1, 0]),
    });
  });
});

describe("evalBatches", () => {
  it("stored order, normalised, last batch smaller", () => {
    const pre = base.preprocess;
    const bs = [...evalBatches(ds, 40, pre)];
    expect(bs.map((b) => b.size)).toEqual([40, 40, 23]);
    const all = normalize(ds.images, 1, pre);
    expect(bs[2].x).toEqual(all.subarray(80 * 64));
    expect(Array.from(bs[1].y)).toEqual(Array.from(ds.labels.subarray(40, 80)));
  });
});

describe("process lifetime", () => {
  const dir = tempDir();
  const src = resolve("src/data/batch.ts");
  const script = (close: boolean) => `
import { BatchStream } from ${JSON.stringify(src)};
const n = 64, images = new Uint8Array(n * 16).map((_, i) => i & 255), labels = new Uint8Array(n);
const s = new BatchStream({ images, labels, n, height: 4, width: 4, channels: 1, numClasses: 1, source: "t" },
  { batchSize: 8, seed: 1, preprocess: { mean: [0], std: [1] }, augment: { cropPadding: 1, flipProb: 0.5 }, prefetch: 3 });
if (s.mode !== "worker") throw new Error("no worker");
for (let i = 0; i < 5; i++) await s.next();
${close ? "await s.close();" : ""}
console.log("done", s.state().index);
`;
  for (const close of [true, false]) {
    it(`a process using a worker stream exits by itself (${close ? "closed" : "never closed"})`, () => {
      const file = write(join(dir, `life-${close}.ts`), script(close));
      const t0 = Date.now();
      const r = spawnSync(resolve("node_modules/.bin/vite-node"), [file], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.error, "the process did not exit within 30 s").toBeUndefined();
      expect(r.stdout).toContain("done 5");
      expect(r.status).toBe(0);
      expect(Date.now() - t0).toBeLessThan(30_000);
    });
  }
});
