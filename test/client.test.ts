import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLock } from '../src/lock'
import { openStore } from '../src/store'
import {
  api,
  bytes,
  client,
  closeAll,
  DAY,
  defer,
  elapse,
  items,
  json,
  leftover,
  proxy,
  putRecords,
  queued,
  record,
  setOnline,
  setVisibility,
  stored,
  stubFetch,
  T0,
  turns,
  until,
  useClock,
  UUID,
  type Sent,
} from './helpers'

beforeEach(() => {
  useClock()
  vi.spyOn(console, 'warn').mockImplementation(() => {})
})
afterEach(closeAll)

const users = (sent: Sent[]) => sent.map((request) => request.body.batch.map((item: any) => item.userId))

describe('identify', () => {
  it('resolves once the call is stored in IndexedDB, with its id, time, attempts and due time', async () => {
    stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { email: 'ann@example.com', plan: 'pro' })
    const [call, ...rest] = await queued()
    expect(rest).toEqual([])
    expect(call).toMatchObject({
      messageId: expect.stringMatching(UUID),
      userId: 'u_1',
      email: 'ann@example.com',
      traits: { plan: 'pro' },
      timestamp: '2030-01-01T00:00:00.000Z',
      attempts: 0,
      nextAt: expect.any(Number),
    })
    expect(call.nextAt).toBeLessThanOrEqual(T0)
  })

  it('stores each call under its own key, so calls made together are all kept', async () => {
    const flameup = client()
    await Promise.all(['u_1', 'u_2', 'u_3'].map((userId) => flameup.identify(userId)))
    await flameup.identify('u_4')
    expect((await queued()).map((call) => call.userId)).toEqual(['u_1', 'u_2', 'u_3', 'u_4'])
    expect(new Set((await queued()).map((call) => call.messageId)).size).toBe(4)
  })

  it('keeps calls from two clients of the same origin (two tabs) side by side', async () => {
    const tabA = client()
    const tabB = client()
    await Promise.all([tabA.identify('u_a'), tabB.identify('u_b'), tabA.identify('u_a2')])
    expect((await queued()).map((call) => call.userId).sort()).toEqual(['u_a', 'u_a2', 'u_b'])
  })

  it('rejects bad input and queues nothing', async () => {
    const sent = stubFetch()
    const flameup = client()
    await expect(flameup.identify('')).rejects.toMatchObject({ code: 'invalid_argument', field: 'userId' })
    await expect(flameup.identify('u_1', { email: 'nope' })).rejects.toMatchObject({ code: 'invalid_argument', field: 'email' })
    expect(await flameup.pending()).toBe(0)
    await elapse(5000)
    expect(sent).toEqual([])
  })

  it('flushes flushInterval after the first queued call, not before, and later calls do not postpone it', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1')
    await vi.advanceTimersByTimeAsync(600)
    await flameup.identify('u_2')
    await vi.advanceTimersByTimeAsync(399)
    await turns()
    expect(sent).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await until(() => sent.length == 1, 'the flush')
    expect(users(sent)).toEqual([['u_1', 'u_2']])
    expect(sent[0].time).toBe(T0 + 1000)
  })

  it('honours a custom flushInterval', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', flushInterval: 5000 })
    await flameup.identify('u_1')
    await vi.advanceTimersByTimeAsync(4999)
    await turns()
    expect(sent).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await until(() => sent.length == 1, 'the flush')
  })
})

describe('identify: merging calls of one user', () => {
  it('sends queued calls of one user as one item, later values winning, and announces every call', async () => {
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1', { email: 'old@example.com', a: 1, b: 1 })
    await flameup.identify('u_2', { plan: 'pro' })
    await flameup.identify('u_1', { b: 2 })
    await flameup.identify('u_1', { c: 3, email: 'new@example.com' })
    const ids = (await queued()).map((call) => call.messageId)
    await flameup.flush()
    expect(sent).toHaveLength(1)
    const [first, second] = items(sent)
    expect(first).toMatchObject({ userId: 'u_1', email: 'new@example.com', traits: { a: 1, b: 2, c: 3 } })
    expect(second).toMatchObject({ userId: 'u_2', traits: { plan: 'pro' } })
    expect(items(sent)).toHaveLength(2)
    expect(events.delivered.map((event) => event.messageId).sort()).toEqual([...ids].sort())
    expect(events.delivered.filter((event) => event.userId == 'u_1').map((event) => event.messageId)).toContain(first.messageId)
    expect(await flameup.pending()).toBe(0)
  })

  it('keeps an earlier email when a later call has none', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1', { email: 'ann@example.com' })
    await flameup.identify('u_1', { plan: 'pro' })
    await flameup.flush()
    expect(items(sent)).toEqual([expect.objectContaining({ email: 'ann@example.com', traits: { plan: 'pro' } })])
  })

  it('drops every merged call when the merged item is rejected', async () => {
    stubFetch(proxy(() => 400))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1', { a: 1 })
    await flameup.identify('u_1', { a: 2 })
    await flameup.flush()
    expect(events.dropped.map((event) => [event.userId, event.reason])).toEqual([
      ['u_1', 'rejected'],
      ['u_1', 'rejected'],
    ])
    expect(await queued()).toEqual([])
  })

  it('does not merge into a call already in flight: the newer one follows it', async () => {
    const first = defer<void>()
    const sent = stubFetch(async (request) => {
      if (sent.length == 1) await first.promise
      return proxy()(request)
    })
    const flameup = client()
    await flameup.identify('u_1', { plan: 'free' })
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the first request')
    await flameup.identify('u_1', { plan: 'pro' })
    first.resolve()
    await flushing
    await flameup.flush()
    expect(items(sent).map((item) => item.traits.plan)).toEqual(['free', 'pro'])
    expect(await flameup.pending()).toBe(0)
  })
})

describe('identify: unchanged calls', () => {
  const deliver = async (flameup: ReturnType<typeof client>, traits: Record<string, unknown>) => {
    await flameup.identify('u_1', traits)
    await flameup.flush()
  }

  it('does not queue a call equal to the one delivered less than 24 hours ago', async () => {
    const sent = stubFetch()
    const flameup = client()
    await deliver(flameup, { email: 'ann@example.com', plan: 'pro' })
    vi.setSystemTime(T0 + DAY - 60_000)
    await flameup.identify('u_1', { email: 'ann@example.com', plan: 'pro' })
    expect(await flameup.pending()).toBe(0)
    await flameup.flush()
    await elapse(5000)
    expect(sent).toHaveLength(1)
  })

  it('queues it again after 24 hours', async () => {
    const sent = stubFetch()
    const flameup = client()
    await deliver(flameup, { plan: 'pro' })
    vi.setSystemTime(T0 + DAY + 1)
    await flameup.identify('u_1', { plan: 'pro' })
    expect(await flameup.pending()).toBe(1)
    await flameup.flush()
    expect(sent).toHaveLength(2)
  })

  it.each([
    ['a trait changes', { plan: 'max' }],
    ['a trait is added', { plan: 'pro', seats: 3 }],
    ['the email changes', { plan: 'pro', email: 'ann@example.com' }],
  ])('queues it again when %s', async (_, traits) => {
    stubFetch()
    const flameup = client()
    await deliver(flameup, { plan: 'pro' })
    await flameup.identify('u_1', traits)
    expect(await flameup.pending()).toBe(1)
  })

  it('still skips an unchanged call for one user after another user was identified', async () => {
    stubFetch()
    const flameup = client()
    await deliver(flameup, { plan: 'pro' })
    await flameup.identify('u_2', { plan: 'free' })
    await flameup.flush()
    await flameup.identify('u_1', { plan: 'pro' })
    expect(await flameup.pending()).toBe(0)
  })

  it('sends the old values again after they changed in between (A, B, then A)', async () => {
    const sent = stubFetch()
    const flameup = client()
    await deliver(flameup, { plan: 'pro' })
    await deliver(flameup, { plan: 'max' })
    await deliver(flameup, { plan: 'pro' })
    expect(items(sent).map((item) => item.traits.plan)).toEqual(['pro', 'max', 'pro'])
  })

  it('remembers across page loads, keeping a hash and not the traits', async () => {
    const sent = stubFetch()
    const first = client()
    await deliver(first, { plan: 'secret-plan-value', email: 'hidden@example.com' })
    first.close()
    const second = client()
    await second.identify('u_1', { plan: 'secret-plan-value', email: 'hidden@example.com' })
    expect(await second.pending()).toBe(0)
    expect(sent).toHaveLength(1)
    const everything = JSON.stringify(await stored())
    expect(everything).not.toContain('secret-plan-value')
    expect(everything).not.toContain('hidden@example.com')
  })

  it('does not treat a rejected call as delivered', async () => {
    const sent = stubFetch(proxy(() => 400))
    const flameup = client()
    await deliver(flameup, { plan: 'pro' })
    await flameup.identify('u_1', { plan: 'pro' })
    expect(await flameup.pending()).toBe(1)
    await flameup.flush()
    expect(sent).toHaveLength(2)
  })
})

describe('flush', () => {
  it('sends everything on demand, without waiting for flushInterval', async () => {
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1', 'u_2']])
    expect(sent[0].time).toBe(T0)
    expect(events.delivered.map((event) => event.userId)).toEqual(['u_1', 'u_2'])
    expect(await flameup.pending()).toBe(0)
    expect(await queued()).toEqual([])
  })

  it('sends batchSize items per request, in as many requests as needed', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', batchSize: 3 })
    for (let i = 1; i <= 7; i++) await flameup.identify('u_' + i)
    await flameup.flush()
    expect(users(sent).map((batch) => batch.length)).toEqual([3, 3, 1])
  })

  it('resolves at once with an empty queue', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.flush()
    expect(sent).toEqual([])
  })

  it('turns calls made during a flush into exactly one follow-up', async () => {
    const first = defer<void>()
    const sent = stubFetch(async (request) => {
      if (sent.length == 1) await first.promise
      return proxy()(request)
    })
    const flameup = client()
    await flameup.identify('u_1')
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the first request')
    await flameup.identify('u_2')
    const again = [flameup.flush(), flameup.flush()]
    await flameup.identify('u_3')
    first.resolve()
    await Promise.all([flushing, ...again])
    expect(users(sent)).toEqual([['u_1'], ['u_2', 'u_3']])
    await elapse(10_000)
    expect(sent).toHaveLength(2)
    expect(await flameup.pending()).toBe(0)
  })

  it('sends a 400 once and drops it as rejected', async () => {
    const sent = stubFetch(proxy(() => 400))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1', { email: 'ann@example.com' })
    await flameup.flush()
    await elapse(120_000)
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(events.dropped).toEqual([
      expect.objectContaining({ userId: 'u_1', reason: 'rejected', status: 400, error: expect.objectContaining({ code: 400 }) }),
    ])
    expect(await queued()).toEqual([])
  })

  describe('401: pause', () => {
    it('keeps the queue, emits paused once, stops automatic flushing; an explicit flush() resumes', async () => {
      let status = 401
      const sent = stubFetch(({ body }) => (status == 401 ? json({ error: 'Unauthorized', code: 401 }, 401) : api()({ body } as Sent)))
      const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_wrong' })
      const events = record(flameup)
      await flameup.identify('u_1')
      await vi.advanceTimersByTimeAsync(1000)
      await until(() => events.paused.length == 1, 'the pause')
      await turns()
      expect(events.paused).toEqual([{ reason: 'unauthorized' }])
      expect(events.dropped).toEqual([])
      expect((await queued()).map((call) => [call.userId, call.attempts])).toEqual([['u_1', 0]])

      // Paused: neither timers nor new calls send anything.
      await flameup.identify('u_2')
      await elapse(5 * 60_000)
      expect(sent).toHaveLength(1)
      expect(events.paused).toHaveLength(1)
      expect(await flameup.pending()).toBe(2)

      status = 201
      await flameup.flush()
      expect(events.delivered.map((event) => event.userId)).toEqual(['u_1', 'u_2'])
      expect(await flameup.pending()).toBe(0)
    })

    it('pauses on a per-item 401 from the proxy too', async () => {
      stubFetch(proxy(() => 401))
      const flameup = client()
      const events = record(flameup)
      await flameup.identify('u_1')
      await flameup.flush()
      expect(events.paused).toEqual([{ reason: 'unauthorized' }])
      expect(await flameup.pending()).toBe(1)
    })

    it('emits paused again if the explicit flush meets another 401', async () => {
      stubFetch(proxy(() => 401))
      const flameup = client()
      const events = record(flameup)
      await flameup.identify('u_1')
      await flameup.flush()
      await flameup.flush()
      expect(events.paused).toHaveLength(2)
      expect(await flameup.pending()).toBe(1)
    })
  })

  describe('retries', () => {
    /** Fails `failures` times with `reply`, then accepts; returns the requests. */
    const failing = (reply: () => Response | Promise<Response>, failures = Infinity) => {
      const sent: Sent[] = stubFetch((request) => (sent.length <= failures ? reply() : proxy()(request)))
      return sent
    }

    /** Waits for attempt number `n` (1-based) after `delay` ms, checking nothing is sent a millisecond earlier. */
    const expectAttemptAfter = async (sent: Sent[], flameup: ReturnType<typeof client>, delay: number) => {
      const before = sent.length
      if (delay > 0) {
        await vi.advanceTimersByTimeAsync(delay - 1)
        await turns()
        expect(sent).toHaveLength(before)
      }
      await vi.advanceTimersByTimeAsync(delay > 0 ? 1 : 0)
      await until(() => sent.length == before + 1, 'the retry')
      // flush() joins the running flush and resolves when its round is recorded.
      await flameup.flush()
      expect(sent[before].time - sent[before - 1].time).toBe(delay)
    }

    it.each([
      ['500', () => json({ error: 'boom' }, 500)],
      ['502', () => json({ error: 'Bad Gateway' }, 502)],
      ['429', () => json({ error: 'slow down' }, 429)],
      ['408', () => json({ error: 'timeout' }, 408)],
      ['a network error', () => Promise.reject(new TypeError('Failed to fetch'))],
    ])('retries %s with exponential backoff and full jitter, then delivers', async (_, reply) => {
      vi.spyOn(Math, 'random').mockReturnValue(0.5)
      const sent = failing(reply, 4)
      const flameup = client()
      const events = record(flameup)
      await flameup.identify('u_1')
      await flameup.flush()
      for (const delay of [500, 1000, 2000, 4000]) await expectAttemptAfter(sent, flameup, delay)
      expect(events.delivered).toHaveLength(1)
      expect(events.dropped).toEqual([])
      expect(await flameup.pending()).toBe(0)
      expect(new Set(items(sent).map((item) => item.messageId)).size).toBe(1)
    })

    it('scales the delays with retryBaseDelay and caps them at retryMaxDelay', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(1)
      const sent = failing(() => json({}, 503), 6)
      const flameup = client({ proxyUrl: '/flameup', retryBaseDelay: 100, retryMaxDelay: 500 })
      await flameup.identify('u_1')
      await flameup.flush()
      for (const delay of [100, 200, 400, 500, 500, 500]) await expectAttemptAfter(sent, flameup, delay)
    })

    it('draws each delay at random below the bound (full jitter)', async () => {
      const draws = [0.1, 0.9, 0.3]
      vi.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0.5)
      const sent = failing(() => json({}, 500), 3)
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      for (const delay of [100, 1800, 1200]) await expectAttemptAfter(sent, flameup, delay)
    })

    it('honours Retry-After in seconds instead of the backoff, unjittered', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent = failing(() => json({}, 503, { 'Retry-After': '7' }), 2)
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      await expectAttemptAfter(sent, flameup, 7000)
      await expectAttemptAfter(sent, flameup, 7000)
    })

    it('honours Retry-After as an HTTP date', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent = failing(() => json({}, 429, { 'Retry-After': new Date(T0 + 12_000).toUTCString() }), 1)
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      await expectAttemptAfter(sent, flameup, 12_000)
    })

    it('caps Retry-After at retryMaxDelay', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent = failing(() => json({}, 503, { 'Retry-After': '3600' }), 1)
      const flameup = client({ proxyUrl: '/flameup', retryMaxDelay: 10_000 })
      await flameup.identify('u_1')
      await flameup.flush()
      await expectAttemptAfter(sent, flameup, 10_000)
    })

    it('honours the Retry-After of a proxy answer for its per-item 429s', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent: Sent[] = stubFetch(async (request) => {
        if (sent.length > 1) return proxy()(request)
        const body = await (await proxy(() => 429)(request)).json()
        return json(body, 200, { 'Retry-After': '5' })
      })
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      await expectAttemptAfter(sent, flameup, 5000)
      expect(await flameup.pending()).toBe(0)
    })

    it('honours Retry-After on a direct-mode 429', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent: Sent[] = stubFetch((request) => (sent.length == 1 ? json({}, 429, { 'Retry-After': '4' }) : api()(request)))
      const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
      await flameup.identify('u_1')
      await flameup.flush()
      await expectAttemptAfter(sent, flameup, 4000)
      expect(await flameup.pending()).toBe(0)
    })

    it('flush() resolves while what is left waits on backoff, without sending it early', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0.5)
      const sent = failing(() => json({}, 500))
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      await flameup.flush()
      expect(sent).toHaveLength(1)
      expect(await flameup.pending()).toBe(1)
    })

    it('drops a call as max_attempts after maxAttempts failed attempts', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0)
      const sent = failing(() => json({}, 500))
      const flameup = client({ proxyUrl: '/flameup', maxAttempts: 3 })
      const events = record(flameup)
      await flameup.identify('u_1')
      for (let i = 0; i < 5; i++) {
        await flameup.flush()
        await vi.advanceTimersByTimeAsync(0)
      }
      await flameup.flush()
      expect(sent).toHaveLength(3)
      expect(events.dropped).toEqual([expect.objectContaining({ userId: 'u_1', reason: 'max_attempts', status: 500 })])
      expect(await queued()).toEqual([])
    })

    it('drops after a single attempt with maxAttempts 1', async () => {
      const sent = failing(() => Promise.reject(new TypeError('offline')))
      const flameup = client({ proxyUrl: '/flameup', maxAttempts: 1 })
      const events = record(flameup)
      await flameup.identify('u_1')
      await flameup.flush()
      expect(sent).toHaveLength(1)
      expect(events.dropped).toEqual([expect.objectContaining({ userId: 'u_1', reason: 'max_attempts' })])
    })

    it('keeps other users going while one waits on backoff', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0.5)
      const sent = stubFetch(proxy((item) => (item.userId == 'u_slow' ? 500 : 201)))
      const flameup = client()
      const events = record(flameup)
      await flameup.identify('u_slow')
      await flameup.flush()
      await flameup.identify('u_fast')
      await flameup.flush()
      expect(users(sent)).toEqual([['u_slow'], ['u_fast']])
      expect(events.delivered.map((event) => event.userId)).toEqual(['u_fast'])
    })
  })

  describe('lease lock (no Web Locks)', () => {
    /** "Another tab": its own store over the same IndexedDB, holding the lease until released. */
    const otherTabHoldsLease = async () => {
      const release = defer<void>()
      let holding = false
      const held = createLock(openStore('indexeddb', () => {}), 'other-tab')(async () => {
        holding = true
        await release.promise
      })
      await until(() => holding, 'the other tab to hold the lease')
      return { release: release.resolve, held }
    }

    it('does not flush while another tab holds an unexpired lease, and flushes once it has expired', async () => {
      expect(navigator.locks ?? undefined).toBeUndefined()
      const sent = stubFetch()
      const { release, held } = await otherTabHoldsLease()

      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      for (let i = 0; i < 3; i++) {
        await vi.advanceTimersByTimeAsync(1000)
        await turns()
      }
      expect(sent).toEqual([])

      // The other tab died holding it; time passes beyond any lease.
      vi.setSystemTime(Date.now() + 10 * 60_000)
      await vi.advanceTimersByTimeAsync(1000)
      await until(() => sent.length == 1, 'the flush after expiry')
      expect(users(sent)).toEqual([['u_1']])
      release()
      await held
    })

    it('flushes as soon as the other tab releases the lease', async () => {
      const sent = stubFetch()
      const { release, held } = await otherTabHoldsLease()
      const flameup = client()
      await flameup.identify('u_1')
      await flameup.flush()
      expect(sent).toEqual([])
      release()
      await held
      await vi.advanceTimersByTimeAsync(1000)
      await until(() => sent.length == 1, 'the flush after release')
    })
  })
})

describe('queue across page loads', () => {
  it('delivers a call queued before a reload exactly once, without a new identify', async () => {
    const sent = stubFetch()
    const before = client()
    await before.identify('u_1', { plan: 'pro' })
    before.close()
    await elapse(5000)
    expect(sent).toEqual([])

    const after = client()
    const events = record(after)
    await after.pending()
    await vi.advanceTimersByTimeAsync(0)
    await until(() => events.delivered.length == 1, 'the delivery')
    await elapse(60_000)
    expect(items(sent)).toEqual([expect.objectContaining({ userId: 'u_1', traits: { plan: 'pro' } })])
    expect(await after.pending()).toBe(0)

    after.close()
    const third = client()
    await third.pending()
    await elapse(60_000)
    expect(sent).toHaveLength(1)
  })

  it('sends what an earlier page left, keeping its messageId and timestamp', async () => {
    const sent = stubFetch()
    const call = leftover('u_old', { timestamp: new Date(T0 - DAY).toISOString(), traits: { plan: 'pro' } })
    await putRecords([['q0000000000000001', call]])
    const flameup = client()
    const events = record(flameup)
    await flameup.pending()
    await vi.advanceTimersByTimeAsync(0)
    await until(() => events.delivered.length == 1, 'the delivery')
    expect(items(sent)).toEqual([
      { messageId: call.messageId, userId: 'u_old', traits: { plan: 'pro' }, timestamp: call.timestamp },
    ])
    expect(events.delivered).toEqual([expect.objectContaining({ messageId: call.messageId, userId: 'u_old' })])
  })

  it('keeps the backoff an earlier page recorded', async () => {
    const sent = stubFetch()
    await putRecords([['q0000000000000001', leftover('u_1', { attempts: 2, nextAt: T0 + 3000 })]])
    const flameup = client()
    await flameup.pending()
    await vi.advanceTimersByTimeAsync(2999)
    await turns()
    expect(sent).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await until(() => sent.length == 1, 'the retry')
  })

  it('sends the queue in key order', async () => {
    const sent = stubFetch()
    await putRecords([
      ['q0000000000000003', leftover('u_3')],
      ['q0000000000000001', leftover('u_1')],
      ['q0000000000000002', leftover('u_2')],
    ])
    const flameup = client()
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1', 'u_2', 'u_3']])
  })

  it('drops calls older than 7 days as expired and sends the rest', async () => {
    const sent = stubFetch()
    const old = leftover('u_old', { timestamp: new Date(T0 - 7 * DAY - 1000).toISOString() })
    await putRecords([
      ['q0000000000000001', old],
      ['q0000000000000002', leftover('u_recent', { timestamp: new Date(T0 - 6 * DAY).toISOString() })],
    ])
    const flameup = client()
    const events = record(flameup)
    await flameup.flush()
    expect(events.dropped).toEqual([expect.objectContaining({ messageId: old.messageId, userId: 'u_old', reason: 'expired' })])
    expect(users(sent)).toEqual([['u_recent']])
    expect(await queued()).toEqual([])
  })

  it('expires a call that waited 7 days in the queue of a running page', async () => {
    const sent = stubFetch(() => json({}, 500))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.flush()
    vi.setSystemTime(T0 + 7 * DAY + 1)
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(events.dropped).toEqual([expect.objectContaining({ userId: 'u_1', reason: 'expired' })])
    expect(await flameup.pending()).toBe(0)
  })

  it('removes corrupt records and still delivers the valid ones', async () => {
    const sent = stubFetch()
    await putRecords([
      ['q0000000000000001', 'not a call'],
      ['q0000000000000002', { foo: 1 }],
      ['q0000000000000003', null],
      ['q0000000000000004', leftover('u_1')],
      ['q0000000000000005', 42],
      ['q0000000000000006', { messageId: 7, userId: 'u_2', traits: {} }],
    ])
    const flameup = client()
    const events = record(flameup)
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1']])
    expect(events.delivered).toHaveLength(1)
    expect(await queued()).toEqual([])
    expect(await flameup.pending()).toBe(0)
  })

  it('is not wedged by a record with missing or broken fields for the same user', async () => {
    const sent = stubFetch()
    await putRecords([
      ['q0000000000000001', { messageId: crypto.randomUUID(), userId: 'u_1', traits: {}, timestamp: new Date(T0).toISOString() }],
      ['q0000000000000002', leftover('u_2', { nextAt: 'soon', attempts: 'many' })],
    ])
    const flameup = client()
    await flameup.identify('u_1', { plan: 'pro' })
    await flameup.identify('u_2', { plan: 'pro' })
    await flameup.flush()
    await elapse(60_000)
    await flameup.flush()
    expect(items(sent).map((item) => [item.userId, item.traits.plan])).toEqual([
      ['u_1', 'pro'],
      ['u_2', 'pro'],
    ])
    expect(await flameup.pending()).toBe(0)
  })

  it('drops the oldest calls past maxQueueSize as queue_full', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', maxQueueSize: 2 })
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.identify('u_3')
    expect(await flameup.pending()).toBe(2)
    expect(events.dropped).toEqual([expect.objectContaining({ userId: 'u_1', reason: 'queue_full' })])
    expect((await queued()).map((call) => call.userId)).toEqual(['u_2', 'u_3'])
    await flameup.flush()
    expect(users(sent)).toEqual([['u_2', 'u_3']])
  })

  it('announces each call dropped for queue_full once, even when the queue is read twice at once', async () => {
    const flameup = client({ proxyUrl: '/flameup', maxQueueSize: 1 })
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await Promise.all([flameup.pending(), flameup.pending(), flameup.pending()])
    expect(events.dropped.map((event) => [event.userId, event.reason])).toEqual([['u_1', 'queue_full']])
  })
})

describe('offline', () => {
  it('does not try while offline, pauses once, and resumes on the online event', async () => {
    setOnline(false)
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await vi.advanceTimersByTimeAsync(1000)
    await turns()
    await flameup.flush()
    window.dispatchEvent(new Event('pagehide'))
    await turns()
    expect(sent).toEqual([])
    expect(events.paused).toEqual([{ reason: 'offline' }])
    expect(await flameup.pending()).toBe(1)
    expect((await queued())[0].attempts).toBe(0)

    setOnline(true)
    window.dispatchEvent(new Event('online'))
    await until(() => events.delivered.length == 1, 'the delivery')
    expect(users(sent)).toEqual([['u_1']])
  })
})

describe('page hidden or closing', () => {
  const big = (size: number, char = 'x') => ({ blob: char.repeat(size) })

  it('sends the queue at once with keepalive on pagehide (proxy mode)', async () => {
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    window.dispatchEvent(new Event('pagehide'))
    // Synchronously: a closing page has no time to wait for IndexedDB.
    expect(users(sent)).toEqual([['u_1', 'u_2']])
    expect(sent[0].init.keepalive).toBe(true)
    expect(typeof sent[0].init.body).toBe('string')
    await until(() => events.delivered.length == 2, 'the answers')
    expect(await flameup.pending()).toBe(0)
  })

  it('sends on visibilitychange to hidden, and not when visible', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1')
    document.dispatchEvent(new Event('visibilitychange'))
    expect(sent).toEqual([])
    const restore = setVisibility('hidden')
    try {
      document.dispatchEvent(new Event('visibilitychange'))
    } finally {
      restore()
    }
    expect(users(sent)).toEqual([['u_1']])
    expect(sent[0].init.keepalive).toBe(true)
  })

  it('does not send the same calls twice when visibilitychange and pagehide both fire', async () => {
    const answer = defer<void>()
    const sent = stubFetch(async (request) => {
      await answer.promise
      return proxy()(request)
    })
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    const restore = setVisibility('hidden')
    try {
      document.dispatchEvent(new Event('visibilitychange'))
      window.dispatchEvent(new Event('pagehide'))
    } finally {
      restore()
    }
    expect(items(sent).map((item) => item.userId)).toEqual(['u_1', 'u_2'])
    answer.resolve()
    await until(() => events.delivered.length == 2, 'the answers')
    await flameup.flush()
    expect(items(sent)).toHaveLength(2)
    expect(events.delivered).toHaveLength(2)
  })

  // Found in Firefox ESR (test/browser/scenarios.ts, back/forward cache): a request answered while
  // the page was frozen in the back/forward cache never settles once it is restored.
  it('a page restored from the back/forward cache sends again what was in flight when it froze', async () => {
    let first = true
    const sent = stubFetch((request) => (first ? ((first = false), new Promise<Response>(() => {})) : proxy()(request)))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    window.dispatchEvent(new Event('pagehide'))
    expect(users(sent)).toEqual([['u_1']])
    // An ordinary load's pageshow (not persisted) changes nothing.
    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: false }))
    await turns()
    expect(sent).toHaveLength(1)

    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await until(() => events.delivered.length == 1, 'the delivery')
    expect(users(sent)).toEqual([['u_1'], ['u_1']])
    expect(await flameup.pending()).toBe(0)
  })

  it('stays within the 64 KB keepalive budget across requests and leaves the rest queued', async () => {
    const sent = stubFetch()
    const flameup = client()
    const events = record(flameup)
    for (const userId of ['u_1', 'u_2', 'u_3', 'u_4']) await flameup.identify(userId, big(30_000))
    window.dispatchEvent(new Event('pagehide'))
    expect(sent.length).toBeGreaterThan(0)
    expect(sent.every((request) => request.init.keepalive === true)).toBe(true)
    expect(sent.reduce((total, request) => total + bytes(request.raw), 0)).toBeLessThanOrEqual(64_000)
    const sentUsers = items(sent).map((item) => item.userId)
    expect(sentUsers).toEqual(['u_1', 'u_2'])
    await until(() => events.delivered.length == 2, 'the answers')
    expect((await queued()).map((call) => call.userId)).toEqual(['u_3', 'u_4'])
  })

  it('counts the budget in UTF-8 bytes, not characters', async () => {
    const sent = stubFetch()
    const flameup = client()
    // 10,000 three-byte characters: about 30 KB each on the wire.
    for (const userId of ['u_1', 'u_2', 'u_3']) await flameup.identify(userId, big(10_000, '€'))
    window.dispatchEvent(new Event('pagehide'))
    expect(sent.length).toBeGreaterThan(0)
    expect(sent.reduce((total, request) => total + bytes(request.raw), 0)).toBeLessThanOrEqual(64_000)
  })

  it('sends everything that fits the budget, in requests of at most batchSize items', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', batchSize: 2 })
    const events = record(flameup)
    for (let i = 1; i <= 5; i++) await flameup.identify('u_' + i)
    window.dispatchEvent(new Event('pagehide'))
    expect(users(sent)).toEqual([['u_1', 'u_2'], ['u_3', 'u_4'], ['u_5']])
    expect(sent.every((request) => request.init.keepalive === true)).toBe(true)
    await until(() => events.delivered.length == 5, 'the answers')
    expect(await flameup.pending()).toBe(0)
  })

  it('leaves calls queued until the proxy acknowledges them', async () => {
    stubFetch(() => Promise.reject(new TypeError('page closed')))
    const flameup = client()
    await flameup.identify('u_1')
    window.dispatchEvent(new Event('pagehide'))
    await turns()
    expect((await queued()).map((call) => call.userId)).toEqual(['u_1'])
  })

  it('uses a normal flush without keepalive in direct mode', async () => {
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    const events = record(flameup)
    await flameup.identify('u_1')
    window.dispatchEvent(new Event('pagehide'))
    await until(() => events.delivered.length == 1, 'the delivery')
    expect(sent).toHaveLength(1)
    expect(sent[0].init.keepalive).not.toBe(true)
    expect(new Headers(sent[0].init.headers).get('authorization')).toBe('Bearer sk_test')
  })

  it('sends nothing on pagehide while paused by a 401', async () => {
    const sent = stubFetch(proxy(() => 401))
    const flameup = client()
    await flameup.identify('u_1')
    await flameup.flush()
    window.dispatchEvent(new Event('pagehide'))
    await turns()
    expect(sent).toHaveLength(1)
  })
})

describe('pending', () => {
  it('counts the calls waiting in the queue', async () => {
    stubFetch(proxy((item) => (item.userId == 'u_2' ? 500 : 201)))
    const flameup = client()
    expect(await flameup.pending()).toBe(0)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    expect(await flameup.pending()).toBe(2)
    await flameup.flush()
    expect(await flameup.pending()).toBe(1)
  })

  it('counts what an earlier page left', async () => {
    await putRecords([
      ['q0000000000000001', leftover('u_1')],
      ['q0000000000000002', leftover('u_2')],
    ])
    expect(await client().pending()).toBe(2)
  })
})

describe('on', () => {
  it('returns a function that stops only that listener', async () => {
    stubFetch()
    const flameup = client()
    const first: string[] = []
    const second: string[] = []
    const off = flameup.on('delivered', (event) => first.push(event.userId))
    flameup.on('delivered', (event) => second.push(event.userId))
    await flameup.identify('u_1')
    await flameup.flush()
    off()
    off()
    await flameup.identify('u_2')
    await flameup.flush()
    expect(first).toEqual(['u_1'])
    expect(second).toEqual(['u_1', 'u_2'])
  })

  it('keeps delivering when a listener throws, and reports the error asynchronously', async () => {
    stubFetch()
    const flameup = client()
    const heard: string[] = []
    flameup.on('delivered', () => {
      throw new Error('listener bug')
    })
    flameup.on('delivered', (event) => heard.push(event.userId))
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(heard).toEqual(['u_1', 'u_2'])
    expect(await flameup.pending()).toBe(0)
    await expect(vi.advanceTimersByTimeAsync(0)).rejects.toThrow('listener bug')
  })

  it('emits events only after the store is updated', async () => {
    stubFetch()
    const flameup = client()
    const pendingAtDelivery: Promise<number>[] = []
    flameup.on('delivered', () => pendingAtDelivery.push(flameup.pending()))
    await flameup.identify('u_1')
    await flameup.flush()
    expect(await Promise.all(pendingAtDelivery)).toEqual([0])
  })
})

describe('optOut / optIn', () => {
  it('clears the queue, then queues nothing; the choice survives a reload; optIn restores', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1')
    await flameup.optOut()
    expect(await flameup.pending()).toBe(0)
    expect(await queued()).toEqual([])

    await flameup.identify('u_2')
    expect(await flameup.pending()).toBe(0)
    await elapse(5000)
    await flameup.flush()
    expect(sent).toEqual([])
    flameup.close()

    const reloaded = client()
    await reloaded.identify('u_3')
    expect(await reloaded.pending()).toBe(0)
    await reloaded.optIn()
    await reloaded.identify('u_4')
    expect(await reloaded.pending()).toBe(1)
    await reloaded.flush()
    expect(users(sent)).toEqual([['u_4']])
    reloaded.close()

    const again = client()
    await again.identify('u_5')
    expect(await again.pending()).toBe(1)
  })

  it('takes effect for an identify made right after it, without awaiting', async () => {
    const flameup = client()
    const optedOut = flameup.optOut()
    await flameup.identify('u_1')
    await optedOut
    expect(await flameup.pending()).toBe(0)
  })

  it('does not bring back a call that was in flight when the user opted out', async () => {
    const answer = defer<void>()
    const sent = stubFetch(async () => {
      await answer.promise
      return json({}, 500)
    })
    const flameup = client()
    await flameup.identify('u_1')
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the request')
    await flameup.optOut()
    answer.resolve()
    await flushing
    expect(await flameup.pending()).toBe(0)
    expect(await queued()).toEqual([])
    await elapse(120_000)
    expect(sent).toHaveLength(1)
  })
})

describe('close', () => {
  it('stops timers: nothing is sent after close, however far time advances', async () => {
    const sent = stubFetch()
    const flameup = client()
    await flameup.identify('u_1')
    flameup.close()
    expect(vi.getTimerCount()).toBe(0)
    await elapse(10 * 60_000)
    expect(sent).toEqual([])
  })

  it('stops retry timers too', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const sent = stubFetch(() => json({}, 500))
    const flameup = client()
    await flameup.identify('u_1')
    await flameup.flush()
    flameup.close()
    expect(vi.getTimerCount()).toBe(0)
    await elapse(10 * 60_000)
    expect(sent).toHaveLength(1)
  })

  it('schedules no retry for a request that was in flight at close()', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const answer = defer<void>()
    const sent = stubFetch(async () => {
      await answer.promise
      return json({}, 500)
    })
    const flameup = client()
    await flameup.identify('u_1')
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the request')
    flameup.close()
    answer.resolve()
    await flushing
    await turns()
    expect(vi.getTimerCount()).toBe(0)
    await elapse(10 * 60_000)
    expect(sent).toHaveLength(1)
    expect(await queued()).toEqual([expect.objectContaining({ userId: 'u_1', attempts: 1 })])
  })

  it('removes every page listener it added', async () => {
    const added: [EventTarget, string, unknown][] = []
    const removed: [EventTarget, string, unknown][] = []
    for (const target of [window, document]) {
      const add = target.addEventListener.bind(target)
      const remove = target.removeEventListener.bind(target)
      vi.spyOn(target, 'addEventListener').mockImplementation((type: string, listener: any, options?: any) => {
        added.push([target, type, listener])
        add(type, listener, options)
      })
      vi.spyOn(target, 'removeEventListener').mockImplementation((type: string, listener: any, options?: any) => {
        removed.push([target, type, listener])
        remove(type, listener, options)
      })
    }
    const sent = stubFetch()
    const flameup = client()
    expect(added.map(([, type]) => type)).toEqual(expect.arrayContaining(['pagehide', 'visibilitychange', 'online']))
    await flameup.identify('u_1')
    flameup.close()
    for (const listener of added) expect(removed).toContainEqual(listener)
    window.dispatchEvent(new Event('pagehide'))
    window.dispatchEvent(new Event('online'))
    await turns()
    expect(sent).toEqual([])
  })

  it('keeps queued calls stored for the next page', async () => {
    const flameup = client()
    await flameup.identify('u_1')
    flameup.close()
    expect((await queued()).map((call) => call.userId)).toEqual(['u_1'])
  })
})

describe('storage', () => {
  it("'memory' keeps the queue out of IndexedDB and delivers", async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', storage: 'memory' })
    await flameup.identify('u_1')
    expect(await flameup.pending()).toBe(1)
    expect(await queued()).toEqual([])
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1']])
  })

  it('falls back to memory when there is no indexedDB at all', async () => {
    vi.stubGlobal('indexedDB', undefined)
    const sent = stubFetch()
    const flameup = client()
    await expect(flameup.identify('u_1')).resolves.toBe('queued')
    expect(await flameup.pending()).toBe(1)
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1']])
  })

  it('falls back to memory when opening IndexedDB fails', async () => {
    vi.stubGlobal('indexedDB', {
      open: () => {
        const request: any = {}
        setImmediate(() => {
          request.error = new DOMException('denied', 'SecurityError')
          request.onerror?.()
        })
        return request
      },
    })
    const sent = stubFetch()
    const flameup = client()
    await expect(flameup.identify('u_1')).resolves.toBe('queued')
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1']])
  })

  it('falls back to memory when opening IndexedDB never answers (blocked)', async () => {
    vi.stubGlobal('indexedDB', { open: () => ({}) })
    const sent = stubFetch()
    const flameup = client()
    let resolved = false
    const identified = flameup.identify('u_1').then(() => (resolved = true))
    for (let i = 0; i < 12 && !resolved; i++) {
      await vi.advanceTimersByTimeAsync(5000)
      await turns(20)
    }
    await identified
    await flameup.flush()
    expect(users(sent)).toEqual([['u_1']])
  })
})
