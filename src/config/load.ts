/**
 * Reading config files from disk. Kept apart from validate.ts so the validators stay I/O-free.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";
import type { ModelConfig, SpaceConfig } from "./schema.js";
import { type AnyConfig, parseAnyConfig, parseModelConfig, parseSpaceConfig } from "./validate.js";

/** Read and JSON-parse a file; a missing file or bad JSON is a ConfigError naming the file. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : String(e);
    throw new ConfigError(why, file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`invalid JSON: ${(e as Error).message}`, file);
  }
}

export function loadModelConfig(file: string): ModelConfig {
  return parseModelConfig(readJsonFile(file), file);
}

export function loadSpaceConfig(file: string): SpaceConfig {
  return parseSpaceConfig(readJsonFile(file), file);
}

export function loadAnyConfig(file: string): AnyConfig {
  return parseAnyConfig(readJsonFile(file), file);
}
