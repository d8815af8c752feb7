/**
 * The PyTorch reference (bench/torch_model.py, run by /usr/bin/python3 with Debian's python3-torch) as
 * the tests call it, and how they compare its logits with psvit's.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const PYTHON = "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "../../bench/torch_model.py");

/** Throws with the install line when /usr/bin/python3 cannot import torch. */
export function requireTorch(): void {
  const probe = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `the PyTorch interop test needs ${PYTHON} with torch, but it cannot import torch` +
        ` (${(probe.stderr || String(probe.error)).trim().split("\n").at(-1)}).` +
        ` Install it: apt-get install -y python3-torch libopenblas0-pthread`,
    );
  }
}

/** bench/torch_model.py with these arguments; its stdout. */
export function python(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0)
    throw new Error(`python3 ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.error ?? ""}`);
  return r.stdout;
}

/** Largest |a − b| / max(1, |b|) over two tables of logits. */
export function maxRelErr(a: number[][], b: number[][]): number {
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++)
      err = Math.max(err, Math.abs(a[i][j] - b[i][j]) / Math.max(1, Math.abs(b[i][j])));
  }
  return err;
}
