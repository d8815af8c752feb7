// Issue 17 item 6: what the queue costs. The same search (same supernet, seed and budget: the same
// candidates) run in-process by a pool of 2 worker threads, and through BullMQ on a Redis started here
// by 2 `psvit worker` processes (concurrency 1 each: 2 evaluating threads in all, as in-process),
// interleaved for --rounds rounds (ABBA order). Two rates per search: the search loop's candidates per
// minute as psvit reports it (in-process the pool has loaded the supernet before the loop starts; the
// queue's workers load it on their first job, inside the loop: the comparison is conservative for
// the queue), and end to end (candidates / the whole command's wall time: start-up, loading, the final
// stage on the driver, the same on both sides). Each queued round has its own Redis database and fresh
// workers, so no round is answered from another's results.
//   node bench/queue-throughput.mjs --run RUN [--flops 25M] [--rounds 3] [--population 20]
//        [--generations 4] [--out runs/queue-throughput]
// RUN: a train-supernet run directory (e.g. the pipeline's). Writes OUT/result.json and prints a table;
// the goal (issue 17): queue overhead <= 5%, i.e. the median queued / in-process loop rate >= 0.95.
import { execFile, spawn } from "node:child_process";
import { cpSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { opt } from "./args.mjs";
import { PSVIT } from "./jobs.mjs";

const RUN = path.resolve(opt("run", "runs/pipeline"));
const FLOPS = opt("flops", "25M");
const ROUNDS = Number(opt("rounds", "3"));
const POP = opt("population", "20");
const GENS = opt("generations", "4");
const OUT = path.resolve(opt("out", "runs/queue-throughput"));
mkdirSync(OUT, { recursive: true });
const log = (m) => console.error(`${new Date().toISOString()} ${m}`);
const env = { ...process.env, PSVIT_WASM_THREADS: "1", PSVIT_LOG_LEVEL: "info" };

/** A copy of the supernet run with only its latest checkpoint (hard-linked), for one search. */
function freshRun(name) {
  const dir = path.join(OUT, "work", name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, "checkpoints"), { recursive: true });
  cpSync(path.join(RUN, "run.json"), path.join(dir, "run.json"));
  const ckpts = readdirSync(path.join(RUN, "checkpoints"))
    .filter((f) => f.endsWith(".ckpt.safetensors"))
    .sort();
  const last = ckpts.at(-1);
  linkSync(path.join(RUN, "checkpoints", last), path.join(dir, "checkpoints", last));
  return dir;
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startRedis() {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--databases", "64"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
  });
  return { port, child };
}

function startWorker(url, artifacts, name) {
  const file = path.join(OUT, "logs", `${name}.log`);
  mkdirSync(path.dirname(file), { recursive: true });
  const child = spawn(process.execPath, [PSVIT, "worker", "--queue", url, "--artifacts", artifacts], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const ready = new Promise((resolve, reject) => {
    const on = (d) => {
      text += d;
      if (text.includes("takes jobs from")) resolve();
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.once("exit", (c) => reject(new Error(`worker exited ${c}: ${text}`)));
  });
  return {
    ready,
    /** Peak resident memory of the worker process so far (MiB; Linux /proc). */
    peakMiB: () => {
      try {
        const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1];
        return kb ? Number(kb) / 1024 : null;
      } catch {
        return null;
      }
    },
    stop: async () => {
      writeFileSync(file, text);
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await done;
    },
  };
}

const run = promisify(execFile);
async function search(dir, extra) {
  const t0 = performance.now();
  const { stdout } = await run(
    process.execPath,
    [
      PSVIT,
      "search",
      "--run",
      dir,
      "--flops",
      FLOPS,
      "--population",
      POP,
      "--generations",
      GENS,
      "--mutations",
      String(Math.floor(POP / 2)),
      "--crossovers",
      String(Math.floor(POP / 2)),
      "--seed",
      "0",
      "--json",
      ...extra,
    ],
    { env, maxBuffer: 64 << 20 },
  );
  const r = JSON.parse(stdout);
  return {
    evaluations: r.evaluations,
    perMinute: r.candidatesPerMinute,
    seconds: r.seconds,
    wall: (performance.now() - t0) / 1000,
    winner: r.final?.ranking?.[0]?.arch ?? r.top[0].arch,
  };
}

const redis = await startRedis();
const artifacts = path.join(OUT, "artifacts");
mkdirSync(artifacts, { recursive: true });
const rows = [];
let db = 0;
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["in-process", "queue"] : ["queue", "in-process"];
    for (const arm of order) {
      const dir = freshRun(`${arm}-${round}`);
      let r;
      if (arm === "in-process") {
        r = await search(dir, ["--workers", "2"]);
      } else {
        db++;
        const url = `redis://127.0.0.1:${redis.port}/${db}`;
        const workers = [0, 1].map((i) => startWorker(url, artifacts, `round${round}-worker${i}`));
        await Promise.all(workers.map((w) => w.ready));
        try {
          r = await search(dir, ["--queue", url, "--artifacts", artifacts]);
          r.workerPeakMiB = workers.map((w) => w.peakMiB());
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
        }
      }
      rows.push({ round, arm, ...r });
      log(
        `round ${round} ${arm}: ${r.evaluations} candidates, ${r.perMinute.toFixed(2)}/min (search with its final stage ${r.seconds.toFixed(1)} s), winner ${r.winner}`,
      );
    }
  }
} finally {
  redis.child.kill("SIGTERM");
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pair = (round) => ({
  q: rows.find((x) => x.round === round && x.arm === "queue"),
  p: rows.find((x) => x.round === round && x.arm === "in-process"),
});
const ratios = [];
const wallRatios = [];
for (let round = 0; round < ROUNDS; round++) {
  const { q, p } = pair(round);
  ratios.push(q.perMinute / p.perMinute);
  wallRatios.push(q.evaluations / q.wall / (p.evaluations / p.wall));
}
const result = {
  date: new Date().toISOString(),
  run: RUN,
  flops: FLOPS,
  population: Number(POP),
  generations: Number(GENS),
  rows,
  ratios,
  medianRatio: median(ratios),
  wallRatios,
  medianWallRatio: median(wallRatios),
};
writeFileSync(path.join(OUT, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
// the loop's seconds (what the rate is over), then the search's with its final stage, then the command's
const rate = (r) =>
  `${r.perMinute.toFixed(2)}/min (${r.evaluations} in ${((r.evaluations / r.perMinute) * 60).toFixed(1)} s; ${r.seconds.toFixed(1)} s with the final stage, ${r.wall.toFixed(1)} s wall)`;
console.log("| round | in-process (2 threads) | queue (2 workers) | queue / in-process: loop | end to end |");
console.log("| --- | --- | --- | --- | --- |");
for (let round = 0; round < ROUNDS; round++) {
  const { q, p } = pair(round);
  console.log(
    `| ${round} | ${rate(p)} | ${rate(q)} | ${ratios[round].toFixed(3)} | ${wallRatios[round].toFixed(3)} |`,
  );
}
const range = (xs) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
const winners = new Set(rows.map((x) => x.winner));
console.log(
  `\nmedian ratio, loop ${median(ratios).toFixed(3)} (range ${range(ratios)}), end to end ${median(wallRatios).toFixed(3)} (range ${range(wallRatios)}), ${ROUNDS} rounds; winners: ${[...winners].join(", ")}${winners.size === 1 ? " (the same in every search)" : ""}`,
);
const peaks = rows.flatMap((x) => x.workerPeakMiB ?? []).filter((x) => x !== null);
if (peaks.length)
  console.log(
    `worker peak RSS ${Math.min(...peaks).toFixed(0)}–${Math.max(...peaks).toFixed(0)} MiB (one evaluating thread each)`,
  );
console.log(
  `goal: queue overhead <= 5% (median loop ratio >= 0.95): ${median(ratios) >= 0.95 ? "met" : "missed"}`,
);
