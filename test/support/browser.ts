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

/**
 * How long a launch, navigation or page action may take before it fails: a hang guard, not an
 * expectation. Playwright's 30 s default can pass on a slow, loaded CI machine (as the mail waits
 * were raised to MAIL_WAIT_FLOOR_MS).
 */
export const BROWSER_HANG_GUARD_MS = 120_000;

/**
 * Headless Chromium as DESIGN prescribes: no sandbox (root in CI), no GPU, no background traffic.
 * Every context it makes (browser.newPage makes one too) waits up to BROWSER_HANG_GUARD_MS.
 */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: BROWSER_HANG_GUARD_MS,
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(BROWSER_HANG_GUARD_MS);
    return context;
  };
  return browser;
}
