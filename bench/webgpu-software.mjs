// Issue 18 item 5: what a training step and a forward pass cost on a software WebGPU adapter (Mesa's
// lavapipe, what CI has) against wasm on the same machine, so nobody mistakes it for a GPU. Interleaved
// rounds of `psvit bench` (webgpu, then wasm, both on one core: LP_NUM_THREADS=1 for lavapipe, 1 wasm
// thread), medians and ratios per round.
//   node bench/webgpu-software.mjs [--arch IIIBIB-IBSIIB-SIBBIB] [--batch 32] [--rounds 3] [--steps 3]
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { opt, root } from "./args.mjs";
import { PSVIT } from "./jobs.mjs";

const ARCH = opt("arch", "IIIBIB-IBSIIB-SIBBIB");
const BATCH = opt("batch", "32");
const ROUNDS = Number(opt("rounds", "3"));
const STEPS = opt("steps", "3");
const space = path.join(root, "search-spaces/fmnist-2d.json");
const bench = (backend) => {
  const out = execFileSync(
    process.execPath,
    [
      PSVIT,
      "bench",
      space,
      "--arch",
      ARCH,
      "--backend",
      backend,
      "--batch",
      BATCH,
      "--steps",
      STEPS,
      "--warmup",
      "1",
      "--threads",
      "1",
      "--json",
    ],
    {
      env: { ...process.env, LP_NUM_THREADS: "1", TMPDIR: mkdtempSync(path.join(os.tmpdir(), "wgsw-")) },
      stdio: ["ignore", "pipe", "ignore"],
    },
  ).toString();
  return JSON.parse(out.trim().split("\n").at(-1));
};
const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  const w = bench("webgpu");
  const c = bench("wasm");
  rows.push({ round: r, webgpu: w, wasm: c });
  console.error(
    `${new Date().toISOString()} round ${r}: webgpu ${w.train_img_s.toFixed(1)} / ${w.fwd_img_s.toFixed(1)} img/s, wasm ${c.train_img_s.toFixed(1)} / ${c.fwd_img_s.toFixed(1)} img/s`,
  );
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const f = (x) => x.toFixed(1);
console.log(
  `| round | webgpu (lavapipe, 1 thread) train / forward img/s | wasm (1 thread) train / forward img/s | wasm ÷ webgpu, train / forward |`,
);
console.log("| --- | --- | --- | --- |");
for (const { round, webgpu: w, wasm: c } of rows) {
  console.log(
    `| ${round} | ${f(w.train_img_s)} / ${f(w.fwd_img_s)} | ${f(c.train_img_s)} / ${f(c.fwd_img_s)} | ${f(c.train_img_s / w.train_img_s)}× / ${f(c.fwd_img_s / w.fwd_img_s)}× |`,
  );
}
const tr = rows.map((x) => x.wasm.train_img_s / x.webgpu.train_img_s);
const fw = rows.map((x) => x.wasm.fwd_img_s / x.webgpu.fwd_img_s);
console.log(
  `\nmedian: wasm is ${f(med(tr))}× webgpu-on-lavapipe per training step (range ${f(Math.min(...tr))}–${f(Math.max(...tr))}), ${f(med(fw))}× per forward pass (${f(Math.min(...fw))}–${f(Math.max(...fw))}); ${ARCH}, batch ${BATCH}`,
);
