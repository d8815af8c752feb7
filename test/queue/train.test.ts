/**
 * `psvit train --queue`: a whole training run on a `psvit worker` (a real Redis, worker processes from
 * bin/psvit), its files copied back into --out: the same weights as training here, trainings of one
 * worker on threads of their own and at once (--concurrency 2), a driver that waits for a worker and
 * says so, a finished job answered from Redis, and the errors a user can act on.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainModelCommand } from "../../src/cli/commands/train.js";
import { captureIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/run.js";
import { parseSpaceConfig } from "../../src/config/validate.js";
import { materialize, parseArch } from "../../src/space/arch.js";
import { ROOT, tempDir } from "../helpers.js";
import { QUIET, TINY_SPACE, tinySetup } from "../train/fixtures.js";
import { freePort, startRedis, type TestRedis } from "./redis-server.js";
import { killAll, startWorker, track } from "./workers.js";

let redis: TestRedis;
let db = 0;
let setup: ReturnType<typeof tinySetup>;
let modelFile: string;
const model = materialize(parseSpaceConfig(TINY_SPACE), parseArch("SB-BI"));

beforeAll(async () => {
  redis = await startRedis();
  setup = tinySetup();
  modelFile = join(tempDir(), "m.model.json");
  writeFileSync(modelFile, JSON.stringify(model));
}, 60_000);

afterAll(async () => {
  killAll();
  await redis?.stop();
});

function place(): { url: string; artifacts: string } {
  db++;
  const artifacts = join(tempDir(), "artifacts");
  mkdirSync(artifacts);
  return { url: redis.url(db), artifacts };
}

const flags = (seed: number, out: string) => ({
  ...QUIET,
  config: setup.recipe,
  data: setup.data,
  epochs: 1,
  seed,
  out,
});
const weightsOf = (out: string) => readFileSync(join(out, `${model.name}.safetensors`));
const evalsOf = (out: string) =>
  readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((m) => m.type === "eval");

describe("psvit train --queue", () => {
  it("two trainings on one worker (--concurrency 2): at once, each on a thread of its own, the same weights as here", async () => {
    const { url, artifacts } = place();
    // each job waits 1.5 s on its thread before training: a worker that ran them one after the other
    // (or on its main thread) could not have both in flight at once
    const worker = await startWorker(url, artifacts, { PSVIT_TEST_QUEUE_SLOW_MS: "1500" }, [
      "--concurrency",
      "2",
    ]);
    const outs = [join(tempDir(), "q0"), join(tempDir(), "q1")];
    const queued = await Promise.all(
      [0, 1].map((seed) =>
        trainModelCommand(modelFile, { ...flags(seed, outs[seed]), queue: url, artifacts }, captureIo()),
      ),
    );
    for (const seed of [0, 1]) {
      const here = join(tempDir(), `h${seed}`);
      const local = await trainModelCommand(modelFile, flags(seed, here), captureIo());
      expect(weightsOf(outs[seed]).equals(weightsOf(here))).toBe(true);
      expect(evalsOf(outs[seed])).toEqual(evalsOf(here));
      expect(queued[seed].steps).toBe(local.steps);
      expect(queued[seed].lastEval).toEqual(local.lastEval);
      const files = readdirSync(outs[seed]).sort();
      expect(files).toEqual(
        readdirSync(here)
          .sort()
          .filter((f) => f !== ".train.lock"),
      );
    }
    const stamps = outs.map((o) => JSON.parse(readFileSync(join(o, "run.json"), "utf8")).queue);
    for (const s of stamps) {
      expect(s.worker).toMatch(/:\d+$/);
      expect(s.thread).toBeGreaterThan(0); // not the main thread (threadId 0)
    }
    expect(stamps[0].thread).not.toBe(stamps[1].thread);
    const span = stamps.map((s) => [Date.parse(s.startedAt), Date.parse(s.endedAt)]);
    expect(Math.max(span[0][0], span[1][0])).toBeLessThan(Math.min(span[0][1], span[1][1])); // overlap
    expect(JSON.parse(readFileSync(join(outs[0], "run.json"), "utf8")).args.queue).toBe(url);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
  }, 120_000);

  it("a driver without a worker says so, finishes once one starts; the same command again is answered from Redis", async () => {
    const { url, artifacts } = place();
    const out = join(tempDir(), "waits");
    const args = [
      join(ROOT, "bin/psvit"),
      "train",
      modelFile,
      "--backend",
      "cpu",
      "--config",
      setup.recipe,
      "--data",
      setup.data,
      "--epochs",
      "1",
      "--out",
      out,
      "--queue",
      url,
      "--artifacts",
      artifacts,
    ];
    const driver = spawn(process.execPath, args, {
      env: { ...process.env, PSVIT_TEST_QUEUE_IDLE_MS: "300" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    track(driver);
    let log = "";
    driver.stderr!.on("data", (d) => {
      log += d;
    });
    const exited = new Promise<number | null>((r) => driver.once("exit", (c) => r(c)));
    const t0 = Date.now();
    while (!log.includes("is a psvit worker running?") && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(log).toContain("1 job(s) outstanding (1 waiting, 0 active)");
    expect(existsSync(out)).toBe(false); // nothing written while it waits
    const worker = await startWorker(url, artifacts);
    expect(await exited, log).toBe(0);
    expect(existsSync(join(out, `${model.name}.safetensors`))).toBe(true);
    const before = readFileSync(join(out, `${model.name}.safetensors`));
    // again, --force: the job is finished in Redis, so nothing trains again
    const again = await trainModelCommand(
      modelFile,
      { ...flags(0, out), queue: url, artifacts, force: true },
      captureIo(),
    );
    expect(again.steps).toBe(8);
    expect(weightsOf(out).equals(before)).toBe(true);
    expect([...worker.log().matchAll(/trained in/g)]).toHaveLength(1);
    worker.child.kill("SIGTERM");
    await worker.exited;
  }, 90_000);

  it("a worker killed with SIGKILL mid-training: another worker trains it again, --out gets the same run", async () => {
    const { url, artifacts } = place();
    const out = join(tempDir(), "killed");
    const victim = await startWorker(url, artifacts, { PSVIT_TEST_QUEUE_SLOW_MS: "4000" });
    const driver = trainModelCommand(modelFile, { ...flags(0, out), queue: url, artifacts }, captureIo());
    const t0 = Date.now();
    while (!victim.log().includes("seed 0 started") && Date.now() - t0 < 30_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // the victim holds the job (its thread waits 4 s before training): kill it, start the survivor
    expect(victim.log()).not.toContain("trained in");
    victim.child.kill("SIGKILL");
    await victim.exited;
    const survivor = await startWorker(url, artifacts);
    const r = await driver;
    const here = join(tempDir(), "here");
    await trainModelCommand(modelFile, flags(0, here), captureIo());
    expect(weightsOf(out).equals(weightsOf(here))).toBe(true);
    expect(r.steps).toBe(8);
    expect([...survivor.log().matchAll(/trained in/g)]).toHaveLength(1);
    survivor.child.kill("SIGTERM");
    await survivor.exited;
  }, 90_000);

  it("errors a user can act on: one line, exit 2, --out untouched", async () => {
    const { url, artifacts } = place();
    const cli = async (args: string[]) => {
      const io = captureIo();
      const code = await runCli(["node", "psvit", "train", modelFile, "--backend", "cpu", ...args], io);
      return { code, err: io.stderr.join("") };
    };
    const data = ["--config", setup.recipe, "--data", setup.data, "--epochs", "1"];
    const fresh = join(tempDir(), "fresh");
    const cases: [string[], RegExp][] = [
      [
        [...data, "--out", fresh, "--queue", url, "--artifacts", artifacts, "--resume"],
        /--resume continues a run on this machine/,
      ],
      [[...data, "--out", fresh, "--queue", url], /--queue needs --artifacts DIR/],
      [
        [...data, "--out", fresh, "--queue", url, "--artifacts", join(tempDir(), "none")],
        /--artifacts .*: no such folder/,
      ],
      [[...data, "--out", fresh, "--queue", "http://x", "--artifacts", artifacts], /redis:\/\//],
      [
        [
          ...data,
          "--out",
          fresh,
          "--queue",
          `redis://127.0.0.1:${await freePort()}`,
          "--artifacts",
          artifacts,
        ],
        /cannot reach Redis|unreachable|ECONNREFUSED|refused/i,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(existsSync(fresh)).toBe(false);
    }
    // a run already in --out, no --force: refused before Redis is asked (none listens here)
    const held = join(tempDir(), "held");
    await trainModelCommand(modelFile, flags(0, held), captureIo());
    const weights = weightsOf(held);
    const r = await cli([
      ...data,
      "--out",
      held,
      "--queue",
      `redis://127.0.0.1:${await freePort()}`,
      "--artifacts",
      artifacts,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/already holds a run/);
    expect(weightsOf(held).equals(weights)).toBe(true);
  }, 60_000);
});
