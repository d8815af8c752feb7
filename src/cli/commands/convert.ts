/**
 * `psvit convert MODEL.json --weights W.safetensors --to onnx|web [--out PATH] [--labels NAMES]` and
 * `psvit serve FOLDER [--port N]`: flags → src/onnx/export.ts / src/webapp/serve.ts → a summary.
 */
import { convertModel, parseDeployFormat } from "../../onnx/export.js";
import { intOption } from "../common.js";
import type { Io } from "../io.js";

export interface ConvertCommandOptions {
  weights: string;
  to: string;
  out?: string;
  labels?: string;
  force?: boolean;
  json?: boolean;
}

export async function convertCommand(file: string, opts: ConvertCommandOptions, io: Io): Promise<void> {
  const to = parseDeployFormat(opts.to, "--to");
  const r = await convertModel({
    config: file,
    weights: opts.weights,
    to,
    out: opts.out,
    labels: opts.labels,
    force: opts.force,
  });
  if (opts.json) {
    io.out(JSON.stringify(r));
    return;
  }
  const mb = (r.bytes / 1e6).toFixed(2);
  io.out(
    to === "onnx"
      ? `wrote ${r.path} (ONNX opset 17, ${mb} MB): input "images" uint8 [batch, H, W, C], outputs "logits" and "probabilities"\n`
      : `wrote ${r.path}/ (index.html, model.onnx ${mb} MB, onnxruntime-web)\nview it: psvit serve ${r.path}\n`,
  );
}

export async function serveCommand(
  folder: string,
  opts: { port?: string; host?: string },
  io: Io,
): Promise<void> {
  const { serveFolder } = await import("../../webapp/serve.js");
  const port = intOption(opts.port, "--port", 0) ?? 8080;
  const s = await serveFolder(folder, port, opts.host ?? "127.0.0.1");
  io.out(`serving ${folder} at ${s.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((ok) => {
    const stop = () => s.close().then(ok);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
