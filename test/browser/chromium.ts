import { chromium, type Browser } from 'playwright-core'
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

/**
 * Starts headless Chromium with a fresh profile dir. A persistent context is used so that
 * IndexedDB lives on disk across reloads and tabs, as for a real user. Close with `close()`.
 */
export const launchChromium = async (): Promise<{
  browser: Browser
  context: import('playwright-core').BrowserContext
  close: () => Promise<void>
}> => {
  const userDataDir = mkdtempSync(join(tmpdir(), 'flameup-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  })
  return {
    browser: context.browser()!,
    context,
    close: async () => {
      await context.close().catch(() => {})
      rmSync(userDataDir, { recursive: true, force: true })
    },
  }
}
