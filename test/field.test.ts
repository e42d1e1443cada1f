// Contract §4a (delivery in the field) and §3 (identify's options and result), in happy-dom with
// fake-indexeddb: each test is one reported failure, as small as it gets.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FlameupError } from '../src/errors'
import {
  api,
  bytes,
  client,
  closeAll,
  defer,
  elapse,
  items,
  json,
  proxy,
  queued,
  record,
  setVisibility,
  stubFetch,
  turns,
  until,
  useClock,
  type Sent,
} from './helpers'

beforeEach(() => {
  useClock()
  vi.spyOn(console, 'warn').mockImplementation(() => {})
})
afterEach(closeAll)

const users = (sent: Sent[]) => sent.map((request) => request.body.batch.map((item: any) => item.userId))
const big = (size: number) => ({ blob: 'x'.repeat(size) })
/** Keepalive bytes of the requests whose answer has not come yet. */
const keepaliveInFlight = (requests: Sent[]) => requests.filter((request) => request.init.keepalive).reduce((total, request) => total + bytes(request.raw), 0)

describe('a page closing right after identify (login, then redirect)', () => {
  it('sends a call identify accepted before the start-up read ended, and stores it too', async () => {
    // The page is gone: no answer ever comes.
    const sent = stubFetch(() => new Promise<Response>(() => {}))
    const flameup = client()
    const identified = flameup.identify('u1', { plan: 'pro' })
    window.dispatchEvent(new Event('pagehide'))
    expect(items(sent).map((item) => [item.userId, item.traits])).toEqual([['u1', { plan: 'pro' }]])
    expect(sent[0].init.keepalive).toBe(true)
    expect(await identified).toBe('queued')
    // Stored as well: had the request died with the page, the next page sends it (the proxy dedupes).
    expect((await queued()).map((call) => [call.userId, call.messageId])).toEqual([['u1', items(sent)[0].messageId]])
  })

  it('announces the call once and stores nothing more when the answer comes before the store is read', async () => {
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    const identified = flameup.identify('u1', { plan: 'pro' })
    window.dispatchEvent(new Event('pagehide'))
    expect(await identified).toBe('queued')
    await until(() => events.delivered.length == 1, 'the answer')
    await turns()
    expect(await flameup.pending()).toBe(0)
    await flameup.flush()
    await elapse(5000)
    expect(sent).toHaveLength(1)
    expect(events.delivered.map((event) => event.userId)).toEqual(['u1'])
  })

  it('stores the call, and sends it again later, when that early request is answered with a retry', async () => {
    let status = 503
    const sent = stubFetch((request) => (status == 503 ? json({ error: 'Service Unavailable' }, 503) : proxy()(request)))
    const flameup = client()
    const events = record(flameup)
    const identified = flameup.identify('u1', { plan: 'pro' })
    window.dispatchEvent(new Event('pagehide'))
    expect(await identified).toBe('queued')
    expect((await queued()).map((call) => call.userId)).toEqual(['u1'])
    status = 201
    await flameup.flush()
    expect(users(sent)).toEqual([['u1'], ['u1']])
    expect(events.delivered.map((event) => event.userId)).toEqual(['u1'])
    expect(await flameup.pending()).toBe(0)
  })

  it('sends nothing of a call made before optOut() on the same page, even before the start-up read ends', async () => {
    const sent = stubFetch()
    const flameup = client()
    const identified = flameup.identify('u1', { plan: 'pro' })
    const optedOut = flameup.optOut()
    window.dispatchEvent(new Event('pagehide'))
    expect(sent).toEqual([])
    expect(await identified).toBe('opted_out')
    await optedOut
    expect(await queued()).toEqual([])
  })

  it('sends calls replayed from the stub at once too (they are accepted synchronously)', async () => {
    const sent = stubFetch(() => new Promise<Response>(() => {}))
    const flameup = client()
    const calls = [flameup.identify('u1'), flameup.identify('u2', { plan: 'pro' })]
    const restore = setVisibility('hidden')
    try {
      document.dispatchEvent(new Event('visibilitychange'))
    } finally {
      restore()
    }
    expect(users(sent)).toEqual([['u1', 'u2']])
    expect(await Promise.all(calls)).toEqual(['queued', 'queued'])
  })
})

describe('the keepalive budget counts the requests in flight', () => {
  it("a hidden page's send stays within 64 KB together with a flush still waiting on the proxy", async () => {
    const answer = defer<void>()
    const sent = stubFetch(async (request) => {
      await answer.promise
      return proxy()(request)
    })
    const flameup = client()
    const events = record(flameup)
    for (let i = 0; i < 14; i++) await flameup.identify('a_' + i, big(3500))
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the first flush')
    for (let i = 0; i < 10; i++) await flameup.identify('b_' + i, big(2600))
    window.dispatchEvent(new Event('pagehide'))
    // What fits the room left goes now, with keepalive; nothing makes the browser refuse it.
    expect(sent.length).toBeGreaterThan(1)
    expect(sent.every((request) => request.init.keepalive)).toBe(true)
    expect(keepaliveInFlight(sent)).toBeLessThanOrEqual(64_000)
    answer.resolve()
    await flushing
    await flameup.flush()
    await until(() => events.delivered.length == 24, 'every call')
    expect(events.dropped).toEqual([])
  })

  it('a flush sends without keepalive what does not fit beside a closing send in flight', async () => {
    const answer = defer<void>()
    const sent = stubFetch(async (request) => {
      await answer.promise
      return proxy()(request)
    })
    const flameup = client()
    for (let i = 0; i < 14; i++) await flameup.identify('a_' + i, big(3500))
    window.dispatchEvent(new Event('pagehide'))
    expect(sent).toHaveLength(1)
    // The page stayed (a tab switch): later calls go by a normal flush while that request waits.
    for (let i = 0; i < 10; i++) await flameup.identify('b_' + i, big(2600))
    const flushing = flameup.flush()
    await until(() => sent.length == 2, 'the flush')
    expect(sent[1].body.batch).toHaveLength(10)
    expect(sent[1].init.keepalive).toBe(false)
    expect(keepaliveInFlight(sent)).toBeLessThanOrEqual(64_000)
    answer.resolve()
    await flushing
  })
})

describe('the keepalive budget after a back/forward-cache restore', () => {
  const restoreFromCache = () => window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))

  it('no longer counts requests that will never settle (Firefox): the next hidden page has the whole budget', async () => {
    let first = true
    const sent = stubFetch((request) => (first ? ((first = false), new Promise<Response>(() => {})) : proxy()(request)))
    const flameup = client()
    const events = record(flameup)
    for (let i = 0; i < 14; i++) await flameup.identify('a_' + i, big(3500))
    window.dispatchEvent(new Event('pagehide'))
    expect(sent).toHaveLength(1)
    expect(bytes(sent[0].raw)).toBeGreaterThan(48_000)
    restoreFromCache()
    await until(() => events.delivered.length == 14, 'the resend')
    // The restore's flush has ended: nothing of this page is in flight but the frozen request.
    await flameup.flush()
    for (let i = 0; i < 10; i++) await flameup.identify('b_' + i, big(2600))
    window.dispatchEvent(new Event('pagehide'))
    // The frozen request's 49 KB are not held: all ten calls (about 27 KB) go in one keepalive request.
    const closing = sent.slice(2)
    expect(users(closing)).toEqual([Array.from({ length: 10 }, (_, i) => 'b_' + i)])
    expect(closing[0].init.keepalive).toBe(true)
  })

  it('is not given back twice when a request from before the freeze settles after the restore (Chromium)', async () => {
    const answer = defer<void>()
    let first = true
    const sent = stubFetch(async (request) => {
      if (first) (first = false), await answer.promise
      return proxy()(request)
    })
    const flameup = client()
    const events = record(flameup)
    for (let i = 0; i < 14; i++) await flameup.identify('a_' + i, big(3500))
    window.dispatchEvent(new Event('pagehide'))
    restoreFromCache()
    await until(() => events.delivered.length == 14, 'the resend')
    // The restored page sent again what froze in flight (the proxy dedupes it); this page's keepalive
    // requests are the frozen one and the resend's, both settled now or about to.
    answer.resolve()
    await until(() => sent.length == 2 && events.delivered.length == 14, 'the late answer')
    await flameup.flush()
    const before = sent.length
    for (let i = 0; i < 30; i++) await flameup.identify('b_' + i, big(2600))
    window.dispatchEvent(new Event('pagehide'))
    const closing = sent.slice(before)
    expect(closing.length).toBeGreaterThan(0)
    expect(closing.every((request) => request.init.keepalive)).toBe(true)
    // 30 calls of 2.6 KB are 78 KB: only what fits 64 KB goes, the budget counted once.
    expect(keepaliveInFlight(closing)).toBeLessThanOrEqual(64_000)
  })
})

describe('413: a batch too large for the proxy or a gateway', () => {
  /** A gateway before the proxy that refuses bodies over `limit` bytes. */
  const gateway = (limit: number) => (request: Sent) => (bytes(request.raw) > limit ? json({ error: 'Payload Too Large' }, 413) : proxy()(request))

  it('is split in halves and sent again until each part fits: 20 calls of 1.9 KB behind a 30,000-byte limit', async () => {
    const sent = stubFetch(gateway(30_000))
    const flameup = client()
    const events = record(flameup)
    for (let i = 0; i < 20; i++) await flameup.identify('u_' + i, big(1900))
    await flameup.flush()
    expect(sent.map((request) => request.body.batch.length)).toEqual([20, 10, 10])
    expect(events.delivered).toHaveLength(20)
    expect(events.dropped).toEqual([])
    expect(await flameup.pending()).toBe(0)
  })

  it('drops only a call too large alone (rejected, status 413)', async () => {
    const sent = stubFetch(gateway(30_000))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('huge', big(31_000))
    await flameup.identify('u_1', big(1900))
    await flameup.identify('u_2', big(1900))
    await flameup.flush()
    expect(sent.map((request) => request.body.batch.length)).toEqual([3, 1, 2])
    expect(events.dropped).toEqual([expect.objectContaining({ userId: 'huge', reason: 'rejected', status: 413 })])
    expect(events.delivered.map((event) => event.userId)).toEqual(['u_1', 'u_2'])
  })
})

describe("an item's 403 in a proxy answer (identity refused)", () => {
  it('drops that call as rejected and pauses nothing', async () => {
    const sent = stubFetch(proxy((item) => (item.userId == 'forged' ? 403 : 201)))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('forged')
    await flameup.identify('u_1')
    await flameup.flush()
    expect(events.dropped).toEqual([expect.objectContaining({ userId: 'forged', reason: 'rejected', status: 403 })])
    expect(events.paused).toEqual([])
    await flameup.identify('u_2')
    await flameup.flush()
    expect(users(sent)).toEqual([['forged', 'u_1'], ['u_2']])
    expect(events.delivered.map((event) => event.userId)).toEqual(['u_1', 'u_2'])
    expect(await queued()).toEqual([])
  })

  it("an item's 401 (the API refused the proxy's key) still pauses and keeps the call", async () => {
    stubFetch(proxy((item) => (item.userId == 'u_1' ? 401 : 201)))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.flush()
    expect(events.paused).toEqual([{ reason: 'unauthorized' }])
    expect(events.dropped).toEqual([])
    expect(await flameup.pending()).toBe(1)
  })
})

describe('identify(userId, traits, { userHash })', () => {
  it('stores userHash with the call and sends it in the batch item', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { plan: 'pro' }, { userHash: 'ab12' })
    expect((await queued()).map((call) => call.userHash)).toEqual(['ab12'])
    await flameup.flush()
    expect(items(sent)).toEqual([expect.objectContaining({ userId: 'u_1', traits: { plan: 'pro' }, userHash: 'ab12' })])
  })

  it('sends no userHash key without one', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { plan: 'pro' })
    await flameup.flush()
    expect(Object.keys(items(sent)[0]).sort()).toEqual(['messageId', 'timestamp', 'traits', 'userId'])
  })

  it('never sends it to the API in direct mode', async () => {
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    await flameup.identify('u_1', { plan: 'pro' }, { userHash: 'ab12' })
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(sent[0].raw).not.toContain('ab12')
    expect(sent[0].body).toEqual({ userId: 'u_1', traits: { plan: 'pro' } })
  })

  it.each([42, null, {}, ['ab']])('rejects userHash %j (invalid_argument, field userHash) and queues nothing', async (userHash) => {
    const flameup = client()
    const error = (await flameup.identify('u_1', {}, { userHash } as any).catch((error) => error)) as FlameupError
    expect(error).toMatchObject({ name: 'FlameupError', code: 'invalid_argument', field: 'userHash' })
    expect(error.message).toMatch(/userHash/)
    expect(await flameup.pending()).toBe(0)
  })

  it("merges two calls of one user under the newest call's userHash", async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { a: 1 }, { userHash: 'old' })
    await flameup.identify('u_1', { b: 2 }, { userHash: 'new' })
    await flameup.flush()
    expect(items(sent)).toEqual([expect.objectContaining({ userId: 'u_1', traits: { a: 1, b: 2 }, userHash: 'new' })])
  })
})

describe('what identify resolves with (contract §3)', () => {
  it("'queued', then 'skipped' for the unchanged call, then 'opted_out'", async () => {
    stubFetch()
    const flameup = client()
    expect(await flameup.identify('u_1', { plan: 'pro' })).toBe('queued')
    await flameup.flush()
    expect(await flameup.identify('u_1', { plan: 'pro' })).toBe('skipped')
    expect(await flameup.identify('u_1', { plan: 'team' })).toBe('queued')
    await flameup.optOut()
    expect(await flameup.identify('u_2')).toBe('opted_out')
    expect(await flameup.pending()).toBe(0)
  })
})
