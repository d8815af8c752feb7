// The page of `psvit export --format web`: loads model.json (config, class names) and model.onnx
// (uint8 NHWC pixels in, logits and probabilities out) with onnxruntime-web, fits a dropped or picked
// image to the model's input with psvit predict's own code (src/data/fit.ts, in psvit/: pad a smaller
// image centred with black, else resize the shorter side and centre-crop; grey by ITU-R 601 luma), runs
// it and shows the top-5 classes and the inference time. Nothing is fetched from outside this folder.
// A module script: ort.wasm.min.js (a classic script before it) defines the global `ort`.
import { fitImages } from "./psvit/data/fit.js";

const $ = (id) => document.getElementById(id);
const state = { session: null, meta: null };

function setStatus(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

/**
 * The image fitted as `psvit predict` fits it, by psvit's own code (src/data/fit.ts, copied into this
 * folder): decoded at its own size by the browser, its RGB pixels converted to the model's channels,
 * zero-padded (smaller) or resized + centre-cropped (larger). Also drawn, scaled up, beside the result.
 */
function fitImage(img, size, channels) {
  const w = img.naturalWidth || img.width;
  const h = img.naturalHeight || img.height;
  const source = document.createElement("canvas");
  source.width = w;
  source.height = h;
  const sctx = source.getContext("2d", { willReadFrequently: true });
  sctx.drawImage(img, 0, 0);
  const rgba = sctx.getImageData(0, 0, w, h).data;
  const rgb = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) {
    rgb[3 * p] = rgba[4 * p];
    rgb[3 * p + 1] = rgba[4 * p + 1];
    rgb[3 * p + 2] = rgba[4 * p + 2];
  }
  const fitted = fitImages(rgb, 1, h, w, 3, { size, channels }).images;
  const canvas = $("input");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const shown = ctx.createImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) shown.data[4 * p + c] = fitted[p * channels + (channels === 1 ? 0 : c)];
    shown.data[4 * p + 3] = 255;
  }
  ctx.putImageData(shown, 0, 0);
  return fitted;
}

function showTop5(probs, ms) {
  const names = state.meta.labels;
  const order = Array.from(probs.keys())
    .sort((a, b) => probs[b] - probs[a])
    .slice(0, 5);
  const body = $("top5");
  body.replaceChildren();
  order.forEach((k, i) => {
    const tr = document.createElement("tr");
    tr.dataset.class = String(k);
    const pct = (100 * probs[k]).toFixed(1);
    tr.innerHTML = `<td>${i + 1}</td><td></td><td class="p">${pct}%</td><td><div class="bar" style="width:${Math.max(1, 1.2 * pct)}px"></div></td>`;
    tr.children[1].textContent = names[k];
    body.appendChild(tr);
  });
  $("row").hidden = false;
  const result = $("status");
  result.dataset.top1 = String(order[0]);
  result.dataset.ms = ms.toFixed(2);
  result.dataset.seq = String(Number(result.dataset.seq ?? -1) + 1); // one more image classified
  setStatus(
    `top-1: ${names[order[0]]} (${(100 * probs[order[0]]).toFixed(1)}%) — inference ${ms.toFixed(1)} ms`,
  );
}

async function classify(file) {
  if (!state.session) return;
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const { size, channels } = state.meta.config.image;
    const pixels = fitImage(img, size, channels);
    const input = new ort.Tensor("uint8", pixels, [1, size, size, channels]);
    const t0 = performance.now();
    const out = await state.session.run({ images: input });
    const ms = performance.now() - t0;
    showTop5(out.probabilities.data, ms);
  } catch (e) {
    setStatus(`cannot classify ${file.name}: ${e.message || e}`, true);
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function main() {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL("./", location.href).href;
  state.meta = await (await fetch("model.json")).json();
  const c = state.meta.config;
  document.title = c.name;
  $("title").textContent = c.name;
  $("about").textContent =
    `${c.image.size}×${c.image.size}×${c.image.channels} input, ${c.numClasses} classes, ` +
    `${state.meta.flops_human} · psvit ${state.meta.psvit} · onnxruntime-web (wasm)`;
  state.session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  // one run on a black image first: the inference time shown is then the model's, not the warm-up's
  const { size, channels } = c.image;
  await state.session.run({
    images: new ort.Tensor("uint8", new Uint8Array(size * size * channels), [1, size, size, channels]),
  });
  setStatus("ready: drop or pick an image");
  document.body.dataset.ready = "true";

  const drop = $("drop");
  $("file").addEventListener("change", (e) => e.target.files[0] && classify(e.target.files[0]));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]);
  });
}

main().catch((e) => setStatus(`cannot load the model: ${e.message || e}`, true));
