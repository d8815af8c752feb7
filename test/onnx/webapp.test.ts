/// <reference lib="dom" />
/**
 * The web export in a real browser: `psvit convert --to web` writes the folder, `psvit serve`'s server
 * serves it, headless Chromium opens index.html, a Fashion-MNIST test image (a 28×28 PNG, fitted by
 * the page as psvit fits it) is picked through the page's file input, and the page's top-1 equals
 * `psvit predict`'s on the same file, its top-5 probabilities equal the softmax of predict's logits
 * (to the page's 0.1% rounding), and it shows an inference time. Also: nothing is fetched from
 * outside the folder, and the server serves nothing outside it.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, ElementHandle } from "puppeteer-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { predictCommand } from "../../src/cli/commands/predict.js";
import { captureIo } from "../../src/cli/io.js";
import { FASHION_MNIST_CLASSES } from "../../src/data/embedded.js";
import { readIdxImages } from "../../src/data/idx.js";
import { convertModel } from "../../src/onnx/export.js";
import { type StaticServer, serveFolder } from "../../src/webapp/serve.js";
import { tempDir } from "../helpers.js";
import { useCpu } from "../model/fixtures.js";
import { FMNIST_TEST_IMAGES, ONNX_CASES, writeRandomModel } from "./cases.js";
import { launchChromium } from "./chromium.js";

async function predictFolder(config: string, weights: string, images: string) {
  const io = captureIo();
  await predictCommand(config, { weights, images, json: true, backend: "cpu" }, io);
  return io.stdout
    .join("")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { top1: number; logits: number[] });
}

const softmax = (row: number[]) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

describe("web export in headless Chromium", () => {
  const dir = tempDir("psvit-web-");
  let browser: Browser;
  let server: StaticServer;
  let files: { config: string; weights: string };
  const pngs: string[] = [];
  const want: Array<{ top1: number; logits: number[] }> = [];

  beforeAll(async () => {
    await useCpu();
    files = await writeRandomModel(dir, ONNX_CASES[0], 5);
    // the first Fashion-MNIST test images as PNG files; keep three the model tells apart, if it does
    const idx = await readIdxImages(FMNIST_TEST_IMAGES);
    const all = join(dir, "all");
    mkdirSync(all);
    for (let i = 0; i < 60; i++) {
      const px = idx.images.subarray(i * 784, (i + 1) * 784);
      await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toFile(join(all, `${String(i).padStart(3, "0")}.png`));
    }
    // and larger colour images: the resize + centre-crop path, and the RGB → grey conversion
    for (let i = 0; i < 20; i++) {
      const px = idx.images.subarray(i * 784, (i + 1) * 784);
      await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } })
        .resize(45, 38, { fit: "fill" })
        .toColourspace("srgb")
        .png()
        .toFile(join(all, `big-${String(i).padStart(3, "0")}.png`));
    }
    const rows = await predictFolder(files.config, files.weights, all);
    const names = readdirSync(all).sort();
    const seen = new Set<number>();
    rows.forEach((r, i) => {
      if (pngs.length < 3 && !names[i].startsWith("big-") && (!seen.has(r.top1) || i === rows.length - 1)) {
        seen.add(r.top1);
        pngs.push(join(all, names[i]));
        want.push(r);
      }
    });
    // two of the larger ones
    const big = names.flatMap((n, i) => (n.startsWith("big-") ? [i] : []));
    expect(big).toHaveLength(20);
    for (const i of [big[0], big[7]]) {
      pngs.push(join(all, names[i]));
      want.push(rows[i]);
    }
    expect(new Set(want.map((w) => w.top1)).size, "the model tells some of the images apart").toBeGreaterThan(
      1,
    );
    const { path } = await convertModel({
      config: files.config,
      weights: files.weights,
      to: "web",
      out: join(dir, "web"),
      labels: FASHION_MNIST_CLASSES.join(","),
    });
    server = await serveFolder(path, 0);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("writes the page, the model, its metadata and onnxruntime-web's files", () => {
    expect(readdirSync(join(dir, "web")).sort()).toEqual([
      "app.js",
      "index.html",
      "model.json",
      "model.onnx",
      "ort-wasm-simd-threaded.mjs",
      "ort-wasm-simd-threaded.wasm",
      "ort.wasm.min.js",
      "psvit",
    ]);
    expect(readdirSync(join(dir, "web", "psvit", "data"))).toEqual(["fit.js"]);
  });

  it("shows psvit predict's top-1 and top-5 probabilities for a picked image, with the inference time", async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (r) => requested.push(r.url()));
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    for (const [i, png] of pngs.entries()) {
      const input = (await page.$("input#file")) as ElementHandle<HTMLInputElement> | null;
      await input!.uploadFile(png);
      // the page counts the images it has classified (data-seq 0, 1, …) and marks a failure
      await page.waitForFunction(
        (seq) => {
          const s = document.getElementById("status")!;
          return s.dataset.seq === seq || s.className === "error";
        },
        { timeout: 30_000 },
        String(i),
      );
      const shown = await page.evaluate(() => {
        const s = document.getElementById("status")!;
        const rows = Array.from(document.querySelectorAll("#top5 tr")).map((tr) => ({
          k: Number((tr as HTMLElement).dataset.class),
          name: tr.children[1].textContent,
          pct: Number.parseFloat(tr.children[2].textContent!),
        }));
        return { top1: Number(s.dataset.top1), ms: Number(s.dataset.ms), text: s.textContent, rows };
      });
      expect(shown.text).not.toMatch(/^cannot/);
      expect(shown.top1, png).toBe(want[i].top1);
      expect(shown.text).toContain(FASHION_MNIST_CLASSES[want[i].top1]);
      expect(shown.ms).toBeGreaterThan(0);
      const p = softmax(want[i].logits);
      expect(shown.rows).toHaveLength(5);
      for (const r of shown.rows) {
        expect(r.name).toBe(FASHION_MNIST_CLASSES[r.k]);
        expect(Math.abs(r.pct - 100 * p[r.k])).toBeLessThanOrEqual(0.051);
      }
    }
    expect(errors).toEqual([]);
    // everything the page loaded came from the served folder
    for (const u of requested) expect(u.startsWith(server.url) || u.startsWith("blob:"), u).toBe(true);
    await page.close();
  }, 120_000);

  it("the server serves the folder's files only", async () => {
    const get = (p: string) => fetch(new URL(p, server.url)).then((r) => r.status);
    expect(await get("model.json")).toBe(200);
    expect(await get("%2e%2e/web.model.json")).toBe(404);
    expect(await get("../onnx-conv2d.model.json")).toBe(404);
    expect(await get("missing.js")).toBe(404);
    const wasm = await fetch(new URL("ort-wasm-simd-threaded.wasm", server.url));
    expect(wasm.headers.get("content-type")).toBe("application/wasm");
  });
});
