/**
 * Issue 18 item 3: the webgpu backend on a real GPU, checked and measured in one run. bench/gpu/pack.sh
 * bundles this file (with psvit, tfjs and the parity cases of test/engine/webgpu-parity.ts) into
 * .gpu-carry/check.mjs; bench/gpu-check.sh runs it on the GPU machine, from the repository's root:
 *
 *   node .gpu-carry/check.mjs --out FILE.json [--allow-software] [--threads N] [--quick]
 *
 * 1. Dawn's adapter, printed; not NVIDIA → exit 1 (--allow-software: any adapter, for trying the script
 *    on lavapipe).
 * 2. Parity: every case of test/engine/webgpu-parity.ts (each op of src/engine/ops.ts forward and
 *    gradient, hostile inputs, the loss) on webgpu against the cpu backend, the global gradient norm of
 *    57 gradients, and five clipped AdamW steps of an fmnist-2d path (losses and norms against cpu).
 * 3. Throughput: training-step and forward images/s (src/engine/benchmark.ts, what `psvit bench` runs)
 *    of fmnist-2d's smallest / median / largest paths (batch 64, 32×32×1) and of psvit-2d-tiny's median
 *    path at 224×224×3 (batch 32), on webgpu and on wasm (N threads) in this process; PyTorch on CUDA
 *    with the same configs comes from bench/torch_ref.py (bench/gpu-check.sh runs it and merges).
 * Writes one JSON file; exit 1 when the adapter or any parity check fails.
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { loadSpaceConfig } from "../../src/config/load.js";
import type { ModelConfig } from "../../src/config/schema.js";
import { AdamW, clipGradNorm, globalGradNorm } from "../../src/engine/adamw.js";
import { initBackend, resetBackendState } from "../../src/engine/backend.js";
import { benchmarkModel } from "../../src/engine/benchmark.js";
import { adapterLine, startWebgpu } from "../../src/engine/webgpu.js";
import { countModel } from "../../src/flops/count.js";
import { HvtModel } from "../../src/model/hvt.js";
import { type Arch, formatArch, materialize } from "../../src/space/arch.js";
import { representativeArchs } from "../../src/space/sample.js";
import { crossEntropy } from "../../src/train/loss.js";
import { type Result, randn } from "../../test/engine/helpers.js";
import { parityCases } from "../../test/engine/webgpu-parity.js";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const OUT = opt("out", "gpu-check.json");
const THREADS = Number(opt("threads", String(Math.min(16, os.availableParallelism()))));
const QUICK = flag("quick");

// tfjs-backend-webgpu is imported by name so that it is bundled with (and registers on) this bundle's
// tfjs; Dawn's `webgpu` stays a package beside the bundle (its dawn.node)
const importer = (s: string) =>
  s === "@tensorflow/tfjs-backend-webgpu" ? import("@tensorflow/tfjs-backend-webgpu") : import(s);

const say = (line: string) => process.stderr.write(`${line}\n`);
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "",
};
let failed = false;

const started = await startWebgpu(importer, { allowSoftware: true });
if (!started.ok) {
  say(`gpu-check: no WebGPU adapter: ${started.why}`);
  writeFileSync(OUT, `${JSON.stringify({ ...result, error: started.why }, null, 1)}\n`);
  process.exit(1);
}
const adapter = started.adapter;
result.adapter = adapter;
say(`gpu-check: adapter ${adapterLine(adapter)}`);
if (!/nvidia/i.test(`${adapter.vendor} ${adapter.description}`) && !flag("allow-software")) {
  say("gpu-check: not an NVIDIA adapter; stopping (--allow-software to run anyway)");
  writeFileSync(OUT, `${JSON.stringify({ ...result, error: "not an NVIDIA adapter" }, null, 1)}\n`);
  process.exit(1);
}
const useWebgpu = async () => {
  resetBackendState();
  return initBackend("webgpu", { importer, log: false });
};
const useCpu = async () => {
  resetBackendState();
  return initBackend("cpu", { log: false });
};

// ------------------------------------------------------------------ parity
const t0 = performance.now();
const cases = parityCases();
await useCpu();
const want = new Map<string, Result>(cases.map((c) => [c.name, c.reference()]));
await useWebgpu();
const failures: string[] = [];
for (const c of cases) {
  const problem = c.judge(await c.run(), want.get(c.name)!);
  if (problem) failures.push(problem);
}

// the global norm of 57 gradients (more than one AddN may bind on webgpu)
const grads = Array.from({ length: 57 }, (_, i) => randn([3 + (i % 5), 4], 100 + i));
const m57 = new Map(grads.map((g, i) => [`g${i}`, tf.tensor(g.data, g.shape)]));
const norm57 = await globalGradNorm(m57);
tf.dispose([...m57.values()]);
const truth57 = Math.sqrt(grads.reduce((s, g) => s + g.data.reduce((a, v) => a + v * v, 0), 0));
if (!(Math.abs(norm57 - truth57) / truth57 < 1e-6))
  failures.push(`norm of 57 gradients: ${norm57} vs ${truth57}`);

// five clipped AdamW steps of an fmnist-2d path on one batch: losses and gradient norms against cpu
const fmnist = loadSpaceConfig("search-spaces/fmnist-2d.json");
const reps = representativeArchs(fmnist, {}, 0);
async function fiveSteps(cfg: ModelConfig): Promise<{ loss: number; norm: number }[]> {
  const model = HvtModel.create(cfg, { seed: 3 });
  const { size, channels } = cfg.image;
  const x = tf.tensor4d(randn([8, size, size, channels], 4).data, [8, size, size, channels]);
  const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32");
  const opt = new AdamW({ weightDecay: 0.05 });
  const vars = model.variables();
  const byTf = new Map([...vars].map(([n, v]) => [v.name, n]));
  const out: { loss: number; norm: number }[] = [];
  for (let s = 0; s < 5; s++) {
    const { value, grads: g } = tf.variableGrads(
      () => crossEntropy(model.forward(x) as tf.Tensor2D, y, 0.1),
      [...vars.values()],
    );
    const named = new Map(Object.entries(g).map(([k, t]) => [byTf.get(k)!, t as tf.Tensor]));
    const loss = ((await value.data()) as Float32Array)[0];
    const norm = await clipGradNorm(named, 1);
    opt.step(named, vars, 2e-3);
    tf.dispose([value, ...named.values()]);
    out.push({ loss, norm });
  }
  tf.dispose([x, y]);
  opt.dispose();
  model.dispose();
  return out;
}
const median = reps.find((r) => r.label === "median")!;
const stepCfg = materialize(fmnist, median.arch);
const onGpu = await fiveSteps(stepCfg);
await useCpu();
const onCpu = await fiveSteps(stepCfg);
onGpu.forEach((g, i) => {
  const c = onCpu[i];
  if (!(Math.abs(g.loss - c.loss) < 1e-4) || !(Math.abs(g.norm - c.norm) < 1e-3 * Math.max(1, c.norm)))
    failures.push(`training step ${i + 1}: loss ${g.loss} vs ${c.loss}, norm ${g.norm} vs ${c.norm}`);
});
result.parity = {
  cases: cases.length + 2,
  failures,
  seconds: Math.round((performance.now() - t0) / 100) / 10,
  trainingSteps: { webgpu: onGpu, cpu: onCpu },
};
say(
  failures.length
    ? `gpu-check: parity FAILED (${failures.length}):\n  ${failures.join("\n  ")}`
    : `gpu-check: parity: all ${cases.length + 2} checks pass`,
);
if (failures.length) failed = true;
writeFileSync(OUT, `${JSON.stringify({ ...result, partial: true }, null, 1)}\n`);

// ------------------------------------------------------------------ throughput
const tiny = loadSpaceConfig("search-spaces/psvit-2d-tiny.json");
const tinyMedian = representativeArchs(tiny, {}, 0).find((r) => r.label === "median")!;
const models: { label: string; arch: Arch; cfg: ModelConfig; batch: number }[] = [
  ...reps
    .filter((r) => (QUICK ? r.label === "median" : true))
    .map((r) => ({
      label: `fmnist-2d ${r.label}`,
      arch: r.arch,
      cfg: materialize(fmnist, r.arch),
      batch: 64,
    })),
  {
    label: "psvit-2d-tiny median",
    arch: tinyMedian.arch,
    cfg: materialize(tiny, tinyMedian.arch),
    batch: 32,
  },
];
const rows: Record<string, unknown>[] = [];
for (const m of models) {
  const row: Record<string, unknown> = {
    model: m.label,
    name: m.cfg.name,
    arch: formatArch(m.arch),
    image: m.cfg.image,
    batch: m.batch,
    flops: countModel(m.cfg).flops,
    config: m.cfg,
  };
  for (const backend of ["webgpu", "wasm"] as const) {
    // a backend that fails is recorded in the row, and the rest still runs
    try {
      resetBackendState();
      const info =
        backend === "webgpu"
          ? await useWebgpu()
          : await initBackend("wasm", { threads: THREADS, log: false });
      const model = HvtModel.create(m.cfg, { seed: 1 });
      const big = m.cfg.image.size >= 128;
      const r = await benchmarkModel(model, {
        batch: m.batch,
        image: [m.cfg.image.size, m.cfg.image.size, m.cfg.image.channels],
        numClasses: m.cfg.numClasses,
        steps: QUICK || (big && backend === "wasm") ? 3 : 10,
        warmup: backend === "webgpu" ? 3 : 1,
      });
      model.dispose();
      row[backend] = {
        train_img_s: Math.round(r.trainImgS * 10) / 10,
        fwd_img_s: Math.round(r.forwardImgS * 10) / 10,
        train_ms: r.trainMs.map((v) => Math.round(v * 10) / 10),
        forward_ms: r.forwardMs.map((v) => Math.round(v * 10) / 10),
        ...(info.threads !== undefined ? { threads: info.threads } : {}),
      };
      say(
        `gpu-check: ${m.label} (batch ${m.batch}) on ${backend}: train ${r.trainImgS.toFixed(1)} img/s, forward ${r.forwardImgS.toFixed(1)} img/s`,
      );
    } catch (e) {
      row[backend] = { error: String((e as Error).message ?? e) };
      say(`gpu-check: ${m.label} on ${backend} failed: ${(e as Error).message ?? e}`);
      failed = true;
    }
  }
  rows.push(row);
  // written after every model: a run stopped by its time limit keeps what it measured
  writeFileSync(OUT, `${JSON.stringify({ ...result, throughput: rows, partial: true }, null, 1)}\n`);
}
result.throughput = rows;
writeFileSync(OUT, `${JSON.stringify(result, null, 1)}\n`);
say(`gpu-check: wrote ${OUT}`);
process.exit(failed ? 1 : 0);
