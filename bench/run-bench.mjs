#!/usr/bin/env node
import { benchCommand } from "../dist/cli/commands/bench.js";
// Run `psvit bench` from the build (dist/) without the CLI wiring: node bench/run-bench.mjs FILE [--arch S] [--batch N] [--steps N] [--backend B] [--threads N] [--json]
import { processIo } from "../dist/cli/io.js";

const args = process.argv.slice(2);
const file = args.shift();
const opts = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--json") opts.json = true;
  else if (a.startsWith("--")) opts[a.slice(2)] = args[++i];
}
await benchCommand(file, opts, processIo);
