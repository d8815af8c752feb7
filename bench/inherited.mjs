// The supernet's inherited top-1 of the architectures a searched-vs-random study retrained: scored as the
// search's final stage scores its top k (the run's checkpoint that the search used, every validation
// image, the search's seed), so the winner's number reproduces the final stage's, and the random draws
// get theirs on the same images (to set beside their retrained accuracies: does the supernet order the
// band as training from scratch does?).
//   node bench/inherited.mjs --run PIPELINE_DIR --archs STUDY/archs.json [--strategy evolution]
//        [--out FILE.json] [--seed 0]
// A run without that search (a bare `psvit train-supernet` run, e.g. another supernet seed to set beside
// the pipeline's) is scored at its latest checkpoint, on every validation image in --seed's order (as a
// search with --seed would score it).
// Prints {role, arch, inherited, se, n} per architecture entry (the DeiT-like config is not a path of the
// space).
// Needs `npm run build`.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseSpaceConfig } from "../dist/config/validate.js";
import { materialize } from "../dist/data/stream/split.js";
import { startBackend } from "../dist/engine/start.js";
import { fitnessSet, pathAccuracy, supernetFromCheckpoint } from "../dist/eval/fitness.js";
import { accuracySe } from "../dist/search/significance.js";
import { parseArch } from "../dist/space/arch.js";
import { loadRunData } from "../dist/train/run.js";
import { RunDir } from "../dist/train/rundir.js";
import { opt } from "./args.mjs";

const RUN = opt("run", undefined);
const ARCHS = opt("archs", undefined);
if (!RUN || !ARCHS) {
  console.error("usage: node bench/inherited.mjs --run PIPELINE_DIR --archs STUDY/archs.json");
  process.exit(2);
}
const strategy = opt("strategy", "evolution");
const OUT = opt("out", undefined);

const run = RunDir.open(path.resolve(RUN), { resume: true });
const snap = run.readJson("run.json");
const searchFile = `search-${strategy}/search.json`;
const search = existsSync(run.path(searchFile))
  ? run.readJson(searchFile)
  : { checkpoint: run.latestCheckpoint(), seed: Number(opt("seed", "0")) };
if (!search.checkpoint) throw new Error(`${RUN} has neither ${searchFile} nor a checkpoint`);
const space = parseSpaceConfig(snap.space);
const plan = JSON.parse(readFileSync(ARCHS, "utf8"));

await startBackend(undefined);
const data = await loadRunData(snap);
// an image folder's validation split is decoded once, as the search does
const val = await materialize(data.val, snap.data.skipBadImages);
const set = fitnessSet(val, snap.preprocess, search.seed);
const net = await supernetFromCheckpoint(run.storedCheckpoint(search.checkpoint.file), space);
const rows = [];
for (const e of plan.entries.filter((x) => x.arch)) {
  const p = await pathAccuracy(net, parseArch(e.arch), set);
  rows.push({ role: e.role, arch: e.arch, inherited: p, se: accuracySe(p, set.n), n: set.n });
  console.error(`${e.role} ${e.arch}: ${(p * 100).toFixed(2)}% on ${set.n} images`);
}
const result = { run: RUN, step: search.checkpoint.step, seed: search.seed, rows };
if (OUT) {
  writeFileSync(`${OUT}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(`${OUT}.tmp`, OUT);
}
console.log(JSON.stringify(result, null, 2));
