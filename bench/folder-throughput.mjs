// Issue 20 item 4: decode + transform throughput of psvit's folder stream against torchvision's
// ImageFolder + DataLoader(num_workers=W) with the same transforms, on the same folder of mixed-size
// JPEGs (≈ 500×375 on average, the ImageNet mean; portrait and landscape), the two taking turns.
//   node bench/folder-throughput.mjs [--dir runs/folder-jpeg] [--images 2000] [--size 224] [--batch 64]
//        [--workers 2] [--rounds 3] [--eval] [--decoders turbojpeg,libvips] [--in-flight N]
// Generates the folder once (10 classes of smooth random pictures, JPEG quality 90), then per round
// one pass of each contender, in a rotating order: psvit with each of its JPEG decoders (turbojpeg:
// the native one, native/jpeg.c; libvips: sharp, PSVIT_NATIVE_JPEG=0), each pass in a process of its
// own, and torchvision; prints a Markdown table (images/s per round, median, ratio to torchvision) and
// writes DIR-train.json / DIR-eval.json.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { argv, benchDir, opt, root } from "./args.mjs";
import { generateJpegFolder } from "./folder-gen.mjs";

const DIR = path.resolve(opt("dir", "runs/folder-jpeg"));
const N = Number(opt("images", "2000"));
const SIZE = Number(opt("size", "224"));
const BATCH = Number(opt("batch", "64"));
const WORKERS = Number(opt("workers", "2"));
const ROUNDS = Number(opt("rounds", "3"));
const EVAL = argv.includes("--eval");
const DECODERS = opt("decoders", "turbojpeg,libvips").split(",");
const IN_FLIGHT = opt("in-flight", undefined) ? Number(opt("in-flight")) : undefined;

const { jpegDecoder } = await import(path.join(root, "dist/data/stream/native.js"));
const { folderIndex } = await import(path.join(root, "dist/data/stream/index.js"));
const { FolderBatchStream } = await import(path.join(root, "dist/data/stream/folder-stream.js"));
const { IMAGENET_TRAIN } = await import(path.join(root, "dist/data/stream/transforms.js"));

async function psvitPass() {
  const { index } = await folderIndex(DIR);
  const s = new FolderBatchStream(index, {
    batchSize: BATCH,
    seed: 0,
    size: SIZE,
    channels: 3,
    preprocess: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    shuffle: !EVAL,
    crop: EVAL ? null : IMAGENET_TRAIN,
    flipProb: EVAL ? 0 : 0.5,
    // what a training run uses (four decodes in flight per core), unless --in-flight says otherwise
    ...(IN_FLIGHT ? { concurrency: IN_FLIGHT } : {}),
    prefetch: 2,
  });
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < s.stepsPerEpoch; i++) n += (await s.next()).size;
  const seconds = (performance.now() - t0) / 1000;
  await s.close();
  return { images: n, seconds, images_per_sec: n / seconds, decoder: jpegDecoder().name };
}

/** One psvit pass in a fresh process, with the decoder asked for. */
function psvitChild(decoder) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...argv, "--child-pass"], {
    encoding: "utf8",
    env: { ...process.env, PSVIT_NATIVE_JPEG: decoder === "libvips" ? "0" : "1" },
  });
  const r = JSON.parse(out.trim().split("\n").at(-1));
  if (r.decoder !== decoder) throw new Error(`asked for the ${decoder} decoder, the pass ran ${r.decoder}`);
  return r;
}

if (argv.includes("--child-pass")) {
  console.log(JSON.stringify(await psvitPass()));
  process.exit(0);
}

function torchPass() {
  const out = execFileSync(
    "/usr/bin/python3",
    [
      path.join(benchDir, "torch_folder.py"),
      DIR,
      "--size",
      String(SIZE),
      "--batch",
      String(BATCH),
      "--workers",
      String(WORKERS),
      ...(EVAL ? ["--eval"] : []),
    ],
    { encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").at(-1));
}

await generateJpegFolder(DIR, N);
const contenders = [...DECODERS.map((d) => `psvit ${d}`), "torchvision"];
const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  // rotate who goes first, so a slow spell does not always hit the same side
  const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
  const row = { round: r + 1 };
  for (const c of order)
    row[c] = (c === "torchvision" ? torchPass() : psvitChild(c.slice("psvit ".length))).images_per_sec;
  rows.push(row);
  console.error(`round ${r + 1}: ${contenders.map((c) => `${c} ${row[c].toFixed(1)}`).join(", ")} img/s`);
}
const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const median = Object.fromEntries(contenders.map((c) => [c, med(rows.map((r) => r[c]))]));
const ratios = Object.fromEntries(
  contenders.slice(0, -1).map((c) => [c, med(rows.map((r) => r[c] / r.torchvision))]),
);
const summary = {
  date: new Date().toISOString(),
  images: N,
  size: SIZE,
  batch: BATCH,
  workers: WORKERS,
  transform: EVAL ? "eval" : "train",
  rows,
  median,
  ratioToTorchvision: ratios,
};
writeFileSync(`${DIR}-${summary.transform}.json`, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`| round | ${contenders.map((c) => `${c} img/s`).join(" | ")} |`);
console.log(`| --- | ${contenders.map(() => "---").join(" | ")} |`);
for (const r of rows) console.log(`| ${r.round} | ${contenders.map((c) => r[c].toFixed(1)).join(" | ")} |`);
console.log(`| median | ${contenders.map((c) => median[c].toFixed(1)).join(" | ")} |`);
console.log(
  `| median ratio to torchvision | ${contenders.map((c) => (ratios[c] ? `${ratios[c].toFixed(2)}×` : "1")).join(" | ")} |`,
);
