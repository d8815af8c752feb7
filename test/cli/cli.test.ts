import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { exitCodeFor, runCli } from "../../src/cli/run.js";
import { ConfigError, DataError, UsageError } from "../../src/errors.js";
import { parseQuantity } from "../../src/util/units.js";
import { versions } from "../../src/version.js";
import { ROOT, writeTempJson } from "../helpers.js";

async function cli(...args: string[]) {
  const io = captureIo();
  const code = await runCli(["node", "psvit", ...args], io);
  return { code, stdout: io.stdout.join(""), stderr: io.stderr.join("") };
}

describe("psvit flops", () => {
  it("prints a table for a model config", async () => {
    const r = await cli("flops", `${ROOT}/configs/hvt-s-1.json`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("2.40 G");
    expect(r.stdout).toContain("22.09 M");
    expect(r.stdout).toContain("FLOPs (multiply-accumulates) 2,402,020,608, params 22,087,144");
  });
  it("--json has flops, params and per-stage rows", async () => {
    const r = await cli("flops", `${ROOT}/configs/hvt-s-1.json`, "--json");
    const j = JSON.parse(r.stdout);
    expect(j.flops).toBe(2402020608);
    expect(j.params).toBe(22087144);
    expect(j.stages).toHaveLength(2);
    expect(j.stages[1]).toMatchObject({
      index: 1,
      tokens: 97,
      dim: 384,
      heads: 6,
      layers: 11,
      reuse_layers: 0,
    });
    expect(j.stages[0].flops + j.stages[1].flops + j.embed.flops + j.head.flops).toBe(j.flops);
  });
  it("a space needs --arch, and --arch materialises it", async () => {
    const space = `${ROOT}/search-spaces/psvit-2d-tiny.json`;
    const none = await cli("flops", space);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^psvit: .*psvit-2d-tiny\.json is a search space \(psvit\.space\): add --arch STRING/,
    );
    const r = await cli("flops", space, "--arch", "BSIBBS-SSBIBB-BBISSB", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).stages.map((s: { layers: number }) => s.layers)).toEqual([7, 7, 7]);
    const bad = await cli("flops", space, "--arch", "BSIBBS-SSBIBB");
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });
  it("--arch on a model config is a usage error", async () => {
    const r = await cli("flops", `${ROOT}/configs/deit-ti.json`, "--arch", "B");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--arch is for space files");
  });
  it("config errors: one line naming file and path, exit 2", async () => {
    const file = writeTempJson("m.json", { kind: "psvit.model", version: 1 });
    const r = await cli("flops", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^psvit: ${file}: name: `));
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    const missing = await cli("flops", "/no/such.json");
    expect(missing).toMatchObject({ code: 2, stderr: "psvit: /no/such.json: no such file\n" });
  });
});

describe("psvit space", () => {
  const space = `${ROOT}/search-spaces/fmnist-2d.json`;
  it("--json keys", async () => {
    const r = await cli("space", space, "--json");
    const j = JSON.parse(r.stdout);
    expect(j.size).toBe(387420489);
    expect(j.min_flops).toBeLessThan(j.median_flops);
    expect(j.median_flops).toBeLessThan(j.max_flops);
    expect(j).not.toHaveProperty("under_budget");
    expect(j.histogram).toHaveLength(20);
  });
  it("a budget reports how many architectures fit", async () => {
    const r = await cli("space", space, "--budget", "25M", "--json");
    const j = JSON.parse(r.stdout);
    expect(j.budget_flops).toBe(25_000_000);
    expect(j.under_budget).toBeGreaterThan(0);
    expect(j.under_budget).toBeLessThan(j.size);
    expect(j.under_budget_fraction).toBeCloseTo(j.under_budget / j.size, 12);
    const all = JSON.parse((await cli("space", space, "--budget", "1G", "--json")).stdout);
    expect(all.under_budget).toBe(all.size);
    const text = await cli("space", space, "--budget", "25M");
    expect(text.stdout).toMatch(
      /budget FLOPs ≤ 25\.0 M: [\d,]+ of 387,420,489 architectures fit \([\d.]+%\)/,
    );
    expect(text.stdout).toContain("█");
  });
  it("a budget below the smallest architecture says so", async () => {
    const r = await cli("space", space, "--budget", "1K");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no architecture fits: the smallest needs");
  });
  it("a bad budget is a usage error", async () => {
    const r = await cli("space", space, "--budget", "lots");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--budget: cannot read "lots"');
  });
  it("--sample draws seeded architectures that satisfy the budget and the range", async () => {
    const args = ["space", space, "--budget", "25M", "--flops-range", "24M:", "--sample", "5", "--seed", "3"];
    const a = JSON.parse((await cli(...args, "--json")).stdout);
    const b = JSON.parse((await cli(...args, "--json")).stdout);
    expect(a).toEqual(b);
    expect(a.samples).toHaveLength(5);
    expect(BigInt(a.pool)).toBeGreaterThan(0n);
    for (const s of a.samples) {
      expect(s.arch).toMatch(/^[BSI]{6}-[BSI]{6}-[BSI]{6}$/);
      expect(s.flops).toBeGreaterThanOrEqual(24e6);
      expect(s.flops).toBeLessThanOrEqual(25e6);
      const counted = JSON.parse((await cli("flops", space, "--arch", s.arch, "--json")).stdout);
      expect(counted.flops).toBe(s.flops);
    }
    const other = JSON.parse((await cli(...args.slice(0, -1), "4", "--json")).stdout);
    expect(other.samples).not.toEqual(a.samples);
    const text = await cli("space", space, "--sample", "2");
    expect(text.stdout).toMatch(/2 of 387,420,489 architectures of fmnist-2d, drawn uniformly \(seed 0\)/);
  });
  it("--sample refuses a count of 0, an empty range, and --seed alone", async () => {
    expect((await cli("space", space, "--sample", "0")).stderr).toContain(
      "--sample: expected a positive whole number",
    );
    const empty = await cli("space", space, "--flops-range", "1K:2K", "--sample", "1");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("its FLOPs run from 1.38 M to 63.8 M");
    expect((await cli("space", space, "--seed", "1")).stderr).toContain(
      "--flops-range and --seed go with --sample",
    );
  });
  it("a model config is not a space", async () => {
    const r = await cli("space", `${ROOT}/configs/deit-s.json`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('kind: must be "psvit.space"');
  });
});

describe("budgets", () => {
  it("accepts the documented forms", () => {
    expect(parseQuantity("1.3G", "--flops")).toBe(1_300_000_000);
    expect(parseQuantity("850M", "--flops")).toBe(850_000_000);
    expect(parseQuantity("5e8", "--flops")).toBe(500_000_000);
    expect(parseQuantity("1.3GFLOPs", "--flops")).toBe(1_300_000_000);
    expect(parseQuantity("25m", "--flops")).toBe(25_000_000);
    expect(parseQuantity("1.5M", "--params")).toBe(1_500_000);
    expect(parseQuantity("2.5 M params", "--params")).toBe(2_500_000);
    expect(parseQuantity("300k", "--flops")).toBe(300_000);
  });
  it("rejects junk, zero and negatives", () => {
    for (const bad of ["", "G", "-5M", "0", "1.3X", "1..3G", "abc"]) {
      expect(() => parseQuantity(bad, "--flops")).toThrow(UsageError);
    }
  });
});

describe("exit codes", () => {
  it("usage errors from commander exit 2, help exits 0", async () => {
    expect((await cli("flops")).code).toBe(2);
    expect((await cli("flops", "x.json", "--nope")).code).toBe(2);
    expect((await cli("no-such-command")).code).toBe(2);
    const help = await cli("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("flops");
    expect((await cli("--version")).code).toBe(0);
  });
  it("--version and run.json's versions are package.json's version (one source)", async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")).version;
    expect((await cli("--version")).stdout.trim()).toBe(pkg);
    expect(versions().psvit).toBe(pkg);
    const hardCoded = readdirSync(`${ROOT}/src/cli`, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .filter((f) => /["'`]\d+\.\d+\.\d+["'`]/.test(readFileSync(`${ROOT}/src/cli/${f}`, "utf8")));
    expect(hardCoded, "a hard-coded version string in src/cli").toEqual([]);
  });
  it("psvit errors print one line and exit 2; bugs print a stack and exit 1", () => {
    for (const e of [new UsageError("u"), new ConfigError("c", "f.json"), new DataError("d", "x.idx")]) {
      const io = captureIo();
      expect(exitCodeFor(e, io)).toBe(2);
      expect(io.stderr).toHaveLength(1);
      expect(io.stderr[0]).toMatch(/^psvit: /);
    }
    const io = captureIo();
    expect(exitCodeFor(new TypeError("x is undefined"), io)).toBe(1);
    expect(io.stderr.join("")).toContain("internal error");
    expect(io.stderr.join("")).toContain("TypeError: x is undefined\n    at ");
  });
  it("file-system errors (EROFS, EACCES, ENOENT, ENOSPC, …) are one line naming the path, exit 2", () => {
    const sys = (code: string, syscall: string, path?: string, dest?: string) =>
      Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, errno: -1, path, dest });
    const cases: [Error, string][] = [
      [
        sys("EROFS", "open", "/r/log.jsonl"),
        "psvit: cannot open /r/log.jsonl: read-only file system (EROFS)",
      ],
      [
        sys("EACCES", "mkdir", "/r/export"),
        "psvit: cannot create the directory /r/export: permission denied (EACCES)",
      ],
      [sys("ENOENT", "scandir", "/nope"), "psvit: cannot list /nope: no such file or directory (ENOENT)"],
      [
        sys("EPERM", "rename", "/r/a", "/r/b"),
        "psvit: cannot rename /r/a to /r/b: operation not permitted (EPERM)",
      ],
      [sys("ENOSPC", "write"), "psvit: cannot write: no space left on device (ENOSPC)"],
    ];
    for (const [e, line] of cases) {
      const io = captureIo();
      expect(exitCodeFor(e, io)).toBe(2);
      expect(io.stderr).toEqual([`${line}\n`]);
    }
    // a code without a syscall is not a file-system error: a bug
    const io = captureIo();
    expect(exitCodeFor(Object.assign(new Error("odd"), { code: "EACCES" }), io)).toBe(1);
  });
});

describe("bin/psvit", () => {
  const run = (args: string[]) =>
    spawnSync(
      process.execPath,
      ["--import", `${ROOT}/test/fixtures/forbid-tfjs.mjs`, `${ROOT}/bin/psvit`, ...args],
      {
        encoding: "utf8",
      },
    );
  it("--help, flops and space run without loading TensorFlow.js", () => {
    const help = run(["--help"]);
    expect(help.stderr).toBe("");
    expect(help.status).toBe(0);
    expect(run(["flops", `${ROOT}/configs/hvt-s-2.json`]).status).toBe(0);
    expect(run(["space", `${ROOT}/search-spaces/fmnist-2d.json`, "--budget", "25M"]).status).toBe(0);
  });
  it("the forbid-tfjs hook does catch a TensorFlow.js import", () => {
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        `${ROOT}/test/fixtures/forbid-tfjs.mjs`,
        "--input-type=module",
        "-e",
        'await import("@tensorflow/tfjs")',
      ],
      { encoding: "utf8", cwd: ROOT },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("forbidden: TensorFlow.js was loaded");
  });
  it("the process exit code is the CLI's", () => {
    const r = run(["flops", "/no/such.json"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("psvit: /no/such.json: no such file\n");
  });
});
