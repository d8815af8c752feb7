/**
 * `--queue redis://[USER:PASSWORD@]HOST[:PORT][/DB]` → where the BullMQ queue lives. Pure.
 */
import { UsageError } from "../errors.js";

export interface QueueAddress {
  /** As given (the password masked), for messages. */
  url: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

export function parseQueueUrl(text: string, flag = "--queue"): QueueAddress {
  const bad = (why: string): never => {
    throw new UsageError(`${flag}: ${why}; expected redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0`);
  };
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return bad(`${JSON.stringify(text)} is not a URL`);
  }
  if (u.protocol !== "redis:")
    bad(`the scheme is ${JSON.stringify(u.protocol.replace(/:$/, ""))}, not redis`);
  if (!u.hostname) bad("no host");
  if (u.search || u.hash) bad("no query or fragment allowed");
  const port = u.port === "" ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`port ${u.port} is out of range`);
  const path = u.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d+$/.test(path)) bad(`the path /${path} is not a database number`);
  const db = path === "" ? 0 : Number(path);
  if (db > 15) bad(`database ${db}: Redis has databases 0 to 15 by default`);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const masked = u.password ? text.replace(`:${u.password}@`, ":***@") : text.trim();
  return {
    url: masked,
    host,
    port,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}
