import { existsSync } from 'node:fs';

/** Debian's Chromium (bash scripts/ensure-chromium.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** `skip` option of a browser suite: a reason when Chromium is missing outside CI (under CI it must be there). */
export function skipWithoutChromium(): string | false {
  const ci = process.env['CI'] === 'true' || process.env['CI'] === '1';
  const skip =
    !existsSync(CHROMIUM) && !ci
      ? 'Chromium is not installed (bash scripts/ensure-chromium.sh); under CI this fails'
      : false;
  if (skip) console.error(`\n!!! BROWSER TEST SKIPPED: ${skip}\n`);
  return skip;
}

/** Launch Chromium through playwright-core, kept off the network (Playwright gives each launch a fresh profile). */
export async function launchChromium(): Promise<import('playwright-core').Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
