// A folder of ImageNet-like JPEGs for the folder benchmarks: 10 classes, sizes around 500×375 (the
// ImageNet mean; a quarter portrait), smooth random pictures at quality 90. Files already there are
// kept, so a larger folder extends a smaller one.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { root } from "./args.mjs";

const { Rng } = await import(path.join(root, "dist/util/rng.js"));

export async function generateJpegFolder(dir, n, seed = 2026) {
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    let w = 380 + rng.int(241);
    let h = Math.round(w * (0.6 + 0.3 * rng.float()));
    if (rng.float() < 0.25) [w, h] = [h, w];
    const sw = 24;
    const sh = Math.max(2, Math.round((sw * h) / w));
    const small = Buffer.from(Uint8Array.from({ length: sw * sh * 3 }, () => rng.int(256)));
    const file = path.join(dir, `class${i % 10}`, `${String(i).padStart(6, "0")}.jpg`);
    if (existsSync(file)) continue;
    mkdirSync(path.dirname(file), { recursive: true });
    await sharp(small, { raw: { width: sw, height: sh, channels: 3 } })
      .resize(w, h, { kernel: "cubic" })
      .jpeg({ quality: 90 })
      .toFile(file);
  }
}
