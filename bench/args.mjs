// Shared by the bench scripts: `--name value` options and the default fmnist-2d paths they compare.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(benchDir, "..");
export const argv = process.argv.slice(2);

/** The value after `--name` on the command line, or `fallback`. */
export function opt(name, fallback) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
}

/** fmnist-2d's smallest, ≈ median and largest FLOPs paths. */
export const DEFAULT_ARCHS = "IIIIII-IIIIII-IIIIII,BBSSII-BBSSII-BBSSII,SSSSSS-SSSSSS-SSSSSS";
export const DEFAULT_SPACE = path.join(root, "search-spaces/fmnist-2d.json");
