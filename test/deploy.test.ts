/**
 * The deployment files of docs/SCALE.md (deploy/compose.yaml, deploy/k8s/workers.yaml, deploy/Dockerfile)
 * cannot be run here (no Docker daemon, no cluster), so they are held to what psvit accepts: the worker
 * command and its flags as `psvit worker` parses them, the artifact folder mounted where --artifacts
 * says, the queue URL naming the Redis service, a Redis that never evicts BullMQ's keys.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { captureIo } from "../src/cli/io.js";
import { runCli } from "../src/cli/run.js";
import { parseQueueUrl } from "../src/queue/url.js";
import { ROOT } from "./helpers.js";

const read = (rel: string) => readFileSync(join(ROOT, rel), "utf8");

/** The flags `psvit worker` documents (its --help). */
async function workerFlags(): Promise<string[]> {
  const io = captureIo();
  await runCli(["node", "psvit", "worker", "--help"], io);
  const help = io.stdout.join("") + io.stderr.join("");
  return [...help.matchAll(/(--[a-z-]+)/g)].map((m) => m[1]);
}

/** `worker --queue URL --artifacts DIR …`: checked against the CLI, returns URL and DIR. */
async function checkWorkerArgs(args: string[]): Promise<{ url: string; artifacts: string }> {
  expect(args[0]).toBe("worker");
  const known = await workerFlags();
  for (const a of args.slice(1).filter((x) => x.startsWith("--"))) expect(known, a).toContain(a);
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  const url = value("--queue");
  expect(() => parseQueueUrl(url)).not.toThrow();
  expect(Number(value("--concurrency"))).toBeGreaterThan(0);
  return { url, artifacts: value("--artifacts") };
}

const noEviction = (args: string[]) => expect(args.join(" ")).toMatch(/--maxmemory-policy noeviction/);

describe("deploy files", () => {
  it("compose: workers with psvit's flags, the store mounted at --artifacts, the Redis service named in the URL", async () => {
    const c = parse(read("deploy/compose.yaml"));
    const w = c.services.worker;
    const { url, artifacts } = await checkWorkerArgs(w.command);
    expect(parseQueueUrl(url).host).toBe("redis");
    expect(Object.keys(c.services)).toContain("redis");
    expect(w.volumes.map((v: string) => v.split(":")[1])).toContain(artifacts);
    expect(w.build.dockerfile).toBe("deploy/Dockerfile");
    noEviction(c.services.redis.command);
  });

  it("kubernetes: a worker Deployment with psvit's flags, the claim mounted at --artifacts, the Redis Service", async () => {
    const docs = parseAllDocuments(read("deploy/k8s/workers.yaml")).map((d) => d.toJS());
    const byName = (kind: string, name: string) =>
      docs.find((d) => d.kind === kind && d.metadata.name === name);
    const worker = byName("Deployment", "psvit-worker");
    const pod = worker.spec.template.spec;
    const [container] = pod.containers;
    const { url, artifacts } = await checkWorkerArgs(container.args);
    const service = byName("Service", parseQueueUrl(url).host);
    expect(service, `a Service named by ${url}`).toBeDefined();
    expect(service.spec.ports[0].port).toBe(parseQueueUrl(url).port);
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === artifacts);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const claim = byName("PersistentVolumeClaim", volume.persistentVolumeClaim.claimName);
    expect(claim.spec.accessModes).toContain("ReadWriteMany"); // driver and workers on many nodes
    expect(worker.spec.selector.matchLabels).toEqual(worker.spec.template.metadata.labels);
    noEviction(byName("Deployment", "psvit-redis").spec.template.spec.containers[0].args);
  });

  it("Dockerfile: its entry point is the repository's bin/psvit in the image's work dir", () => {
    const d = read("deploy/Dockerfile");
    const workdir = /^WORKDIR (\S+)$/m.exec(d)?.[1];
    const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(d)?.[1] ?? "[]");
    expect(entry).toEqual(["node", `${workdir}/bin/psvit`]);
    expect(read("bin/psvit")).toContain("dist/");
    expect(d).toMatch(/npm run build/);
  });
});
