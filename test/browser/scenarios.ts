// The delivery scenarios every engine runs, written once over the engine layer (engines.mjs):
// real IndexedDB, Web Locks, keepalive and offline handling of each engine, the built script tag
// and proxy, the API stand-in. engines.<engine>.test.ts calls `deliveryScenarios(engines.x)`.
// A scenario an engine cannot express is skipped by name, with the reason in its title and printed.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Engine, EngineBrowser, EnginePage } from './engines.mjs'
import { ANY_ORIGIN_PATH, API_KEY, FAST, LOSE_CONNECTIONS, WORKSPACE_ID, WRONG_KEY_PATH, expectDelivered, expectNoDuplicates, expectNoPageErrors, startHarness, type Harness } from './server'

const WAIT = 30000
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const HOUR = 36e5
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => prefix + '_' + i)

// ---- The SDK on a test page, over any engine (the engine-neutral twins of harness.mjs's helpers).

/** Polls until the script tag has replaced the stub with the real client. */
export const waitReady = async (page: EnginePage) => {
  const deadline = Date.now() + WAIT
  while (!(await page.evaluate(() => !!(window as any).flameup && !('q' in (window as any).flameup)))) {
    if (Date.now() > deadline) throw new Error('the script tag did not load within ' + WAIT + ' ms')
    await delay(50)
  }
}
export const gotoReady = async (page: EnginePage, url: string) => {
  await page.goto(url)
  await waitReady(page)
}
export const reloadReady = async (page: EnginePage) => {
  await page.reload()
  await waitReady(page)
}
export const identify = (page: EnginePage, userId: string, traits: Record<string, unknown> = {}) =>
  page.evaluate(([userId, traits]) => (window as any).flameup.identify(userId, traits), [userId, traits] as const)
/** identify for each userId, all at once, in one evaluate. */
export const identifyMany = (page: EnginePage, userIds: string[], traits: Record<string, unknown> = {}) =>
  page.evaluate(
    ([userIds, traits]) => Promise.all(userIds.map((userId) => (window as any).flameup.identify(userId, traits))).then(() => {}),
    [userIds, traits] as const,
  )
export const pending = (page: EnginePage): Promise<number> => page.evaluate(() => (window as any).flameup.pending())
/** The SDK events this page load has seen, as payloads. */
export const events = (page: EnginePage, name?: 'delivered' | 'dropped' | 'paused'): Promise<any[]> =>
  page.evaluate(
    (name) => (window as any).__events.filter(([event]: [string]) => !name || event == name).map(([, payload]: [string, unknown]) => payload),
    name ?? null,
  )

/** The queued calls in the page's IndexedDB, read over a connection of the test's own (closed again). */
export const storedCalls = (page: EnginePage): Promise<any[]> =>
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
          all.onerror = () => reject(all.error)
        }
      }),
  )

/** Page scripts (harness `before`) that break the engine before the SDK loads. */
export const FAULTS = {
  /** Web Locks present but refusing, as in a sandboxed iframe or an opaque origin: request throws at once. */
  locksThrow: `LockManager.prototype.request = function () { throw new DOMException('Web Locks refused by the test', 'SecurityError') }`,
  /** ...or request returns a promise that rejects (Chromium's sandboxed iframe). */
  locksReject: `LockManager.prototype.request = function () { return Promise.reject(new DOMException('Web Locks refused by the test', 'SecurityError')) }`,
  /**
   * WebKit-style lost connection: after `__loseConnections()`, every connection opened so far throws
   * InvalidStateError from transaction(), with no close event; a fresh open works.
   */
  loseConnections: LOSE_CONNECTIONS,
  /** Date.now() runs `window.__offset` ms ahead of the real clock (a wrong wall clock, corrected later). */
  clock: `{
    const now = Date.now
    window.__offset = 0
    Date.now = () => now() + window.__offset
  }`,
  /** Older Safari (before 15.4), some embedded views: no Web Locks at all. */
  noLocks: `Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined })`,
  /** IndexedDB.open throws at once (a blocked or missing factory). */
  openThrows: `IDBFactory.prototype.open = () => { throw new DOMException('IndexedDB blocked by the test', 'SecurityError') }`,
  /** IndexedDB.open's request errors later (private mode in older engines, a corrupt profile). */
  openErrors: `IDBFactory.prototype.open = () => {
    const request = { error: new DOMException('IndexedDB broken by the test', 'UnknownError') }
    setTimeout(() => request.onerror && request.onerror(new Event('error')))
    return request
  }`,
}

/** Runs the test where the engine can express it, else skips it by name with the reason in its title and on the console. */
const itWhere = (engine: Engine, can: true | string, title: string, fn: () => Promise<void>) => {
  if (can === true) return it(title, fn)
  console.info(`[flameup-test] ${engine.name}: skipped "${title}": ${can}`)
  it.skip(`${title} [skipped in ${engine.name}: ${can}]`, fn)
}

export function deliveryScenarios(engine: Engine) {
  describe(`delivery in ${engine.name}`, () => {
    let browser: EngineBrowser
    let harness: Harness
    let pages: EnginePage[] = []
    /** Every error any page of the test met, read before it closes. */
    const newPage = async (options?: { tab?: boolean }) => {
      const page = await browser.newPage(options)
      pages.push(page)
      return page
    }
    const openReady = async (url: string) => {
      const page = await newPage()
      await gotoReady(page, url)
      return page
    }
    const expectNoErrors = async (...list: EnginePage[]) => expectNoPageErrors(...(await Promise.all(list.map((page) => page.errors()))))

    beforeAll(async () => {
      browser = await engine.launch()
      console.info(`[flameup-test] ${engine.name} ${browser.version()}`)
    })
    afterAll(async () => {
      await browser?.close()
    })
    // A new harness is a new port, hence a new origin: every test starts with empty IndexedDB.
    beforeEach(async () => {
      harness = await startHarness()
    })
    afterEach(async () => {
      if (engine.offline === true) await browser.setOffline(false)
      for (const page of pages) await page.close()
      pages = []
      await harness?.close()
    })

    it('delivers every call once after reloads while the API was down', async () => {
      harness.api.setFaults({ down: true })
      const page = await openReady(harness.pageUrl())
      const users = ids('down', 10)
      await identifyMany(page, users, { plan: 'pro' })
      // The SDK tried and met the dead API before the reloads.
      await expect.poll(() => harness.api.requests.length, { timeout: WAIT }).toBeGreaterThan(0)
      await reloadReady(page)
      await reloadReady(page)
      expect(await pending(page)).toBe(10)
      expect(harness.deliveredUsers()).toBe(0)

      harness.api.setFaults({})
      await expectDelivered(harness, 10, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
      expectNoDuplicates(harness)
      expect(await events(page, 'dropped')).toEqual([])
      await expectNoErrors(page)
    })

    // Web Locks where present; without them (Safari before 15.4), a lease record in IndexedDB.
    it.each([
      ['Web Locks', false],
      ['the IndexedDB lease', true],
    ])('three tabs identifying 40 users each at once (%s): 120 arrive, none twice', async (_, noLocks) => {
      const tabs: EnginePage[] = []
      for (let tab = 0; tab < 3; tab++) tabs.push(await openReady(harness.pageUrl(FAST, [], noLocks ? FAULTS.noLocks : '')))
      for (const page of tabs) expect(await page.evaluate(() => !!navigator.locks)).toBe(!noLocks)
      await Promise.all(tabs.map((page, tab) => identifyMany(page, ids('tab' + tab, 40), { tab })))

      await expectDelivered(harness, 120, WAIT)
      await expect.poll(() => Promise.all(tabs.map((page) => pending(page))), { timeout: WAIT }).toEqual([0, 0, 0])
      expectNoDuplicates(harness)
      // Nothing failed, so the API saw each call once, and no two tabs raced to send the same call.
      expect(harness.api.requests).toHaveLength(120)
      expect([...harness.sentCounts()].filter(([, sent]) => sent > 1)).toEqual([])
      expect([...harness.sentCounts().keys()]).toHaveLength(120)
      await expectNoErrors(...tabs)
    })

    // Background tabs are hidden: each sends what it knows on visibilitychange, outside the lock, and
    // may race the tab that holds it. The proxy's dedupe keeps the API at exactly once.
    itWhere(engine, engine.hiddenTabs, 'three tabs of one window, the background ones hidden: 120 arrive at the API, none twice', async () => {
      const tabs: EnginePage[] = []
      for (let tab = 0; tab < 3; tab++) {
        const page = await newPage({ tab: true })
        await gotoReady(page, harness.pageUrl())
        tabs.push(page)
      }
      // WebKit hides a tab when another opens in front of it; poll in case the event comes late.
      const hidden = async () => (await Promise.all(tabs.map((page) => page.evaluate(() => document.visibilityState)))).filter((state) => state == 'hidden').length
      await expect.poll(hidden, { timeout: WAIT }).toBeGreaterThanOrEqual(2)
      await Promise.all(tabs.map((page, tab) => identifyMany(page, ids('tab' + tab, 40), { tab })))

      await expectDelivered(harness, 120, WAIT)
      await expect.poll(() => Promise.all(tabs.map((page) => pending(page))), { timeout: WAIT }).toEqual([0, 0, 0])
      expectNoDuplicates(harness)
      expect(harness.api.requests).toHaveLength(120)
      await expectNoErrors(...tabs)
    })

    it('a call made just before navigating away arrives through the unload keepalive', async () => {
      // No timer can send it within the test: only pagehide/visibilitychange can.
      const page = await openReady(harness.pageUrl({ ...FAST, flushInterval: 60000 }))
      await identify(page, 'leaver', { email: 'leaver@example.com', plan: 'pro' })
      expect(harness.proxyRequests).toHaveLength(0)
      await page.goto(harness.otherUrl)

      await expectDelivered(harness, 1, WAIT)
      expect(harness.accepted()[0].body).toEqual({ userId: 'leaver', email: 'leaver@example.com', traits: { plan: 'pro' } })
      expectNoDuplicates(harness)
      // pagehide and visibilitychange may both fire on the way out: the call still goes once.
      expect([...harness.sentCounts().values()]).toEqual([1])
      await expectNoErrors(page)
    })

    // Contract 4a: a call made just before location.replace, not awaited, is delivered by that page or the next
    // (the closing page sends what identify() accepted, stored yet or not).
    it('a call made just before location.replace (not awaited) is delivered once', async () => {
      const page = await openReady(harness.pageUrl({ ...FAST, flushInterval: 60000 }))
      await page.evaluate((url) => {
        ;(window as any).flameup.identify('replacer', { plan: 'pro' })
        location.replace(url)
      }, harness.otherUrl)
      await expect.poll(() => page.evaluate(() => location.pathname).catch(() => ''), { timeout: WAIT }).toBe('/other')
      // The next page load of the origin sends whatever the leaving page could not.
      await gotoReady(page, harness.pageUrl())
      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(harness.acceptedCount('replacer')).toBe(1)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    // Contract 4a: a hidden-page send stays within the engine's 64 KB keepalive budget; the rest waits for the next load.
    it('leaving with 8 calls of 20 KB: what fits the keepalive budget goes, the rest with the next load, each once', async () => {
      const page = await openReady(harness.pageUrl({ ...FAST, flushInterval: 60000 }))
      const users = ids('big', 8)
      await page.evaluate(
        (users) => Promise.all(users.map((userId, i) => (window as any).flameup.identify(userId, { blob: 'x'.repeat(20000) + i }))).then(() => {}),
        users,
      )
      await page.goto(harness.otherUrl)
      await expect.poll(() => harness.deliveredUsers(), { timeout: WAIT }).toBeGreaterThan(0)
      const byLeavingPage = harness.deliveredUsers()
      expect(byLeavingPage).toBeLessThan(8)

      await gotoReady(page, harness.pageUrl())
      await expectDelivered(harness, 8, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    it('opt-out survives a reload: nothing is queued or sent until optIn', async () => {
      const page = await openReady(harness.pageUrl())
      await page.evaluate(() => (window as any).flameup.optOut())
      await reloadReady(page)
      await identify(page, 'while_out', { plan: 'pro' })
      expect(await pending(page)).toBe(0)

      await page.evaluate(() => (window as any).flameup.optIn())
      await identify(page, 'after_in', { plan: 'pro' })
      await expectDelivered(harness, 1, WAIT)
      // Had the first call been queued, it would have gone in the same batch or before.
      expect(harness.accepted().map((entry) => entry.userId)).toEqual(['after_in'])
      expect(harness.api.requests).toHaveLength(1)
      expect([...harness.sentCounts().values()]).toEqual([1])
      await expectNoErrors(page)
    })

    it('401 keeps the queue paused; a page whose proxy has the right key delivers it', async () => {
      const users = ['key_0', 'key_1', 'key_2']
      const page = await openReady(harness.pageUrl({ ...FAST, proxyUrl: WRONG_KEY_PATH }))
      await identifyMany(page, users)

      await expect.poll(() => events(page, 'paused'), { timeout: WAIT }).toEqual([{ reason: 'unauthorized' }])
      expect(harness.api.requests.map((entry) => entry.status)).toContain(401)
      expect(harness.deliveredUsers()).toBe(0)
      expect(await pending(page)).toBe(3)
      expect(await events(page, 'dropped')).toEqual([])

      await gotoReady(page, harness.pageUrl())
      await expectDelivered(harness, 3, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    it('429 with Retry-After: 1 is retried once, after the second it asked for', async () => {
      harness.api.setFaults({ status: 429, retryAfter: 1 })
      // A wide cap, so that the Retry-After, not the cap, sets the wait; the backoff alone would retry within 50 ms.
      const page = await openReady(harness.pageUrl({ ...FAST, retryMaxDelay: 5000 }))
      await identify(page, 'limited', { plan: 'pro' })
      await expect.poll(() => harness.api.requests.some((entry) => entry.status == 429), { timeout: WAIT }).toBe(true)
      harness.api.setFaults({})

      await expectDelivered(harness, 1, WAIT)
      const [limited, retried, ...more] = harness.api.requests
      expect(limited.status).toBe(429)
      expect(retried.status).toBe(201)
      expect(more).toEqual([])
      expect(Date.parse(retried.at) - Date.parse(limited.at)).toBeGreaterThanOrEqual(900)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    // Both ways IndexedDB.open can fail: a synchronous throw and a request that errors later.
    it.each([
      ['throws', FAULTS.openThrows],
      ['errors', FAULTS.openErrors],
    ])('IndexedDB.open %s: the call is still delivered, and the page sees no error', async (_, fault) => {
      const page = await openReady(harness.pageUrl(FAST, [], fault))
      await identify(page, 'no_idb', { plan: 'pro' })

      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(await events(page, 'delivered')).toMatchObject([{ userId: 'no_idb' }])
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    itWhere(engine, engine.offline, 'offline: nothing is sent and paused(offline) fires; back online, the call arrives', async () => {
      const page = await openReady(harness.pageUrl())
      await browser.setOffline(true)
      expect(await page.evaluate(() => navigator.onLine)).toBe(false)
      await identify(page, 'offline_user', { plan: 'pro' })

      // The flush came and found the browser offline: that is when nothing must have been sent.
      await expect.poll(() => events(page, 'paused'), { timeout: WAIT }).toEqual([{ reason: 'offline' }])
      expect(harness.proxyRequests).toHaveLength(0)
      expect(harness.api.requests).toHaveLength(0)
      expect(await pending(page)).toBe(1)

      await browser.setOffline(false)
      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    // Contract 4a: a page restored from the back/forward cache goes on delivering. Firefox never
    // settles a request whose answer came while the page was frozen (here the hidden-page keepalive).
    itWhere(engine, engine.bfcache, 'back/forward cache: a page restored from it goes on delivering what it had queued', async () => {
      harness.api.setFaults({ down: true })
      // No timer sends within the test, and no request is in flight when the page leaves (that would keep it out of the cache).
      const page = await openReady(harness.pageUrl({ ...FAST, flushInterval: 60000 }) + '&bfcache')
      await page.evaluate(() => addEventListener('pageshow', (event) => ((window as any).__restored = event.persisted)))
      await identify(page, 'cached', { plan: 'pro' })
      expect(harness.proxyRequests).toHaveLength(0)
      // Leaving hides the page: it sends its queue with keepalive, and the dead API answers while it is frozen.
      await page.goto(harness.otherUrl)
      await expect.poll(() => harness.proxyRequests.map((entry) => entry.status), { timeout: WAIT }).toEqual([502])
      await page.back()
      await expect.poll(() => page.evaluate(() => (window as any).__restored).catch(() => undefined), { timeout: WAIT }).toBe(true)

      harness.api.setFaults({})
      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(await events(page, 'delivered')).toMatchObject([{ userId: 'cached' }])
      // And a call made after the restore goes as well (flushed: this page's flushInterval is a minute).
      await identify(page, 'after_restore', { plan: 'pro' })
      await page.evaluate(() => (window as any).flameup.flush())
      await expectDelivered(harness, 2, WAIT)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    // ---- The field cases of contract 4a (issue 9) the engine can express; faults come from page scripts.

    // Web Locks that throw or reject count as absent: the lease takes over, and the call goes within flushInterval, not at unload.
    it.each([
      ['throws', FAULTS.locksThrow, 'SecurityError'],
      ['rejects', FAULTS.locksReject, 'SecurityError'],
    ])('Web Locks request %s (sandbox-like): the call is delivered while the page stays open', async (_, fault, name) => {
      const page = await openReady(harness.pageUrl(FAST, [], fault))
      expect(await page.evaluate(() => Promise.resolve().then(() => navigator.locks.request('probe', () => {})).then(() => 'granted', (error) => error.name))).toBe(name)
      await identify(page, 'locked_out', { plan: 'pro' })

      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(await events(page, 'delivered')).toMatchObject([{ userId: 'locked_out' }])
      // The page never left: no unload sent it.
      expect(await page.evaluate(() => document.visibilityState)).toBe('visible')
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    // A real `<iframe sandbox="allow-scripts">`: an opaque origin, where Web Locks refuse and IndexedDB is closed to it.
    for (const [mode, proxy] of [
      ['proxy', true],
      ['direct', false],
    ] as const)
      itWhere(engine, engine.sandbox, `sandboxed iframe, ${mode} mode: delivered within flushInterval`, async () => {
        const { proxyUrl, ...timings } = FAST
        const config = proxy
          ? { ...FAST, proxyUrl: harness.origin + ANY_ORIGIN_PATH }
          : { ...timings, workspaceId: WORKSPACE_ID, apiKey: API_KEY, apiHost: harness.api.url }
        const page = await newPage()
        await page.goto(harness.sandboxUrl(config))
        const frame = () => page.evaluate(() => (window as any).__frame as any[][])
        // The condition itself: an opaque origin, whose Web Locks refuse.
        await expect.poll(async () => (await frame()).find(([kind]) => kind == 'locks'), { timeout: WAIT }).toEqual(['locks', 'null', 'SecurityError'])
        await page.evaluate((userId) => document.querySelector('iframe')!.contentWindow!.postMessage([userId, { plan: 'pro' }], '*'), 'sandbox_' + mode)

        await expectDelivered(harness, 1, WAIT)
        await expect.poll(async () => (await frame()).filter(([kind]) => kind == 'delivered').length, { timeout: WAIT }).toBe(1)
        expect((await frame()).filter(([kind]) => kind == 'error')).toEqual([])
        expectNoDuplicates(harness)
      })

    it("logout wipe: another page's deleteDatabase('flameup') is not blocked by an open Flameup tab, and a tab opened meanwhile keeps IndexedDB", async () => {
      const a = await openReady(harness.pageUrl())
      await identify(a, 'before_wipe', { plan: 'pro' })
      await expectDelivered(harness, 1, WAIT)
      harness.api.setFaults({ down: true })

      // A logout wipe from a page of the origin without the SDK, not awaited; a Flameup tab opens while it runs.
      const other = await newPage()
      await other.goto(harness.otherUrl)
      await other.evaluate(() => {
        const outcome: string[] = ((window as any).__wipe = [])
        const request = indexedDB.deleteDatabase('flameup')
        request.onblocked = () => outcome.push('blocked')
        request.onsuccess = () => outcome.push('deleted')
        request.onerror = () => outcome.push('error')
      })
      const c = await openReady(harness.pageUrl())
      const took = await c.evaluate(() => {
        const started = performance.now()
        return (window as any).flameup.identify('after_wipe', { plan: 'pro' }).then(() => performance.now() - started)
      })
      await expect.poll(() => other.evaluate(() => (window as any).__wipe), { timeout: WAIT }).toEqual(['deleted'])
      // A blocked open gives up after 10 s; this one never waited for it.
      expect(took).toBeLessThan(5000)

      // Stored in IndexedDB, not in memory: a reload still has it.
      await reloadReady(c)
      expect(await pending(c)).toBe(1)
      expect((await storedCalls(c)).map((call) => call.userId)).toEqual(['after_wipe'])
      harness.api.setFaults({})
      await expectDelivered(harness, 2, WAIT)
      await expect.poll(() => pending(c), { timeout: WAIT }).toBe(0)
      expectNoDuplicates(harness)
      await expectNoErrors(a, c)
    })

    it('a connection lost WebKit-style (InvalidStateError, no close event) is reopened: later calls survive a reload', async () => {
      harness.api.setFaults({ down: true })
      const page = await openReady(harness.pageUrl(FAST, [], FAULTS.loseConnections))
      await identifyMany(page, ['lost_0', 'lost_1'])
      await page.evaluate(() => (window as any).__loseConnections())
      await identifyMany(page, ['lost_2', 'lost_3'])

      await reloadReady(page)
      expect(await pending(page)).toBe(4)
      harness.api.setFaults({})
      await expectDelivered(harness, 4, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    it('quota error mid-session: pending() and flush() stay truthful and the page delivers all 5 calls', async () => {
      harness.api.setFaults({ down: true })
      const page = await openReady(harness.pageUrl())
      await identifyMany(page, ['quota_0', 'quota_1', 'quota_2'])
      await expect.poll(() => harness.proxyRequests.length, { timeout: WAIT }).toBeGreaterThan(0)
      expect(await storedCalls(page)).toHaveLength(3)
      await page.evaluate(() => {
        IDBObjectStore.prototype.put = () => {
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
        }
      })
      await identifyMany(page, ['quota_3', 'quota_4'])
      expect(await pending(page)).toBe(5)

      harness.api.setFaults({})
      await page.evaluate(() => (window as any).flameup.flush())
      await expectDelivered(harness, 5, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      // Delivered by this page, not left to the next load.
      expect((await events(page, 'delivered')).map((payload) => payload.userId).sort()).toEqual(ids('quota', 5))
      expect(await events(page, 'dropped')).toEqual([])
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    it('two 20 KB calls of one user within flushInterval go as two items (no merge over 32 KB), and both are delivered', async () => {
      const page = await openReady(harness.pageUrl())
      await page.evaluate(() =>
        Promise.all([
          (window as any).flameup.identify('m_1', { notes_a: 'a'.repeat(20000) }),
          (window as any).flameup.identify('m_1', { notes_b: 'b'.repeat(20000) }),
        ]).then(() => {}),
      )
      await expect.poll(() => harness.acceptedCount('m_1'), { timeout: WAIT }).toBe(2)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(await events(page, 'dropped')).toEqual([])
      // Nothing refused or retried: the API saw each item once.
      expect(harness.api.requests.map((entry) => entry.status)).toEqual([201, 200])
      expect(Object.keys(harness.api.people.get('m_1').attributes).sort()).toEqual(['notes_a', 'notes_b'])
      // One user twice by design: each messageId once.
      expect(harness.duplicates().messageIds).toEqual([])
      await expectNoErrors(page)
    })

    it('413 from a gateway limiting bodies to 30,000 bytes: 20 calls of 1.9 KB in one flush window are split and all arrive', async () => {
      await harness.close()
      harness = await startHarness({ maxBody: 30_000 })
      const page = await openReady(harness.pageUrl({ ...FAST, flushInterval: 500 }))
      const users = ids('big', 20)
      await identifyMany(page, users, { notes: 'n'.repeat(1900) })

      await expectDelivered(harness, 20, WAIT)
      // The whole batch met the gateway's 413 once, then went in halves.
      expect(harness.proxyRequests.filter((request) => request.status == 413).map((request) => request.messageIds.length)).toEqual([20])
      await expect.poll(() => events(page, 'delivered').then((delivered) => delivered.length), { timeout: WAIT }).toBe(20)
      expect(await events(page, 'dropped')).toEqual([])
      expect(new Set(harness.accepted().map((entry) => entry.userId))).toEqual(new Set(users))
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    it('clock corrected backwards within a page: the later identify wins the merge', async () => {
      harness.api.setFaults({ down: true })
      const page = await openReady(harness.pageUrl(FAST, [], FAULTS.clock))
      await page.evaluate((ms) => ((window as any).__offset = ms), HOUR)
      await identify(page, 'clock_user', { plan: 'pro' })
      await page.evaluate(() => ((window as any).__offset = 0))
      await identify(page, 'clock_user', { plan: 'enterprise' })
      harness.api.setFaults({})
      await page.evaluate(() => (window as any).flameup.flush())
      await expect.poll(() => harness.api.people.get('clock_user')?.attributes.plan, { timeout: WAIT }).toBe('enterprise')
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expect(harness.api.people.get('clock_user').attributes.plan).toBe('enterprise')
      await expectNoErrors(page)
    })

    it('a retry time set while the clock ran 2 h fast: after the correction the call goes within retryMaxDelay', async () => {
      harness.api.setFaults({ status: 503 })
      // Retries 2 s apart, so that no request is in flight when the page corrects its clock.
      const page = await openReady(harness.pageUrl({ ...FAST, retryBaseDelay: 2000, retryMaxDelay: 2000 }, [], FAULTS.clock))
      await page.evaluate((ms) => ((window as any).__offset = ms), 2 * HOUR)
      await identify(page, 'fast_clock', { plan: 'pro' })
      // In the page, as soon as the 503 is recorded (a retry time 2 h ahead of the real clock): the clock is corrected.
      const nextAt = await page.evaluate(async () => {
        for (;;) {
          const calls = await new Promise<any[]>((resolve) => {
            const request = indexedDB.open('flameup')
            request.onsuccess = () => {
              const all = request.result.transaction('queue').objectStore('queue').getAll()
              all.onsuccess = () => (request.result.close(), resolve(all.result.filter((value) => value?.messageId)))
            }
          })
          if (calls[0]?.attempts > 0) return ((window as any).__offset = 0), calls[0].nextAt as number
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })
      expect(nextAt).toBeGreaterThan(Date.now() + HOUR)
      harness.api.setFaults({})
      await page.evaluate(() => (window as any).flameup.flush())

      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
      expectNoDuplicates(harness)
      await expectNoErrors(page)
    })

    itWhere(engine, engine.restart, 'a call queued with the API down survives a browser crash (SIGKILL) and is delivered once', async () => {
      harness.api.setFaults({ down: true })
      const before = await openReady(harness.pageUrl())
      await identify(before, 'restarted', { plan: 'pro' })
      await expect.poll(() => harness.api.requests.length, { timeout: WAIT }).toBeGreaterThan(0)
      await expectNoErrors(before)
      await browser.kill()
      pages = []

      harness.api.setFaults({})
      expect(harness.deliveredUsers()).toBe(0)
      // A page load with no identify of its own sends what the last session left queued.
      const after = await openReady(harness.pageUrl())
      await expectDelivered(harness, 1, WAIT)
      await expect.poll(() => pending(after), { timeout: WAIT }).toBe(0)
      expect(harness.acceptedCount('restarted')).toBe(1)
      expectNoDuplicates(harness)
      await expectNoErrors(after)
    })
  })

  // Firefox private windows: IndexedDB lives in memory for the session (reported against other SDKs as "nothing sent").
  describe(`delivery in a ${engine.name} private session`, () => {
    if (engine.private !== true) {
      itWhere(engine, engine.private, 'private browsing: calls survive a reload and are delivered once', async () => {})
      return
    }
    let browser: EngineBrowser
    let harness: Harness
    beforeAll(async () => {
      browser = await engine.launch(undefined, { private: true })
    })
    afterAll(async () => {
      await browser?.close()
    })
    beforeEach(async () => {
      harness = await startHarness()
    })
    afterEach(async () => {
      await harness?.close()
    })

    it('private browsing: calls survive a reload and are delivered once', async () => {
      harness.api.setFaults({ down: true })
      const page = await browser.newPage()
      try {
        await gotoReady(page, harness.pageUrl())
        expect(await page.evaluate(() => typeof indexedDB.open)).toBe('function')
        await identifyMany(page, ids('private', 5))
        await expect.poll(() => harness.api.requests.length, { timeout: WAIT }).toBeGreaterThan(0)
        await reloadReady(page)
        expect(await pending(page)).toBe(5)

        // Private indeed: nothing of this origin reached the profile on disk (a normal session writes storage/default/<origin>).
        expect(existsSync(join(browser.profile!, 'storage', 'default', harness.origin.replace(/[:/]+/g, '+').replace('http+', 'http+++')))).toBe(false)
        expect(existsSync(join(browser.profile!, 'storage'))).toBe(true)

        harness.api.setFaults({})
        await expectDelivered(harness, 5, WAIT)
        await expect.poll(() => pending(page), { timeout: WAIT }).toBe(0)
        expectNoDuplicates(harness)
        expectNoPageErrors(await page.errors())
      } finally {
        await page.close()
      }
    })
  })
}
