/**
 * The pure core (search space, architecture strings, config validation, the FLOPs counter, the search
 * algorithms) imports no tensors and does no I/O: neither it nor anything it imports, transitively,
 * names TensorFlow.js, a chart library or a Node.js module. Journals, reports and run directories sit
 * beside it (src/searchrun, src/report, src/train).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

const CORE = [
  ...["space", "search", "flops"].flatMap((d) =>
    readdirSync(join(ROOT, "src", d))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `src/${d}/${f}`),
  ),
  "src/config/schema.ts",
  "src/config/validate.ts",
  "src/config/geometry.ts",
  "src/onnx/graph.ts",
  "src/onnx/proto.ts",
];
const FORBIDDEN = /^(@tensorflow\/|vega|node:|fs$|path$|os$|child_process$|worker_threads$)/;

/** Every module `file` imports, transitively: [importer, specifier] pairs. */
function closure(file: string): [string, string][] {
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const src = readFileSync(f, "utf8");
    for (const m of src.matchAll(
      /(?:^|\s)(?:import|export)\s[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm,
    )) {
      const spec = m[1] ?? m[2];
      edges.push([relative(ROOT, f), spec]);
      if (spec.startsWith(".")) visit(resolve(dirname(f), spec.replace(/\.js$/, ".ts")));
    }
  };
  visit(join(ROOT, file));
  return edges;
}

describe("the pure core", () => {
  it.each(CORE)("%s imports no tfjs, no charts and no Node.js I/O, transitively", (file) => {
    const bad = closure(file).filter(([, spec]) => FORBIDDEN.test(spec));
    expect(bad.map(([f, s]) => `${f} imports ${s}`)).toEqual([]);
  });
  it("the check sees an import it forbids", () => {
    const bad = closure("src/searchrun/journal.ts").filter(([, spec]) => FORBIDDEN.test(spec));
    expect(bad.map(([, s]) => s)).toContain("node:fs");
  });
});

describe("commands over domain services", () => {
  const commands = readdirSync(join(ROOT, "src/cli/commands")).filter((f) => f.endsWith(".ts"));
  it.each(commands)("src/cli/commands/%s imports no other command module", (f) => {
    const src = readFileSync(join(ROOT, "src/cli/commands", f), "utf8");
    const local = [...src.matchAll(/from\s*["'](\.\/[^"']+)["']|import\(\s*["'](\.\/[^"']+)["']/g)].map(
      (m) => m[1] ?? m[2],
    );
    expect(local).toEqual([]);
  });
  const domain = [
    "src/train/run.ts",
    "src/searchrun/run.ts",
    "src/searchrun/export.ts",
    "src/study/rank-corr.ts",
  ];
  it.each(domain)("%s (a domain service) reaches nothing under src/cli, transitively", (file) => {
    const up = closure(file).filter(([, spec]) => /(^|\/)cli\//.test(spec));
    expect(up.map(([f, s]) => `${f} imports ${s}`)).toEqual([]);
  });
});
