/**
 * Connections to the queue's Redis: one checked connection before anything is written (so an unreachable
 * server or a wrong URL is one clear line and nothing changes), then long-lived ones for BullMQ.
 */
import { Redis } from "ioredis";
import { UsageError } from "../errors.js";
import type { QueueAddress } from "./url.js";

const base = (a: QueueAddress) => ({
  host: a.host,
  port: a.port,
  db: a.db,
  ...(a.username ? { username: a.username } : {}),
  ...(a.password ? { password: a.password } : {}),
});

/**
 * Connect once, PING, read the server's version, disconnect. Throws a UsageError naming the URL when
 * the server cannot be reached within `timeoutMs`, refuses the credentials, or is older than Redis 5
 * (BullMQ's minimum; 6.2 or later recommended).
 */
export async function checkRedis(a: QueueAddress, timeoutMs = 5000): Promise<{ version: string }> {
  const client = new Redis({
    ...base(a),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: NodeJS.ErrnoException | undefined;
  client.on("error", (e) => {
    lastError = e; // reported below, once: the socket's error says more than ioredis' "Connection is closed."
  });
  try {
    await client.connect();
    await client.ping();
    const info = await client.info("server");
    const version = /redis_version:([\d.]+)/.exec(info)?.[1] ?? "unknown";
    const major = Number(version.split(".")[0]);
    if (major < 5) {
      throw new UsageError(
        `${a.url}: Redis ${version} is too old for BullMQ (5 or later; 6.2 or later recommended)`,
      );
    }
    return { version };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = lastError ?? (e as NodeJS.ErrnoException);
    throw new UsageError(`cannot reach the queue at ${a.url}: ${err.code ?? err.message}`);
  } finally {
    client.disconnect();
  }
}

/**
 * Connection options for BullMQ (Queue, QueueEvents, Worker): retries forever, as BullMQ expects.
 * Options, not a client: BullMQ then owns the connection and its close() QUITs it after the replies
 * still pending. A client handed in stays open, and disconnecting it ourselves rejected the commands
 * still in flight (a search stopped by a failed job) as unhandled "Connection is closed." errors.
 */
export function bullConnection(a: QueueAddress) {
  return { ...base(a), maxRetriesPerRequest: null };
}
