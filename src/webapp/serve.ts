/**
 * `psvit serve FOLDER`: a static file server for a web export (browsers do not let a page opened from
 * file:// fetch the files beside it). Serves only regular files inside FOLDER, GET and HEAD, with the
 * content types the page needs (wasm must be application/wasm for streaming compilation). Written on
 * node:http rather than a dependency: it serves one folder of seven files and nothing else.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve, sep } from "node:path";
import { UsageError } from "../errors.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".css": "text/css; charset=utf-8",
};

export interface StaticServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Serve `folder` on `host:port` (port 0: any free one). */
export async function serveFolder(folder: string, port = 8080, host = "127.0.0.1"): Promise<StaticServer> {
  const root = resolve(folder);
  const st = await stat(root).catch(() => null);
  if (!st?.isDirectory()) throw new UsageError(`${folder} is not a folder`);
  const server = createServer(async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (rel.endsWith("/")) rel += "index.html";
    const file = resolve(join(root, rel));
    const fst = file.startsWith(root + sep) ? await stat(file).catch(() => null) : null;
    if (!fst?.isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": fst.size,
      "cache-control": "no-cache",
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      fail(
        e.code === "EADDRINUSE"
          ? new UsageError(`port ${port} is in use; choose another with --port`)
          : e.code === "EACCES"
            ? new UsageError(`port ${port} needs privileges; choose one above 1023 with --port`)
            : e,
      ),
    );
    server.listen(port, host, () => ok());
  });
  const addr = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${addr.port}/`,
    // a browser keeps its connections alive; close them, or close() waits for their timeout
    close: () =>
      new Promise((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
