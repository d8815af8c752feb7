// Builds psvit's optional native JPEG decoder (native/jpeg.c → dist/native/psvit_jpeg.node), part of
// `npm run build`. It needs a C compiler, Node's headers (node_api.h) and libjpeg-turbo's TurboJPEG
// library with its header (Debian: libturbojpeg0-dev). Without them it says so in one line and psvit
// decodes image folders with sharp (libvips) instead: the build never fails for its sake.
// A plain compiler call, not node-gyp: one C file with no Node library to link (an N-API addon
// resolves its symbols from the running node), and node-gyp would look for headers on the network.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "native/jpeg.c");
const out = path.join(root, "dist/native/psvit_jpeg.node");

function say(line) {
  process.stderr.write(`psvit build: ${line}\n`);
}

function headerDirs() {
  const dirs = [];
  if (process.env.npm_config_nodedir) dirs.push(path.join(process.env.npm_config_nodedir, "include/node"));
  dirs.push(
    path.join(path.dirname(process.execPath), "../include/node"),
    "/usr/include/node",
    "/usr/local/include/node",
  );
  return dirs;
}

if (process.env.PSVIT_NATIVE_BUILD === "0") {
  say("native JPEG decoder skipped (PSVIT_NATIVE_BUILD=0): image folders decode with sharp");
  process.exit(0);
}
const include = headerDirs().find((d) => existsSync(path.join(d, "node_api.h")));
if (!include) {
  say("native JPEG decoder not built (no node_api.h found): image folders decode with sharp");
  process.exit(0);
}
if (existsSync(out) && statSync(out).mtimeMs > statSync(source).mtimeMs) process.exit(0); // up to date
const cc = process.env.CC ?? "cc";
mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(
    cc,
    ["-O3", "-std=c11", "-Wall", "-shared", "-fPIC", `-I${include}`, source, "-o", tmp, "-lturbojpeg", "-lm"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  renameSync(tmp, out);
} catch (e) {
  rmSync(tmp, { force: true });
  const why =
    e.code === "ENOENT"
      ? `no C compiler (${cc})`
      : String(e.stderr ?? e.message)
          .trim()
          .split("\n")[0];
  say(
    `native JPEG decoder not built (${why}; Debian: apt-get install libturbojpeg0-dev): image folders decode with sharp`,
  );
}
