import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The machine's Chromium (apt's `chromium`; .ci/run installs it), or CHROMIUM_PATH. */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** null when a browser can run here, else why the page tests are skipped. */
export function chromiumAvailable(): string | null {
  return existsSync(executablePath)
    ? null
    : `no Chromium at ${executablePath} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
}

/** Headless Chromium as DESIGN prescribes: no sandbox (root in CI), no GPU, no background traffic. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
