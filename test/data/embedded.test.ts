import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  EMBEDDED_SPLITS,
  embeddedDir,
  embeddedFiles,
  readEmbedded,
  selectEmbedded,
} from "../../src/data/embedded.js";
import { FMNIST_DIR } from "./helpers.js";

describe("embedded Fashion-MNIST subset (data/fashion-mnist-small)", () => {
  it("is committed: six IDX .gz files of a few MB, a LICENSE with the MIT text, a README with class names", () => {
    const dir = embeddedDir();
    let total = 0;
    for (const split of EMBEDDED_SPLITS) {
      const f = embeddedFiles(split, dir);
      total += statSync(f.images).size + statSync(f.labels).size;
    }
    expect(total).toBeGreaterThan(3e6);
    expect(total).toBeLessThan(8e6);
    const license = readFileSync(join(dir, "LICENSE"), "utf8");
    expect(license).toContain("Copyright © [2017] Zalando SE");
    expect(license).toContain("Permission is hereby granted, free of charge");
    expect(license).toContain("https://github.com/zalandoresearch/fashion-mnist");
    expect(readFileSync(join(dir, "README.md"), "utf8")).toContain("| 9 | Ankle boot |");
  });

  it("equals a fresh, seeded, stratified selection from the official files (reproducible)", async () => {
    if (!existsSync(join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))) {
      throw new Error(
        `Fashion-MNIST is not installed at ${FMNIST_DIR}: apt-get install -y dataset-fashion-mnist (.ci/run does)`,
      );
    }
    const fresh = await selectEmbedded(FMNIST_DIR);
    for (const split of EMBEDDED_SPLITS) {
      const committed = await readEmbedded(split);
      expect(committed.n).toBe(fresh[split].n);
      expect(Buffer.from(committed.images).equals(Buffer.from(fresh[split].images))).toBe(true);
      expect(Buffer.from(committed.labels).equals(Buffer.from(fresh[split].labels))).toBe(true);
    }
    // train and val are disjoint images of the official training set
    const key = (px: Uint8Array, i: number) =>
      Buffer.from(px.subarray(i * 784, (i + 1) * 784)).toString("base64");
    const train = new Set(Array.from({ length: fresh.train.n }, (_, i) => key(fresh.train.images, i)));
    let overlap = 0;
    for (let i = 0; i < fresh.val.n; i++) if (train.has(key(fresh.val.images, i))) overlap++;
    expect(overlap).toBeLessThan(5); // Fashion-MNIST has a few exact duplicate images, never the same index
  });
});
