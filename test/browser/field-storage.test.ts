// Real Chromium against failures users of other SDKs reported (issue 9, contract §4a): IndexedDB
// faults mid-session, another tab deleting the database, a merge over 32 KB, a sandboxed iframe,
// a wall clock that jumps. Faults are injected with page scripts; nothing is lost or sent twice.
import { readFileSync } from 'node:fs'
import type { Frame, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import {
  API_KEY,
  FAST,
  WORKSPACE_ID,
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
// A new harness is a new port, hence a new origin: every test starts with empty IndexedDB.
beforeEach(async () => {
  harness = await startHarness()
})
afterEach(async () => {
  await browser.context.setOffline(false)
  await browser.context.unrouteAll()
  for (const page of browser.context.pages()) await page.close()
  await harness?.close()
})

/** A page with the SDK whose Date.now() runs `window.__offset` ms ahead of the real clock. */
const clockPage = async (url: string) => {
  const page = await browser.context.newPage()
  const errors = watchErrors(page)
  await page.addInitScript(() => {
    const now = Date.now
    ;(window as any).__offset = 0
    Date.now = () => now() + (window as any).__offset
  })
  await gotoReady(page, url)
  return { page, errors }
}

const setOffset = (page: Page, ms: number) => page.evaluate((ms) => ((window as any).__offset = ms), ms)

const HOUR = 36e5

/** The queued calls in the page's IndexedDB, read over a connection of the test's own (closed again). */
const storedCalls = (page: Page) =>
  page.evaluate(
    () =>
      new Promise<any[]>((resolve, reject) => {
        const request = indexedDB.open('flameup')
        request.onerror = () => reject(request.error)
        request.onsuccess = () => {
          const db = request.result
          const all = db.transaction('queue').objectStore('queue').getAll()
          all.onsuccess = () => {
            db.close()
            resolve(all.result.filter((value) => value && typeof value == 'object' && 'messageId' in value))
          }
        }
      }),
  )

describe('IndexedDB faults mid-session', () => {
  it('quota error: pending() and flush() stay truthful and the page delivers all 5 calls', async () => {
    const { page, errors } = await openPage(browser.context, harness.pageUrl())
    // The proxy out of reach: nothing is tried, so nothing rewrites the calls after the fault.
    await browser.context.setOffline(true)
    await identifyMany(page, ['quota_0', 'quota_1', 'quota_2'])
    expect(await storedCalls(page)).toHaveLength(3)
    await page.evaluate(() => {
      IDBObjectStore.prototype.put = () => {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
      }
    })
    await identifyMany(page, ['quota_3', 'quota_4'])
    expect(await pending(page)).toBe(5)

    await browser.context.setOffline(false)
    await page.evaluate(() => (window as any).flameup.flush())
    await expectDelivered(harness, 5)
    await expect.poll(() => pending(page)).toBe(0)
    expect((await events(page, 'delivered')).length).toBe(5)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })

  it('a connection lost WebKit-style (InvalidStateError, no close event) is reopened: later calls survive a reload', async () => {
    harness.api.setFaults({ down: true })
    const page = await browser.context.newPage()
    const errors = watchErrors(page)
    // Every connection opened so far dies on __loseConnections(); a fresh open works.
    await page.addInitScript(() => {
      const opened: IDBDatabase[] = []
      const dead = new WeakSet<IDBDatabase>()
      const open = IDBFactory.prototype.open
      IDBFactory.prototype.open = function (this: IDBFactory, ...args: [string, number?]) {
        const request = open.apply(this, args)
        request.addEventListener('success', () => opened.push(request.result))
        return request
      }
      const transaction = IDBDatabase.prototype.transaction
      IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: any[]) {
        if (dead.has(this)) throw new DOMException('The database connection is closing.', 'InvalidStateError')
        return (transaction as any).apply(this, args)
      } as any
      ;(window as any).__loseConnections = () => opened.forEach((db) => dead.add(db))
    })
    await gotoReady(page, harness.pageUrl())
    await identifyMany(page, ['lost_0', 'lost_1'])
    await page.evaluate(() => (window as any).__loseConnections())
    await identifyMany(page, ['lost_2', 'lost_3'])

    await reloadReady(page)
    expect(await pending(page)).toBe(4)
    harness.api.setFaults({})
    await expectDelivered(harness, 4)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })

  it("versionchange: another tab's deleteDatabase('flameup') is not blocked, and a tab opened meanwhile keeps IndexedDB", async () => {
    const a = await openPage(browser.context, harness.pageUrl())
    await identify(a.page, 'before_wipe', { plan: 'pro' })
    await expectDelivered(harness, 1)
    harness.api.setFaults({ down: true })

    // A logout wipe from a tab without the SDK; a Flameup tab opens while it runs.
    const other = await browser.context.newPage()
    await other.goto(harness.otherUrl)
    const wipe = other.evaluate(
      () =>
        new Promise<string[]>((resolve) => {
          const outcome: string[] = []
          const request = indexedDB.deleteDatabase('flameup')
          request.onblocked = () => outcome.push('blocked')
          request.onsuccess = () => resolve([...outcome, 'deleted'])
        }),
    )
    const c = await openPage(browser.context, harness.pageUrl())
    const started = Date.now()
    await identify(c.page, 'after_wipe', { plan: 'pro' })
    const took = Date.now() - started
    expect(await wipe).toEqual(['deleted'])
    expect(took).toBeLessThan(5000)

    // Stored in IndexedDB, not in memory: a reload still has it.
    await reloadReady(c.page)
    expect(await pending(c.page)).toBe(1)
    harness.api.setFaults({})
    await expectDelivered(harness, 2)
    expectNoDuplicates(harness)
    expectNoPageErrors(a.errors, c.errors)
  })
})

describe('merges', () => {
  it('two 20 KB calls of one user within flushInterval go as two items, and both are delivered', async () => {
    const { page, errors } = await openPage(browser.context, harness.pageUrl())
    await page.evaluate(() =>
      Promise.all([
        (window as any).flameup.identify('m_1', { notes_a: 'a'.repeat(20000) }),
        (window as any).flameup.identify('m_1', { notes_b: 'b'.repeat(20000) }),
      ]),
    )
    await expect.poll(() => harness.acceptedCount('m_1'), { timeout: 20000 }).toBe(2)
    expect(await events(page, 'dropped')).toEqual([])
    const person = harness.api.people.get('m_1')
    expect(Object.keys(person.attributes).sort()).toEqual(['notes_a', 'notes_b'])
    expectNoPageErrors(errors)
  })
})

describe('sandboxed iframe (Web Locks reject with SecurityError)', () => {
  // An opaque origin may not reach loopback (Local Network Access): an artifact of a test on
  // 127.0.0.1, not of the sandbox, so this browser lets it through.
  let sandboxBrowser: Awaited<ReturnType<typeof launchChromium>>
  beforeAll(async () => {
    sandboxBrowser = await launchChromium(undefined, {
      args: ['--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights'],
    })
  })
  afterAll(async () => {
    await sandboxBrowser?.close()
  })
  afterEach(async () => {
    await sandboxBrowser.context.unrouteAll()
    for (const page of sandboxBrowser.context.pages()) await page.close()
  })

  /** A host page whose `<iframe sandbox="allow-scripts">` loads the SDK with `config`; answers the iframe's frame. */
  const sandboxed = async (config: Record<string, unknown>) => {
    const snippet = readFileSync(new URL('../../dist/snippet.min.js', import.meta.url), 'utf8')
    const inner = `<!doctype html><meta charset="utf-8"><script>window.__events = []</script><script>${snippet}</script>
<script>flameup.init(${JSON.stringify(config)}); flameup.on('delivered', (e) => __events.push(['delivered', e]))</script>
<script async src="${harness.origin}/flameup.min.js"></script>`
    const host = `<!doctype html><meta charset="utf-8"><iframe sandbox="allow-scripts" srcdoc="${inner.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>`
    await sandboxBrowser.context.route(harness.origin + '/sandbox', (route) => route.fulfill({ contentType: 'text/html', body: host }))
    const page = await sandboxBrowser.context.newPage()
    const errors = watchErrors(page)
    await page.goto(harness.origin + '/sandbox')
    const frame = (await (await page.waitForSelector('iframe')).contentFrame()) as Frame
    await frame.waitForFunction(() => (window as any).flameup && !('q' in (window as any).flameup), null, { timeout: 20000 })
    // The condition itself: an opaque origin, where Web Locks refuse.
    expect(await frame.evaluate(async () => [origin, await navigator.locks.request('x', () => {}).then(() => 'granted', (error) => error.name)])).toEqual([
      'null',
      'SecurityError',
    ])
    return { page, frame, errors }
  }

  it('proxy mode delivers within flushInterval, not at unload', async () => {
    // A gateway that admits the sandbox's "null" origin (the proxy refuses unlisted origins).
    await sandboxBrowser.context.route(harness.origin + '/flameup', async (route) => {
      const headers = { ...route.request().headers() }
      delete headers.origin
      const response = await route.fetch({ headers })
      await route.fulfill({ response, headers: { ...response.headers(), 'access-control-allow-origin': '*' } })
    })
    const { frame, errors } = await sandboxed({ ...FAST, proxyUrl: harness.origin + '/flameup' })
    await frame.evaluate(() => (window as any).flameup.identify('sandbox_proxy', { plan: 'pro' }))
    await expectDelivered(harness, 1, 10000)
    await expect.poll(() => frame.evaluate(() => (window as any).__events.length)).toBe(1)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })

  it('direct mode delivers within flushInterval', async () => {
    const { proxyUrl, ...timings } = FAST
    const { frame, errors } = await sandboxed({ ...timings, workspaceId: WORKSPACE_ID, apiKey: API_KEY, apiHost: harness.api.url })
    await frame.evaluate(() => (window as any).flameup.identify('sandbox_direct', { plan: 'pro' }))
    await expectDelivered(harness, 1, 10000)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })
})

describe('wall-clock jumps', () => {
  it('a clock corrected backwards: the later identify wins the merge', async () => {
    harness.api.setFaults({ down: true })
    const { page, errors } = await clockPage(harness.pageUrl())
    await setOffset(page, HOUR)
    await identify(page, 'clock_user', { plan: 'pro' })
    await setOffset(page, 0)
    await identify(page, 'clock_user', { plan: 'enterprise' })
    harness.api.setFaults({})
    await page.evaluate(() => (window as any).flameup.flush())
    await expect.poll(() => harness.api.people.get('clock_user')?.attributes.plan, { timeout: 20000 }).toBe('enterprise')
    await expect.poll(() => pending(page)).toBe(0)
    expect(harness.api.people.get('clock_user').attributes.plan).toBe('enterprise')
    expectNoPageErrors(errors)
  })

  it('a retry time set while the clock ran 2 h fast: after the correction the call goes within retryMaxDelay', async () => {
    harness.api.setFaults({ status: 503 })
    const { page, errors } = await clockPage(harness.pageUrl())
    await setOffset(page, 2 * HOUR)
    await identify(page, 'fast_clock', { plan: 'pro' })
    // The 503 recorded in the page: a retry time 2 h ahead of the real clock.
    await expect.poll(async () => (await storedCalls(page))[0]?.attempts, { timeout: 10000 }).toBeGreaterThan(0)
    // Offline, the SDK stops trying; its paused event comes from a round that finished every send.
    await browser.context.setOffline(true)
    await expect.poll(() => events(page, 'paused'), { timeout: 10000 }).toEqual([{ reason: 'offline' }])
    expect((await storedCalls(page))[0].nextAt).toBeGreaterThan(Date.now() + HOUR)
    harness.api.setFaults({})
    await setOffset(page, 0)
    await browser.context.setOffline(false)
    await page.evaluate(() => (window as any).flameup.flush())
    // FAST: retryMaxDelay is 1 s.
    await expectDelivered(harness, 1, 10000)
    await expect.poll(() => pending(page)).toBe(0)
    expectNoDuplicates(harness)
    expectNoPageErrors(errors)
  })
})
