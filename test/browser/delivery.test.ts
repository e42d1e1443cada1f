// Real Chromium, real IndexedDB, the built script tag and proxy, the API stand-in: calls survive
// reloads, tabs, unloads and restarts, and each reaches the API exactly once.
import { rmSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium, newProfile } from './chromium'
import {
  FAST,
  events,
  expectDelivered,
  expectNoDuplicates,
  expectNoPageErrors,
  gotoReady,
  identify,
  identifyMany,
  openPage,
  pending,
  reloadReady,
  startCli,
  startHarness,
  watchErrors,
  type Harness,
} from './server'

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => prefix + '_' + i)

// The profile outlives one browser: the restart test closes the browser and starts it again on it.
const profile = newProfile()
let browser: Awaited<ReturnType<typeof launchChromium>>
let harness: Harness
let cli: Awaited<ReturnType<typeof startCli>> | undefined

beforeAll(async () => {
  browser = await launchChromium(profile, { keepProfile: true })
})
afterAll(async () => {
  await browser?.close()
  rmSync(profile, { recursive: true, force: true })
})
// A new harness is a new port, hence a new origin: every test starts with empty IndexedDB.
beforeEach(async () => {
  harness = await startHarness()
})
afterEach(async () => {
  for (const page of browser.context.pages()) await page.close()
  await cli?.close()
  cli = undefined
  await harness?.close()
})

describe('delivery in Chromium', () => {
  it('delivers every call once after reloads while the API was down', async () => {
    harness.api.setFaults({ down: true })
    const { page, errors } = await openPage(browser.context, harness.pageUrl())
    const users = ids('down', 10)
    await identifyMany(page, users, { plan: 'pro' })
    // The SDK tried and met the dead API before the reloads.
    await expect.poll(() => harness.api.requests.length, { timeout: 10000 }).toBeGreaterThan(0)
    await reloadReady(page)
    await reloadReady(page)
    expect(await pending(page)).toBe(10)
    expect(harness.deliveredUsers()).toBe(0)

    harness.api.setFaults({})
    await expectDelivered(harness, 10)
    await expect.poll(() => pending(page)).toBe(0)
    expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
    expectNoDuplicates(harness)
    expect(await events(page, 'dropped')).toEqual([])
    expectNoPageErrors(errors)
  })

  // Web Locks where present; without them (older Safari), a lease record in IndexedDB.
  it.each([
    ['Web Locks', false],
    ['the IndexedDB lease', true],
  ])('three tabs identifying 40 users each at once (%s): 120 arrive, none twice', async (_, noLocks) => {
    const tabs = await Promise.all(
      [0, 1, 2].map(async () => {
        const page = await browser.context.newPage()
        const errors = watchErrors(page)
        if (noLocks) await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }))
        await gotoReady(page, harness.pageUrl())
        expect(await page.evaluate(() => !!navigator.locks)).toBe(!noLocks)
        return { page, errors }
      }),
    )
    await Promise.all(tabs.map(({ page }, tab) => identifyMany(page, ids('tab' + tab, 40), { tab })))

    await expectDelivered(harness, 120)
    await expect.poll(() => Promise.all(tabs.map(({ page }) => pending(page)))).toEqual([0, 0, 0])
    expectNoDuplicates(harness)
    // Nothing failed, so the API saw each call once, and no two tabs raced to send the same call.
    expect(harness.api.requests).toHaveLength(120)
    expect([...harness.sentCounts()].filter(([, sent]) => sent > 1)).toEqual([])
    expect([...harness.sentCounts().keys()]).toHaveLength(120)
    expectNoPageErrors(...tabs.map(({ errors }) => errors))
  })

  it('a call made just before navigating away arrives through the unload keepalive', async () => {
    // No timer can send it within the test: only pagehide/visibilitychange can.
    const { page, errors } = await openPage(browser.context, harness.pageUrl({ ...FAST, flushInterval: 60000 }))
    await identify(page, 'leaver', { email: 'leaver@example.com', plan: 'pro' })
    expect(harness.proxyRequests).toHaveLength(0)
    await page.goto(harness.otherUrl)

    await expectDelivered(harness, 1)
    expect(harness.accepted()[0].body).toEqual({ userId: 'leaver', email: 'leaver@example.com', traits: { plan: 'pro' } })
    expectNoDuplicates(harness)
    // pagehide and visibilitychange both fire on the way out: the call still goes once.
    expect([...harness.sentCounts().values()]).toEqual([1])
    expectNoPageErrors(errors)
  })

  it('opt-out survives a reload: nothing is queued or sent until optIn', async () => {
    const { page, errors } = await openPage(browser.context, harness.pageUrl())
    await page.evaluate(() => (window as any).flameup.optOut())
    await reloadReady(page)
    await identify(page, 'while_out', { plan: 'pro' })
    expect(await pending(page)).toBe(0)

    await page.evaluate(() => (window as any).flameup.optIn())
    await identify(page, 'after_in', { plan: 'pro' })
    await expectDelivered(harness, 1)
    // Had the first call been queued, it would have gone in the same batch or before.
    expect(harness.accepted().map((entry) => entry.userId)).toEqual(['after_in'])
    expect(harness.api.requests).toHaveLength(1)
    expect([...harness.sentCounts().values()]).toEqual([1])
    expectNoPageErrors(errors)
  })

  it('a call queued with the API down survives a browser restart and is delivered once', async () => {
    harness.api.setFaults({ down: true })
    const before = await openPage(browser.context, harness.pageUrl())
    await identify(before.page, 'restarted', { plan: 'pro' })
    await expect.poll(() => harness.api.requests.length, { timeout: 10000 }).toBeGreaterThan(0)
    expectNoPageErrors(before.errors)
    await browser.close()

    harness.api.setFaults({})
    expect(harness.deliveredUsers()).toBe(0)
    browser = await launchChromium(profile, { keepProfile: true })
    // A page load with no identify of its own sends what the last session left queued.
    const after = await openPage(browser.context, harness.pageUrl())
    await expectDelivered(harness, 1)
    await expect.poll(() => pending(after.page)).toBe(0)
    expect(harness.acceptedCount('restarted')).toBe(1)
    expectNoDuplicates(harness)
    expectNoPageErrors(after.errors)
  })
})

// Headers a page may send cross-origin without a preflight (Fetch standard, CORS-safelisted), plus
// those the browser itself adds.
const SIMPLE = /^(accept|accept-language|content-language|content-type|origin|referer|user-agent|sec-.*)$/

describe('proxy CLI, cross-origin', () => {
  it('a page on another origin delivers through `node dist/proxy-cli.mjs`, once', async () => {
    cli = await startCli({ apiHost: harness.api.url, allowedOrigins: harness.origin })
    expect(new URL(cli.url).origin).not.toBe(harness.origin)
    const page = await browser.context.newPage()
    const sent: { method: string; headers: Record<string, string> }[] = []
    page.on('request', (request) => {
      if (request.url().startsWith(cli!.url)) sent.push({ method: request.method(), headers: request.headers() })
    })
    const errors = watchErrors(page)
    await gotoReady(page, harness.pageUrl({ ...FAST, proxyUrl: cli.url + '/collect' }))
    await identify(page, 'cross_origin', { email: 'cross@example.com', plan: 'pro' })

    await expectDelivered(harness, 1)
    // The page could read the proxy's answer (CORS allowed it), so it knows the call was delivered.
    await expect.poll(() => events(page, 'delivered')).toMatchObject([{ userId: 'cross_origin' }])
    expect(await pending(page)).toBe(0)
    expect(harness.accepted()[0].body).toEqual({ userId: 'cross_origin', email: 'cross@example.com', traits: { plan: 'pro' } })
    expectNoDuplicates(harness)

    expect(sent.length).toBeGreaterThan(0)
    for (const { method, headers } of sent) {
      expect(method).toBe('POST')
      expect(headers['content-type']).toMatch(/^text\/plain/)
      expect(Object.keys(headers).filter((name) => !SIMPLE.test(name))).toEqual([])
    }
    expectNoPageErrors(errors)
  })
})
