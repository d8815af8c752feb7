// Per-image cost of decoding + transforming a JPEG (eval transform at --size, from bytes already in
// memory) with psvit's decoder, one in flight and --in-flight at once. Which decoder: the native one
// (native/jpeg.c) where built, sharp with PSVIT_NATIVE_JPEG=0; the line says which ran.
//   node bench/jpeg-decode.mjs [--dir runs/folder-jpeg] [--files 150] [--size 224] [--in-flight 4] [--rounds 2]
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { opt, root } from "./args.mjs";

const DIR = path.resolve(opt("dir", "runs/folder-jpeg"));
const FILES = Number(opt("files", "150"));
const SIZE = Number(opt("size", "224"));
const IN_FLIGHT = Number(opt("in-flight", "4"));
const ROUNDS = Number(opt("rounds", "2"));
const { decodeToInput } = await import(path.join(root, "dist/data/stream/decode.js"));
const { jpegDecoder } = await import(path.join(root, "dist/data/stream/native.js"));

const classes = readdirSync(DIR).sort();
const files = classes
  .flatMap((c) => readdirSync(path.join(DIR, c)).map((f) => path.join(DIR, c, f)))
  .filter((f) => /\.jpe?g$/i.test(f))
  .slice(0, FILES);
// read once: the files are then in the page cache, as in a training's second epoch
for (const f of files) readFileSync(f);
async function pass(inFlight) {
  let i = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (i < files.length) await decodeToInput(files[i++], { size: SIZE, channels: 3 });
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return (performance.now() - t0) / files.length;
}
const rows = [];
for (let r = 0; r < ROUNDS; r++)
  for (const k of [1, IN_FLIGHT]) rows.push({ round: r + 1, inFlight: k, msPerImage: await pass(k) });
const d = jpegDecoder();
for (const row of rows)
  console.log(
    `${d.name}: round ${row.round}, ${row.inFlight} in flight: ${row.msPerImage.toFixed(3)} ms per image`,
  );
