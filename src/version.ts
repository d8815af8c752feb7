/** psvit's version: package.json's, the one source (`--version`, run.json's `versions`). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PSVIT_VERSION: string = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;

/** The versions a run records: psvit, Node.js, TensorFlow.js. */
export function versions(): Record<string, string> {
  const pkg = (name: string) => {
    try {
      const url = import.meta.resolve(`${name}/package.json`);
      return JSON.parse(readFileSync(fileURLToPath(url), "utf8")).version as string;
    } catch {
      return "unknown";
    }
  };
  return { psvit: PSVIT_VERSION, node: process.version, tfjs: pkg("@tensorflow/tfjs-core") };
}
