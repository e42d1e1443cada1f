// Real Chromium against a misbehaving world: no network, a wrong key, a broken IndexedDB, a rate
// limit. Nothing is lost, nothing is sent twice, and nothing reaches the page uncaught.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import {
  FAST,
  WRONG_KEY_PATH,
  events,
  expectDelivered,
  expectNoDuplicates,
  expectNoPageErrors,
  gotoReady,
  identify,
  identifyMany,
  openPage,
  pending,
  startHarness,
  watchErrors,
  type Harness,
} from './server'

let browser: Awaited<ReturnType<typeof launchChromium>>
let harness: Harness

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
})
beforeEach(async () => {
  harness = await startHarness()
})
afterEach(async () => {
  await browser.context.setOffline(false)
  for (const page of browser.context.pages()) await page.close()
  await harness?.close()
})

describe('faults in Chromium', () => {
  it('offline: nothing is sent and paused(offline) fires; back online, the call arrives', async () => {
    const { page, errors } = await openPage(browser.context, harness.pageUrl())
    await browser.context.setOffline(true)
    await identify(page, 'offline_user', { plan: 'pro' })

    // The flush came and found the browser offline: that is when nothing must have been sent.
    await expect.poll(() => events(page, 'paused')).toEqual([{ reason: 'offline' }])
    expect(harness.proxyRequests).toHaveLength(0)
    expect(harness.api.requests).toHaveLength(0)
    expect(await pending(page)).toBe(1)

    await browser.context.setOffline(false)
    await expectDelivered(harness, 1)
    await expect.poll(() => pending(page)).toBe(0)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })

  it('401 keeps the queue paused; a page whose proxy has the right key delivers it', async () => {
    const users = ['key_0', 'key_1', 'key_2']
    const { page, errors } = await openPage(browser.context, harness.pageUrl({ ...FAST, proxyUrl: WRONG_KEY_PATH }))
    await identifyMany(page, users)

    await expect.poll(() => events(page, 'paused')).toEqual([{ reason: 'unauthorized' }])
    expect(harness.api.requests.map((entry) => entry.status)).toContain(401)
    expect(harness.deliveredUsers()).toBe(0)
    expect(await pending(page)).toBe(3)
    expect(await events(page, 'dropped')).toEqual([])

    await gotoReady(page, harness.pageUrl())
    await expectDelivered(harness, 3)
    await expect.poll(() => pending(page)).toBe(0)
    expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })

  // Both ways IndexedDB.open can fail: a synchronous throw (a blocked or missing factory) and a
  // request that errors later (private mode, a corrupt profile).
  const brokenOpen = {
    throws: () => {
      IDBFactory.prototype.open = () => {
        throw new DOMException('IndexedDB blocked by the test', 'SecurityError')
      }
    },
    errors: () => {
      IDBFactory.prototype.open = () => {
        const request: any = { error: new DOMException('IndexedDB broken by the test', 'UnknownError') }
        setTimeout(() => request.onerror?.(new Event('error')))
        return request
      }
    },
  }

  it.each(Object.keys(brokenOpen) as (keyof typeof brokenOpen)[])(
    'IndexedDB.open %s: the call is still delivered, and the page sees no error',
    async (how) => {
      const page = await browser.context.newPage()
      const errors = watchErrors(page)
      await page.addInitScript(brokenOpen[how])
      await gotoReady(page, harness.pageUrl())
      await identify(page, 'no_idb', { plan: 'pro' })

      await expectDelivered(harness, 1)
      await expect.poll(() => pending(page)).toBe(0)
      expect(await events(page, 'delivered')).toMatchObject([{ userId: 'no_idb' }])
      expectNoDuplicates(harness)
      expectNoPageErrors(errors)
    },
  )

  it('429 with Retry-After: 1 is retried once, after the second it asked for', async () => {
    harness.api.setFaults({ status: 429, retryAfter: 1 })
    // A wide cap, so that the Retry-After, not the cap, sets the wait; the backoff alone would retry within 50 ms.
    const { page, errors } = await openPage(browser.context, harness.pageUrl({ ...FAST, retryMaxDelay: 5000 }))
    await identify(page, 'limited', { plan: 'pro' })
    await expect.poll(() => harness.api.requests.some((entry) => entry.status == 429)).toBe(true)
    harness.api.setFaults({})

    await expectDelivered(harness, 1)
    const [limited, retried, ...more] = harness.api.requests
    expect(limited.status).toBe(429)
    expect(retried.status).toBe(201)
    expect(more).toEqual([])
    expect(Date.parse(retried.at) - Date.parse(limited.at)).toBeGreaterThanOrEqual(900)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })
})
