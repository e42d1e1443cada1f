// Plain JS so that `node test/bench-browser.mjs` can launch Chromium without a TypeScript loader;
// chromium.ts re-exports it, with types, for the vitest suite.
import { chromium } from 'playwright-core'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Debian's Chromium; never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A fresh profile directory; pass it to `launchChromium` twice to simulate a browser restart. */
export const newProfile = () => mkdtempSync(join(tmpdir(), 'flameup-chromium-'))

/**
 * Starts headless Chromium on a profile directory. A persistent context keeps IndexedDB on disk
 * across reloads, tabs and restarts, as for a real user. `args` adds flags to the required ones.
 * `bfcache`: keeps the back/forward cache on (Playwright turns it off by default).
 */
export const launchChromium = async (profile = newProfile(), { keepProfile = false, args = [], bfcache = false } = {}) => {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...args],
    ignoreDefaultArgs: bfcache ? ['--disable-back-forward-cache'] : undefined,
  })
  return {
    context,
    profile,
    close: async () => {
      await context.close().catch(() => {})
      if (!keepProfile) rmSync(profile, { recursive: true, force: true })
    },
  }
}
