// Issue 20 item 4: decode + transform throughput of psvit's folder stream against torchvision's
// ImageFolder + DataLoader(num_workers=W) with the same transforms, on the same folder of mixed-size
// JPEGs (≈ 500×375 on average, the ImageNet mean; portrait and landscape), the two taking turns.
//   node bench/folder-throughput.mjs [--dir runs/folder-jpeg] [--images 2000] [--size 224] [--batch 64]
//        [--workers 2] [--rounds 3] [--eval]
// Generates the folder once (10 classes of smooth random pictures, JPEG quality 90), then per round
// one pass of each; prints a Markdown table (images/s per round, median, ratio) and writes DIR.json.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { argv, benchDir, opt, root } from "./args.mjs";
import { generateJpegFolder } from "./folder-gen.mjs";

const DIR = path.resolve(opt("dir", "runs/folder-jpeg"));
const N = Number(opt("images", "2000"));
const SIZE = Number(opt("size", "224"));
const BATCH = Number(opt("batch", "64"));
const WORKERS = Number(opt("workers", "2"));
const ROUNDS = Number(opt("rounds", "3"));
const EVAL = argv.includes("--eval");

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
    concurrency: WORKERS,
    prefetch: 2,
  });
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < s.stepsPerEpoch; i++) n += (await s.next()).size;
  const seconds = (performance.now() - t0) / 1000;
  await s.close();
  return { images: n, seconds, images_per_sec: n / seconds };
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
const rows = [];
for (let r = 0; r < ROUNDS; r++) {
  // alternate who goes first, so a slow spell does not always hit the same side
  const [a, b] = r % 2 === 0 ? [await psvitPass(), torchPass()] : [null, torchPass()];
  const p = a ?? (await psvitPass());
  rows.push({
    round: r + 1,
    psvit: p.images_per_sec,
    torch: b.images_per_sec,
    ratio: p.images_per_sec / b.images_per_sec,
  });
  console.error(
    `round ${r + 1}: psvit ${p.images_per_sec.toFixed(1)} img/s, torchvision ${b.images_per_sec.toFixed(1)} img/s`,
  );
}
const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const summary = {
  date: new Date().toISOString(),
  images: N,
  size: SIZE,
  batch: BATCH,
  workers: WORKERS,
  transform: EVAL ? "eval" : "train",
  rows,
  median: {
    psvit: med(rows.map((r) => r.psvit)),
    torch: med(rows.map((r) => r.torch)),
    ratio: med(rows.map((r) => r.ratio)),
  },
};
writeFileSync(`${DIR}-${summary.transform}.json`, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`| round | psvit img/s | torchvision img/s | psvit / torchvision |\n| --- | --- | --- | --- |`);
for (const r of rows)
  console.log(`| ${r.round} | ${r.psvit.toFixed(1)} | ${r.torch.toFixed(1)} | ${r.ratio.toFixed(2)}× |`);
console.log(
  `| median | ${summary.median.psvit.toFixed(1)} | ${summary.median.torch.toFixed(1)} | ${summary.median.ratio.toFixed(2)}× |`,
);
