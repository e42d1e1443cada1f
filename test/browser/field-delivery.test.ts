// Contract §4a in real Chromium: the failures users of other SDKs reported, each as the input that
// lost or dropped calls on main (issue 9). Where the input kills the browser, this file SIGKILLs its
// own Chromium and starts it again on the same profile. The 413 split and the other field cases
// an engine can express run in all three engines in scenarios.ts.
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { launchChromium, newProfile } from './chromium'
import {
  expectNoDuplicates,
  expectNoPageErrors,
  gotoReady,
  identifyMany,
  openPage,
  startHarness,
  watchErrors,
  type Harness,
} from './server'

type Browser = Awaited<ReturnType<typeof launchChromium>>

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

const harnessFor = async (options?: Parameters<typeof startHarness>[0]) => {
  const harness = await startHarness(options)
  cleanups.push(() => harness.close())
  return harness
}

const browserOn = async (profile: string, bfcache?: boolean) => {
  const browser = await launchChromium(profile, { keepProfile: true, bfcache })
  cleanups.push(() => browser.close())
  return browser
}

const profileDir = () => {
  const profile = newProfile()
  cleanups.push(async () => rmSync(profile, { recursive: true, force: true }))
  return profile
}

/** The browser process of a profile (the one without --type=, which every child process has). */
const browserPid = (profile: string) => {
  const line = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .find((args) => args.includes('--user-data-dir=' + profile) && !args.includes('--type='))
  if (!line) throw new Error('no Chromium process for ' + profile)
  return Number(line.trim().split(/\s+/)[0])
}

/** SIGKILL, as a crash or a killed mobile tab: no unload, no chance to finish anything. */
const killBrowser = async (browser: Browser) => {
  process.kill(browserPid(browser.profile), 'SIGKILL')
  await browser.context.close().catch(() => {})
}

const messageIdsAtProxy = (harness: Harness) => new Set(harness.proxyRequests.flatMap((request) => request.messageIds))
const acceptedUsers = (harness: Harness) => new Set(harness.accepted().map((entry) => entry.userId))

/** Makes the page hidden as a tab switch does, then runs what the page does on visibilitychange. */
const hide = (page: import('playwright-core').Page) =>
  page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
    document.dispatchEvent(new Event('visibilitychange'))
  })

describe('field delivery in Chromium (contract §4a)', () => {
  it('login then redirect: identify without awaiting, then location.replace, on a fresh origin: 10 of 10 arrive', async () => {
    const browser = await browserOn(profileDir())
    const page = await browser.context.newPage()
    const errors = watchErrors(page)
    const loads: [Harness, string][] = []
    for (let load = 0; load < 10; load++) {
      // A new harness is a new origin: IndexedDB is created from nothing, as in a fresh profile.
      const harness = await harnessFor()
      const userId = 'login_' + load
      await page.goto(harness.tagUrl({ proxyUrl: '/flameup' }, `flameup.identify(${JSON.stringify(userId)}, { plan: 'pro' }); location.replace('/other')`))
      await page.waitForURL(harness.otherUrl)
      loads.push([harness, userId])
    }
    const lost = () => loads.filter(([harness, userId]) => !acceptedUsers(harness).has(userId)).map(([, userId]) => userId)
    // Sent by the closing page...
    await expect
      .poll(lost, { timeout: 10000 })
      .toEqual([])
      .catch(() => {})
    // ...or stored, and sent by the next page of the origin.
    for (const [harness, userId] of loads) if (lost().includes(userId)) await gotoReady(page, harness.tagUrl())
    await expect.poll(lost, { timeout: 10000 }).toEqual([])
    for (const [harness, userId] of loads) {
      expect(harness.accepted().map((entry) => entry.body)).toEqual([expect.objectContaining({ userId, traits: { plan: 'pro' } })])
      expectNoDuplicates(harness)
    }
    expectNoPageErrors(errors)
  }, 120_000)

  it('a hidden page while a keepalive flush waits on a slow proxy: the hidden send is not refused, and after a kill all 24 calls arrive once', async () => {
    // The proxy answers 4 s later (it waits that long on the API).
    const harness = await harnessFor({ upstreamLatency: [4000, 4000] })
    const profile = profileDir()
    let browser = await browserOn(profile)
    const { page, errors } = await openPage(browser.context, harness.pageUrl({ proxyUrl: '/flameup', flushInterval: 60_000 }))
    const first = Array.from({ length: 14 }, (_, i) => 'first_' + i)
    const later = Array.from({ length: 10 }, (_, i) => 'later_' + i)
    await identifyMany(page, first, { notes: 'a'.repeat(3400) })
    await page.evaluate(() => void (window as any).flameup.flush())
    await expect.poll(() => harness.proxyRequests.some((request) => request.messageIds.length == 14), { timeout: 10000 }).toBe(true)
    const inFlight = messageIdsAtProxy(harness)
    await identifyMany(page, later, { notes: 'b'.repeat(2500) })
    await hide(page)
    // The input: the browser is killed 300 ms after the tab turned hidden.
    await page.waitForTimeout(300)
    expectNoPageErrors(errors)
    await killBrowser(browser)

    // What the hidden page sent reached the proxy: Chromium did not refuse it for the 64 KB in flight.
    const sentWhileHidden = () => [...messageIdsAtProxy(harness)].filter((id) => !inFlight.has(id)).length
    await expect.poll(sentWhileHidden, { timeout: 5000 }).toBeGreaterThan(0)
    // The proxy finishes what it received (4 s later) before the browser comes back.
    await expect.poll(() => acceptedUsers(harness).size, { timeout: 20000 }).toBe(14 + sentWhileHidden())

    browser = await browserOn(profile)
    const again = await openPage(browser.context, harness.pageUrl({ proxyUrl: '/flameup', flushInterval: 100 }))
    await expect.poll(() => acceptedUsers(harness).size, { timeout: 30000, interval: 100 }).toBe(24)
    expect(acceptedUsers(harness)).toEqual(new Set([...first, ...later]))
    expectNoDuplicates(harness)
    expectNoPageErrors(again.errors)
  })

  it('a page restored from the back/forward cache goes on delivering', async () => {
    const harness = await harnessFor()
    const browser = await browserOn(profileDir(), true)
    const { page, errors } = await openPage(browser.context)
    await gotoReady(page, harness.tagUrl({ proxyUrl: '/flameup' }, "flameup.identify('before_leaving', { plan: 'pro' })"))
    await expect.poll(() => acceptedUsers(harness).has('before_leaving'), { timeout: 10000 }).toBe(true)
    // A call the API cannot take yet: it waits on backoff while the page sits in the cache.
    harness.api.setFaults({ down: true })
    await page.evaluate(() => (window as any).flameup.identify('queued_when_leaving', { plan: 'pro' }))
    await page.goto(harness.otherUrl)
    harness.api.setFaults({})
    // A restored page fires pageshow (persisted), not load.
    await page.goBack({ waitUntil: 'commit' })
    await expect.poll(() => page.evaluate(() => (window as any).__restored), { timeout: 10000 }).toBe(true)
    await expect.poll(() => acceptedUsers(harness).has('queued_when_leaving'), { timeout: 20000 }).toBe(true)
    await page.evaluate(() => (window as any).flameup.identify('after_restore', { plan: 'pro' }))
    await expect.poll(() => acceptedUsers(harness).has('after_restore'), { timeout: 20000 }).toBe(true)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })
})
