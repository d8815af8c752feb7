// The screenshot of the web export in docs/DEPLOY.md: converts a trained model to a web folder, serves
// it, opens it in headless Chromium (Debian's chromium), picks an image through the page's file input
// and saves what the page shows.
//   node bench/web-screenshot.mjs --config M.model.json --weights W.safetensors --image IMG.png
//        [--labels fashion-mnist|a,b,c] [--out docs/img/web-export.png]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { opt, root } from "./args.mjs";

const { convertModel } = await import(path.join(root, "dist/onnx/export.js"));
const { serveFolder } = await import(path.join(root, "dist/webapp/serve.js"));
const { FASHION_MNIST_CLASSES } = await import(path.join(root, "dist/data/embedded.js"));

const labels = opt("labels", "fashion-mnist");
const dir = path.join(mkdtempSync(path.join(tmpdir(), "psvit-shot-")), "web");
await convertModel({
  config: path.resolve(opt("config")),
  weights: path.resolve(opt("weights")),
  to: "web",
  out: dir,
  labels: labels === "fashion-mnist" ? FASHION_MNIST_CLASSES.join(",") : labels,
});
const server = await serveFolder(dir, 0);
const browser = await puppeteer.launch({
  executablePath: process.env.PSVIT_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 820, height: 560, deviceScaleFactor: 1 });
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  const input = await page.$("#file");
  await input.uploadFile(path.resolve(opt("image")));
  await page.waitForFunction(() => document.getElementById("status").dataset.seq === "0", {
    timeout: 60_000,
  });
  const out = path.resolve(opt("out", "docs/img/web-export.png"));
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: ${await page.$eval("#status", (s) => s.textContent)}`);
} finally {
  await browser.close();
  await server.close();
}
