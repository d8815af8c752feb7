/** psvit's version: package.json's, the one source (`--version`, run.json's `versions`). */
import { readFileSync } from "node:fs";

export const PSVIT_VERSION: string = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;
