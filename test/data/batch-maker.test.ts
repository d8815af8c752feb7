/**
 * A folder stream makes its batches on a decoding thread of its own (src/data/stream/batch-maker.ts):
 * the same batches as on the calling thread, the user's errors as DataErrors naming the file, batches
 * ready after the main thread was blocked (a training step), and a process that never closes its stream
 * still exits.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { FolderBatchStream, type FolderStreamOptions } from "../../src/data/stream/folder-stream.js";
import { buildFolderIndex, type FolderIndex } from "../../src/data/stream/index.js";
import { IMAGENET_TRAIN } from "../../src/data/stream/transforms.js";
import { DataError } from "../../src/errors.js";
import { Rng } from "../../src/util/rng.js";
import { ROOT, tempDir } from "../helpers.js";

let dir: string;
let big: string;

async function folder(root: string, perClass: number, w: number, h: number, withBad: boolean) {
  const rng = new Rng(3);
  for (const c of ["a", "b"]) {
    mkdirSync(join(root, c), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.from(Array.from({ length: (w + i) * h * 3 }, () => rng.int(256)));
      const img = sharp(px, { raw: { width: w + i, height: h, channels: 3 } });
      // JPEG and PNG (the PNGs go through sharp, the JPEGs through the native decoder where built)
      const file = join(root, c, `${i}.${i % 3 === 0 ? "png" : "jpg"}`);
      writeFileSync(file, await (i % 3 === 0 ? img.png() : img.jpeg()).toBuffer());
    }
  }
  if (withBad)
    writeFileSync(join(root, "b", "broken.jpg"), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]));
}

beforeAll(async () => {
  dir = join(tempDir(), "small");
  await folder(dir, 20, 40, 30, true);
  big = join(tempDir(), "big");
  await folder(big, 32, 900, 700, false);
}, 60_000);

const base = (over: Partial<FolderStreamOptions> = {}): FolderStreamOptions => ({
  batchSize: 8,
  seed: 5,
  size: 16,
  channels: 3,
  preprocess: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] },
  shuffle: true,
  crop: IMAGENET_TRAIN,
  flipProb: 0.5,
  ...over,
});

async function batches(index: FolderIndex, o: FolderStreamOptions, n: number) {
  const s = new FolderBatchStream(index, o);
  const out = [];
  for (let i = 0; i < n; i++) out.push(await s.next());
  const kind = s.makerKind;
  const skipped = s.skipped().count;
  await s.close();
  return { out, kind, skipped };
}

describe("the folder stream's decoding thread", () => {
  it("makes the same batches as the calling thread, bad files left out the same way", async () => {
    const index = await buildFolderIndex(dir);
    const o = base({ skipBadImages: true });
    const threaded = await batches(index, { ...o, thread: true }, 6);
    const local = await batches(index, { ...o, thread: false }, 6);
    expect([threaded.kind, local.kind]).toEqual(["thread", "local"]);
    expect(threaded.out.map((b) => b.size)).toEqual(local.out.map((b) => b.size));
    for (let i = 0; i < 6; i++) {
      expect(threaded.out[i].y).toEqual(local.out[i].y);
      expect(threaded.out[i].x).toEqual(local.out[i].x);
    }
    expect(threaded.skipped).toBe(1);
    expect(local.skipped).toBe(1);
    // an eval stream too
    const ev = base({ shuffle: false, crop: null, flipProb: 0, skipBadImages: true });
    const a = await batches(index, { ...ev, thread: true }, 5);
    const b = await batches(index, { ...ev, thread: false }, 5);
    expect(a.out.map((x) => Array.from(x.x.subarray(0, 50)))).toEqual(
      b.out.map((x) => Array.from(x.x.subarray(0, 50))),
    );
  });

  it("an unreadable file is a DataError naming it, raised where the batch is asked for", async () => {
    const index = await buildFolderIndex(dir);
    const s = new FolderBatchStream(index, base({ shuffle: false, crop: null, flipProb: 0, batchSize: 41 }));
    expect(s.makerKind).toBe("thread");
    const err = await s.next().catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.file).toBe(join(dir, "b", "broken.jpg"));
    expect(err.message).toContain("broken.jpg: unreadable image");
    await s.close();
  });

  it("keeps decoding while the main thread is blocked: the next batch is ready when the step ends", async () => {
    const index = await buildFolderIndex(big);
    const s = new FolderBatchStream(index, base({ batchSize: 32, size: 224, prefetch: 1 }));
    await s.next(); // batch 0; batch 1 starts decoding
    const until = performance.now() + 1500; // a synchronous training step
    while (performance.now() < until) {
      /* blocked */
    }
    const t0 = performance.now();
    await s.next();
    const waited = performance.now() - t0;
    await s.close();
    // 32 JPEGs of ≈ 900×700 take ≈ 100 ms to decode on 2 cores; a batch made during the block is only
    // handed over (before the thread, the stalled decodes left 50–100 ms of the work to do here)
    expect(waited).toBeLessThan(30);
  }, 30_000);

  it("a process whose stream is never closed exits by itself", () => {
    const script = `
      const { buildFolderIndex } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/index.js"))});
      const { FolderBatchStream } = await import(${JSON.stringify(join(ROOT, "dist/data/stream/folder-stream.js"))});
      const index = await buildFolderIndex(${JSON.stringify(dir)});
      const s = new FolderBatchStream(index, { batchSize: 4, seed: 1, size: 8, channels: 3,
        preprocess: { mean: [0, 0, 0], std: [1, 1, 1] }, shuffle: true, crop: null, skipBadImages: true });
      const b = await s.next();
      process.stdout.write(s.makerKind + " " + b.size);`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 20_000 });
    expect(out.toString()).toBe("thread 4");
  });
});
