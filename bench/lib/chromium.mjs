// A plain-JS copy of test/browser/chromium.ts, so `node bench/peers.mjs` needs no TypeScript loader.
import { chromium } from 'playwright-core'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Debian's Chromium; never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Belt and braces for the benchmark: every host except loopback fails DNS, so even a request that
  // escaped the Playwright route (none should) could never leave the machine.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
]

export const newProfile = () => mkdtempSync(join(tmpdir(), 'flameup-bench-'))

/** Headless Chromium on a fresh persistent profile, removed again by `close`. */
export const launchChromium = async (profile = newProfile()) => {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  })
  return {
    context,
    profile,
    close: async () => {
      await context.close().catch(() => {})
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
