/** Issue 15, defect 13: what killed psvit processes leave behind is removed at the next start. */
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startBackend } from "../../src/engine/start.js";
import { removeStaleTempFiles, removeStaleWasmDirs, tempFileFor } from "../../src/util/debris.js";
import { processStartMs } from "../../src/util/proc.js";
import { deadPid, tempDir } from "../helpers.js";

const LONG_AGO = new Date("2001-02-03T04:05:06Z");

function folder(root: string, name: string, mtime?: Date): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "tfjs-backend-wasm-threaded-simd.cjs"), "// script");
  if (mtime) utimesSync(dir, mtime, mtime);
  return dir;
}

describe("psvit-wasm-* folders in the temp folder", () => {
  it("removes those of dead processes, keeps live ones and anything not psvit's", () => {
    const root = tempDir();
    const dead = deadPid();
    const deadNamed = folder(root, `psvit-wasm-${dead}-Ab12Cd`);
    const liveNamed = folder(root, `psvit-wasm-${process.ppid}-Ef34Gh`);
    const ownNamed = folder(root, `psvit-wasm-${process.pid}-Ij56Kl`);
    const fresh = folder(root, "psvit-wasm-Mn78Op"); // made now: a live process's, for all we know
    const old = folder(root, "psvit-wasm-Qr90St", LONG_AGO); // older than every live Node.js process
    const others = [
      folder(root, "psvit-wasmy-Uv12Wx", LONG_AGO),
      folder(root, "not-psvit-wasm-Yz34Ab", LONG_AGO),
      folder(root, "psvit-wasm-toolong1", LONG_AGO),
    ];
    const file = join(root, "psvit-wasm-Cd56Ef");
    writeFileSync(file, "a file, not a folder");
    utimesSync(file, LONG_AGO, LONG_AGO);

    const removed = removeStaleWasmDirs(root);
    const expected = processStartMs(process.pid) !== undefined ? [deadNamed, old] : [deadNamed];
    expect(removed.sort()).toEqual(expected.sort());
    for (const d of [liveNamed, ownNamed, fresh, ...others, file]) expect(existsSync(d), d).toBe(true);
  });

  it("a command removes them when it starts its backend", async () => {
    const root = tempDir();
    const old = folder(root, "psvit-wasm-Gh78Ij", LONG_AGO);
    const deadNamed = folder(root, `psvit-wasm-${deadPid()}-Kl90Mn`);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = root;
    try {
      await startBackend("cpu");
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    expect(existsSync(deadNamed)).toBe(false);
    if (processStartMs(process.pid) !== undefined) expect(existsSync(old)).toBe(false);
  });
});

describe("temporary files of writeFileAtomic", () => {
  it("removes a dead writer's, keeps a live writer's and other files", () => {
    const dir = tempDir();
    const target = join(dir, "step-00000009.ckpt.safetensors");
    const mine = tempFileFor(target);
    expect(mine).toMatch(new RegExp(`\\.ckpt\\.safetensors\\.tmp-${process.pid}-[0-9a-f]{8}$`));
    const dead = `${target}.tmp-${deadPid()}-0123abcd`;
    const live = `${target}.tmp-${process.ppid}-4567cdef`;
    const other = join(dir, "notes.tmp-12-zz");
    for (const f of [mine, dead, live, other, target]) writeFileSync(f, "x");
    expect(removeStaleTempFiles(dir, join(dir, "missing"))).toEqual([dead]);
    for (const f of [mine, live, other, target]) expect(existsSync(f), f).toBe(true);
  });
});
