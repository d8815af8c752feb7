/** Headless Chromium (Debian's `chromium`, driven by puppeteer-core) for the browser tests. */
import { existsSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer-core";

export const CHROMIUM = process.env.PSVIT_CHROMIUM ?? "/usr/bin/chromium";

/** Launch it, or throw with the install line. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the browser test needs Chromium at ${CHROMIUM} (or PSVIT_CHROMIUM): apt-get install -y chromium`,
    );
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // root in a container has no user namespaces for Chromium's sandbox; the page is our own
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}
