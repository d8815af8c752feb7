/**
 * Batch-1 latency of a deployed model on the runtimes a user can choose between: psvit's own engine
 * (the backend `psvit bench` initialised, wasm by default), onnxruntime-node (its bundled CPU library)
 * and onnxruntime-web's wasm runtime (the one the web export's page runs; here in Node, so without a
 * browser's overhead). One call is what a deployment pays for one image: uint8 pixels in, logits read
 * back (psvit: normalise, forward, download; onnxruntime: session.run of the exported graph, whose
 * preprocessing is inside). The runtimes take turns call by call, so the machine's drift hits all of
 * them alike; medians and the 10th–90th percentiles are reported.
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../config/schema.js";
import { identityPreprocess, normalize } from "../data/stats.js";
import { type HvtModel, modelParamSpecs } from "../model/hvt.js";
import { Rng } from "../util/rng.js";
import { exportTensors } from "../weights/io.js";
import { modelToOnnx } from "./graph.js";

export interface LatencyRow {
  runtime: string;
  threads: number;
  runs: number;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
}

export interface LatencyOptions {
  runs: number;
  warmup: number;
  /** Threads for onnxruntime-node's intra-op pool (psvit's are set when its backend starts). */
  threads: number;
  /** psvit's backend and its thread count, for the table. */
  psvit: { name: string; threads?: number };
}

type Call = () => Promise<void>;

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** The ONNX runtimes that can be loaded here, each as a session factory (absent ones are skipped). */
interface Runtime {
  runtime: string;
  threads: number;
  /** null: the runtime could not be loaded here (the row says why). */
  call: ((px: Uint8Array, dims: number[]) => Call) | null;
}

async function ortRuntimes(onnx: Uint8Array, threads: number): Promise<Runtime[]> {
  const out: Runtime[] = [];
  try {
    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(onnx, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    out.push({
      runtime: "onnxruntime-node (cpu)",
      threads,
      call: (px, dims) => async () => {
        await session.run({ images: new ort.Tensor("uint8", px, dims) });
      },
    });
  } catch (e) {
    out.push({
      runtime: `onnxruntime-node: not available (${(e as Error).message.split("\n")[0]})`,
      threads,
      call: null,
    });
  }
  try {
    const ortWeb = await import("onnxruntime-web");
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(onnx, { executionProviders: ["wasm"] });
    out.push({
      runtime: "onnxruntime-web (wasm, as the web page)",
      threads: 1,
      call: (px, dims) => async () => {
        await session.run({ images: new ortWeb.Tensor("uint8", px, dims) });
      },
    });
  } catch (e) {
    out.push({
      runtime: `onnxruntime-web: not available (${(e as Error).message.split("\n")[0]})`,
      threads: 1,
      call: null,
    });
  }
  return out;
}

/** Median batch-1 latency of `model` on psvit and on the ONNX runtimes, interleaved. */
export async function measureLatency(model: HvtModel, opts: LatencyOptions): Promise<LatencyRow[]> {
  const config: ModelConfig = model.config;
  const { size, channels } = config.image;
  const dims = [1, size, size, channels];
  const rng = new Rng(0);
  const pixels = Uint8Array.from({ length: size * size * channels }, () => rng.nextU32() & 255);
  const pre = config.preprocess ?? identityPreprocess(channels);

  const torch = new Map(await exportTensors(modelParamSpecs(config), model.variables()));
  const onnx = modelToOnnx(config, torch);
  const runtimes: Runtime[] = [
    {
      runtime: `psvit (${opts.psvit.name})`,
      threads: opts.psvit.threads ?? 1,
      call: (px: Uint8Array) => async () => {
        const x = normalize(px, channels, pre);
        const logits = tf.tidy(() => model.forward(tf.tensor4d(x, [1, size, size, channels])));
        await logits.data();
        logits.dispose();
      },
    },
    ...(await ortRuntimes(onnx, opts.threads)),
  ];
  const live = runtimes.filter((r) => r.call !== null);
  const calls = live.map((r) => r.call!(pixels, dims));
  const times: number[][] = live.map(() => []);
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    // rotate the order each round: no runtime always runs right after another's cache traffic
    for (let j = 0; j < calls.length; j++) {
      const k = (i + j) % calls.length;
      const t0 = performance.now();
      await calls[k]();
      const ms = performance.now() - t0;
      if (i >= opts.warmup) times[k].push(ms);
    }
  }
  const rows: LatencyRow[] = live.map((r, k) => {
    const sorted = [...times[k]].sort((a, b) => a - b);
    return {
      runtime: r.runtime,
      threads: r.threads,
      runs: sorted.length,
      medianMs: quantile(sorted, 0.5),
      p10Ms: quantile(sorted, 0.1),
      p90Ms: quantile(sorted, 0.9),
    };
  });
  for (const r of runtimes.filter((x) => x.call === null))
    rows.push({
      runtime: r.runtime,
      threads: r.threads,
      runs: 0,
      medianMs: Number.NaN,
      p10Ms: Number.NaN,
      p90Ms: Number.NaN,
    });
  return rows;
}
