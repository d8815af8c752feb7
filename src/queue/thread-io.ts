/**
 * A queue job's thread and its worker: the thread's console lines travel on the same message port as
 * its result, so the worker writes every line before it handles the result and ends the thread.
 *
 * A worker thread's process.stderr reaches the process asynchronously, on a channel of its own: the
 * last log line of a job ("subnet … seed …: xx% in …") was sometimes still on the way when the worker
 * terminated the thread on its result message, and was lost.
 */
import { type MessagePort, Worker } from "node:worker_threads";
import { setConsoleWrite } from "../util/log.js";

/** In a job thread: the console lines of every logger created from now on go to the worker. */
export function forwardConsole(port: MessagePort): void {
  setConsoleWrite((line) => port.postMessage({ type: "log", line }));
}

/** The one message a job thread ends with (anything but a log line). */
export interface ThreadMessage {
  type: string;
  [key: string]: unknown;
}

/**
 * Run a job thread until its first message that is not a log line; `write` gets its console lines in
 * order, all of them before the promise resolves. The thread is terminated then (nothing of a job,
 * tensors or a backend, outlives it). Rejects when the thread fails or ends without a result.
 */
export function runJobThread(
  script: URL | string,
  workerData: unknown,
  write: (line: string) => void,
  what = "the job thread",
): Promise<ThreadMessage> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(script, { workerData });
    let settled = false;
    thread.on("message", (m: ThreadMessage) => {
      if (settled) return;
      if (m.type === "log") {
        write(String(m.line));
        return;
      }
      settled = true;
      void thread.terminate();
      resolve(m);
    });
    thread.once("error", (e) => {
      if (settled) return;
      settled = true;
      reject(e);
    });
    thread.once("exit", (code) => {
      if (settled) return;
      settled = true;
      reject(new Error(`${what} ended without a result (exit code ${code})`));
    });
  });
}
