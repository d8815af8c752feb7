/**
 * Build the embedded default dataset, data/fashion-mnist-small/, from the official Fashion-MNIST
 * files (Debian package dataset-fashion-mnist). Deterministic: running it again gives the same bytes.
 *
 *   npx vite-node scripts/make-embedded-data.ts [SOURCE_DIR]
 *
 * SOURCE_DIR defaults to /usr/share/datasets/fashion-mnist. Writes the six IDX .gz files; LICENSE
 * and README.md in that folder are maintained by hand.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildEmbedded, embeddedDir, FASHION_MNIST_SYSTEM_DIR } from "../src/data/embedded.js";

const src = process.argv[2] ?? FASHION_MNIST_SYSTEM_DIR;
const out = embeddedDir();
mkdirSync(out, { recursive: true });
const files = await buildEmbedded(src);
for (const [name, bytes] of files) {
  writeFileSync(join(out, name), bytes);
  const sha = createHash("sha256").update(bytes).digest("hex");
  console.log(`${name}  ${bytes.length} bytes  sha256 ${sha}`);
}
