// The page of `psvit export --format web`: loads model.json (config, class names) and model.onnx
// (uint8 NHWC pixels in, logits and probabilities out) with onnxruntime-web, fits a dropped or picked
// image to the model's input as psvit predict does (src/data/fit.ts: pad a smaller image centred with
// black, else resize the shorter side and centre-crop; grey by ITU-R 601 luma), runs it and shows the
// top-5 classes and the inference time. Nothing is fetched from outside this folder.

const $ = (id) => document.getElementById(id);
const state = { session: null, meta: null };

function setStatus(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

/** The image drawn as psvit fits it: a size×size canvas (black where the image does not reach). */
function fitToCanvas(img, size) {
  const w = img.naturalWidth || img.width;
  const h = img.naturalHeight || img.height;
  const canvas = $("input");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  if (w <= size && h <= size) {
    ctx.drawImage(img, Math.floor((size - w) / 2), Math.floor((size - h) / 2));
  } else {
    const [rh, rw] =
      h <= w
        ? [size, Math.max(size, Math.floor((w * size) / h))]
        : [Math.max(size, Math.floor((h * size) / w)), size];
    ctx.drawImage(img, -Math.floor((rw - size) / 2), -Math.floor((rh - size) / 2), rw, rh);
  }
  return ctx.getImageData(0, 0, size, size).data; // RGBA
}

/** RGBA → the model's channels, uint8 NHWC [1, size, size, channels]. */
function pixelsFor(rgba, size, channels) {
  const n = size * size;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    if (channels === 1) out[p] = (19595 * r + 38470 * g + 7471 * b + 32768) >>> 16;
    else {
      out[3 * p] = r;
      out[3 * p + 1] = g;
      out[3 * p + 2] = b;
    }
  }
  return out;
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
    const pixels = pixelsFor(fitToCanvas(img, size), size, channels);
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

main().catch((e) => {
  const hint =
    location.protocol === "file:"
      ? " — browsers do not let a page opened from a file read the files beside it; serve the folder: psvit serve FOLDER"
      : "";
  setStatus(`cannot load the model: ${e.message || e}${hint}`, true);
});
