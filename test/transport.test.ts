import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ACCEPTED, PAUSE, REJECTED, RETRY, verdictOf } from '../src/transport'
import {
  api,
  client,
  closeAll,
  defer,
  elapse,
  items,
  json,
  person,
  proxy,
  queued,
  record,
  stubFetch,
  T0,
  until,
  useClock,
  UUID,
  type Sent,
} from './helpers'

afterEach(closeAll)

describe('verdictOf (contract §4, row by row)', () => {
  it.each([
    [200, ACCEPTED],
    [201, ACCEPTED],
    [204, ACCEPTED],
    [299, ACCEPTED],
    [400, REJECTED],
    [404, REJECTED],
    [409, REJECTED],
    [413, REJECTED],
    [422, REJECTED],
    [499, REJECTED],
    [401, PAUSE],
    [403, PAUSE],
    [408, RETRY],
    [429, RETRY],
    [500, RETRY],
    [502, RETRY],
    [503, RETRY],
    [504, RETRY],
  ] as const)('%i -> %s', (status, verdict) => {
    expect(verdictOf(status)).toBe(verdict)
  })

  // Contract §4a: inside a proxy answer, 403 is the proxy refusing that call's identity.
  it.each([
    [403, REJECTED],
    [401, PAUSE],
    [201, ACCEPTED],
    [400, REJECTED],
    [429, RETRY],
  ] as const)("an item's %i in a proxy answer -> %s", (status, verdict) => {
    expect(verdictOf(status, true)).toBe(verdict)
  })

  it('retries when there was no answer at all (network error)', () => {
    expect(verdictOf()).toBe(RETRY)
    expect(verdictOf(undefined)).toBe(RETRY)
    expect(verdictOf(0)).toBe(RETRY)
  })
})

describe('proxy mode: the request', () => {
  beforeEach(() => useClock())

  it('sends the batch wire format of contract §6', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: 'https://example.com/flameup' })
    await flameup.identify('u_1', { email: 'ann@example.com', first_name: 'Ann', plan: 'pro' })
    vi.setSystemTime(T0 + 1500)
    await flameup.identify('u_2')
    vi.setSystemTime(T0 + 2500)
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(sent[0].url).toBe('https://example.com/flameup')
    const { batch, sentAt } = sent[0].body
    for (const item of batch) expect(item.messageId).toMatch(UUID)
    expect(new Set(batch.map((item: any) => item.messageId)).size).toBe(2)
    expect({ batch: batch.map((item: any) => ({ ...item, messageId: '<uuid>' })), sentAt }).toMatchInlineSnapshot(`
      {
        "batch": [
          {
            "email": "ann@example.com",
            "messageId": "<uuid>",
            "timestamp": "2030-01-01T00:00:00.000Z",
            "traits": {
              "first_name": "Ann",
              "plan": "pro",
            },
            "userId": "u_1",
          },
          {
            "messageId": "<uuid>",
            "timestamp": "2030-01-01T00:00:01.500Z",
            "traits": {},
            "userId": "u_2",
          },
        ],
        "sentAt": "2030-01-01T00:00:02.500Z",
      }
    `)
  })

  it('is a CORS-simple POST: a text/plain string body, keepalive, no custom header', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: 'https://example.com/flameup' })
    await flameup.identify('u_1', { email: 'ann@example.com' })
    await flameup.flush()
    const { init } = sent[0]
    expect(init.method).toBe('POST')
    expect(typeof init.body).toBe('string')
    expect(init.keepalive).toBe(true)
    expect(new Headers(init.headers).has('authorization')).toBe(false)
    // No header at all, so the browser labels the string body text/plain;charset=UTF-8.
    expect([...new Headers(init.headers).keys()]).toEqual([])
    const request = new Request('https://example.com/flameup', { method: 'POST', body: init.body })
    expect(request.headers.get('content-type')).toMatch(/^text\/plain/)
  })

  it('accepts a relative proxyUrl as given', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/api/flameup' })
    await flameup.identify('u_1')
    await flameup.flush()
    expect(sent[0].url).toBe('/api/flameup')
  })

  it('puts at most batchSize items in one request', async () => {
    const sent = stubFetch()
    const flameup = client({ proxyUrl: '/flameup', batchSize: 2 })
    for (const userId of ['u_1', 'u_2', 'u_3', 'u_4', 'u_5']) await flameup.identify(userId)
    await flameup.flush()
    expect(sent.map((request) => request.body.batch.map((item: any) => item.userId))).toEqual([
      ['u_1', 'u_2'],
      ['u_3', 'u_4'],
      ['u_5'],
    ])
    expect(await flameup.pending()).toBe(0)
  })

  it("sends one user's calls that would merge over 32 KB as separate items, in call order (contract §4a)", async () => {
    const sent = stubFetch()
    const flameup = client()
    // Three calls of 30 KB each, with different keys: merged they would be 90 KB, which the proxy refuses.
    for (const key of ['a', 'b', 'c']) await flameup.identify('u_1', { [key]: 'x'.repeat(30000) })
    await flameup.identify('u_2')
    await flameup.flush()
    // A user's later item waits for the earlier one's answer: never two of one user in one request.
    expect(sent.map((request) => request.body.batch.map((item: any) => Object.keys(item.traits).join()))).toEqual([['a', ''], ['b'], ['c']])
    expect(sent.every((request) => request.init.keepalive)).toBe(true)
    expect(await flameup.pending()).toBe(0)
  })
})

describe('proxy mode: per-item results', () => {
  beforeEach(() => useClock())

  it('applies each result by messageId, whatever its position', async () => {
    const statuses: Record<string, number | undefined> = { u_ok: 201, u_bad: 400, u_down: 500, u_missing: undefined }
    const sent = stubFetch(async (request) => {
      const response = await (await proxy((item) => statuses[item.userId])(request)).json()
      return json({ results: response.results.reverse() })
    })
    const flameup = client()
    const events = record(flameup)
    for (const userId of Object.keys(statuses)) await flameup.identify(userId)
    await flameup.flush()
    expect(sent).toHaveLength(1)
    const id = (userId: string) => items(sent).find((item) => item.userId == userId).messageId

    expect(events.delivered).toEqual([{ messageId: id('u_ok'), userId: 'u_ok', person: person('u_ok') }])
    expect(events.dropped).toEqual([
      {
        messageId: id('u_bad'),
        userId: 'u_bad',
        reason: 'rejected',
        status: 400,
        error: expect.objectContaining({ code: 400, details: [{ field: 'email', message: 'Invalid email format' }] }),
      },
    ])
    const left = await queued()
    expect(left.map((call) => call.userId).sort()).toEqual(['u_down', 'u_missing'])
    for (const call of left) {
      expect(call.attempts).toBe(1)
      expect(call.nextAt).toBeGreaterThanOrEqual(T0)
    }
    expect(await flameup.pending()).toBe(2)
  })

  it.each([
    ['not JSON', () => new Response('<html>oops</html>', { status: 200 })],
    ['JSON without results', () => json({ ok: true })],
    ['results that are not an array', () => json({ results: 'yes' })],
    ['results with null entries', () => json({ results: [null, 42] })],
  ])('retries every item of a 200 with a garbage body (%s)', async (_, reply) => {
    stubFetch(reply)
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(events.delivered).toEqual([])
    expect(events.dropped).toEqual([])
    expect((await queued()).map((call) => call.attempts)).toEqual([1, 1])
  })

  it('treats a 2xx item without a person as delivered', async () => {
    stubFetch(({ body }) => json({ results: body.batch.map((item: any) => ({ messageId: item.messageId, status: 200 })) }))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.flush()
    expect(events.delivered).toEqual([expect.objectContaining({ messageId: expect.stringMatching(UUID), userId: 'u_1' })])
    expect(events.delivered[0].person).toBeUndefined()
    expect(await flameup.pending()).toBe(0)
  })
})

describe('proxy mode: whole-request answers', () => {
  beforeEach(() => useClock())

  it('pauses on 403 (origin not allowed) and keeps every item untouched', async () => {
    const sent = stubFetch(() => json({ error: 'Forbidden' }, 403))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(sent).toHaveLength(1)
    expect(events.paused).toEqual([{ reason: 'unauthorized' }])
    expect(events.dropped).toEqual([])
    expect((await queued()).map((call) => [call.userId, call.attempts])).toEqual([
      ['u_1', 0],
      ['u_2', 0],
    ])
  })

  it.each([502, 503, 500, 408, 429])('retries every item on %i', async (status) => {
    stubFetch(() => json({ error: 'Bad Gateway' }, status))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    await flameup.flush()
    expect(events.paused).toEqual([])
    expect(events.dropped).toEqual([])
    expect((await queued()).map((call) => call.attempts)).toEqual([1, 1])
  })

  it('drops every item of a whole-request 413 as rejected', async () => {
    stubFetch(() => json({ error: 'Payload Too Large' }, 413))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.flush()
    expect(events.dropped).toEqual([expect.objectContaining({ userId: 'u_1', reason: 'rejected', status: 413 })])
    expect(await queued()).toEqual([])
  })

  it('retries when fetch itself fails (network error)', async () => {
    stubFetch(() => Promise.reject(new TypeError('Failed to fetch')))
    const flameup = client()
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.flush()
    expect(events.dropped).toEqual([])
    expect((await queued()).map((call) => call.attempts)).toEqual([1])
  })

  it('gives up on a request that hangs for 30 s, keeping the item for a retry', async () => {
    // happy-dom's AbortSignal.timeout runs on its own window timer, which the fake clock does not
    // drive: this one is the browser's behaviour on the faked setTimeout.
    const timeout = vi.spyOn(AbortSignal, 'timeout').mockImplementation((ms) => {
      const controller = new AbortController()
      setTimeout(() => controller.abort(new DOMException('signal timed out', 'TimeoutError')), ms)
      return controller.signal
    })
    // fetch rejects only when the SDK aborts it, as a browser does.
    const sent = stubFetch(
      ({ init }) =>
        new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('timed out', 'TimeoutError')))),
    )
    const flameup = client()
    await flameup.identify('u_1')
    const flushing = flameup.flush()
    await until(() => sent.length == 1, 'the request')
    await elapse(29000)
    expect(sent[0].init.signal!.aborted).toBe(false)
    await elapse(1000)
    await flushing
    expect(sent[0].init.signal!.aborted).toBe(true)
    expect(timeout).toHaveBeenCalledWith(30000)
    expect((await queued()).map((call) => call.attempts)).toEqual([1])
  })
})

describe('direct mode', () => {
  beforeEach(() => {
    useClock()
    vi.spyOn(console, 'warn').mockImplementation(() => {})
  })

  it('POSTs one JSON call to the people endpoint with the Bearer key', async () => {
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    const events = record(flameup)
    await flameup.identify('u_1', { email: 'ann@example.com', first_name: 'Ann' })
    await flameup.identify('u_2', { plan: 'pro' })
    await flameup.flush()
    expect(sent).toHaveLength(2)
    for (const { url, init } of sent) {
      expect(url).toBe('https://api.flameup.ai/api/v1/workspaces/ws_1/people')
      expect(init.method).toBe('POST')
      const headers = new Headers(init.headers)
      expect(headers.get('authorization')).toBe('Bearer sk_test')
      expect(headers.get('content-type')).toBe('application/json')
      expect(init.keepalive).not.toBe(true)
    }
    expect(sent.map((request) => request.body)).toEqual([
      { userId: 'u_1', email: 'ann@example.com', traits: { first_name: 'Ann' } },
      { userId: 'u_2', traits: { plan: 'pro' } },
    ])
    expect(events.delivered.map((event) => [event.userId, event.person])).toEqual([
      ['u_1', person('u_1')],
      ['u_2', person('u_2')],
    ])
  })

  it('escapes the workspace id in the path', async () => {
    const sent = stubFetch(api())
    const flameup = client({ workspaceId: 'ws/1 x', apiKey: 'sk_test' })
    await flameup.identify('u_1')
    await flameup.flush()
    expect(sent[0].url).toBe('https://api.flameup.ai/api/v1/workspaces/ws%2F1%20x/people')
  })

  it('sends at most batchSize requests at once per round', async () => {
    const held: (() => void)[] = []
    let inFlight = 0
    let most = 0
    const sent = stubFetch(
      (request) =>
        new Promise<Response>((resolve) => {
          most = Math.max(most, ++inFlight)
          held.push(() => {
            inFlight--
            resolve(api()(request) as Response)
          })
        }),
    )
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test', batchSize: 2 })
    for (const userId of ['u_1', 'u_2', 'u_3', 'u_4', 'u_5']) await flameup.identify(userId)
    const flushed = flameup.flush()
    let released = 0
    while (released < 5) {
      await until(() => held.length > 0, 'a request')
      expect(inFlight).toBeLessThanOrEqual(2)
      held.splice(0).forEach((release) => (release(), released++))
    }
    await flushed
    expect(most).toBe(2)
    expect(sent.map((request) => request.body.userId)).toEqual(['u_1', 'u_2', 'u_3', 'u_4', 'u_5'])
    expect(await flameup.pending()).toBe(0)
  })

  it('drops a 400 with the API error body, delivers 201 and 204 without body', async () => {
    const sent = stubFetch(({ body }) =>
      body.userId == 'u_bad' ? api(() => 400)({ body } as Sent) : body.userId == 'u_204' ? new Response(null, { status: 204 }) : api()({ body } as Sent),
    )
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    const events = record(flameup)
    await flameup.identify('u_bad')
    await flameup.identify('u_204')
    await flameup.identify('u_ok')
    await flameup.flush()
    expect(sent).toHaveLength(3)
    expect(events.dropped).toEqual([
      expect.objectContaining({ userId: 'u_bad', reason: 'rejected', status: 400, error: expect.objectContaining({ code: 400 }) }),
    ])
    expect(events.delivered.map((event) => event.userId).sort()).toEqual(['u_204', 'u_ok'])
    expect(await flameup.pending()).toBe(0)
  })

  it('keeps the API key out of storage', async () => {
    stubFetch(() => json({}, 500))
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_secret_123' })
    await flameup.identify('u_1', { plan: 'pro' })
    await flameup.flush()
    const left = await queued()
    expect(left).toHaveLength(1)
    expect(JSON.stringify(left)).not.toContain('sk_secret_123')
  })

  it('sends the requests of a round together, not one after another', async () => {
    const slow = defer<Response>()
    const sent = stubFetch((request) => (request.body.userId == 'u_1' ? slow.promise : (api()(request) as Response)))
    const flameup = client({ workspaceId: 'ws_1', apiKey: 'sk_test' })
    const events = record(flameup)
    await flameup.identify('u_1')
    await flameup.identify('u_2')
    const flushed = flameup.flush()
    await until(() => sent.length == 2, 'both requests')
    slow.resolve(json(person('u_1'), 201))
    await flushed
    expect(events.delivered.map((event) => event.userId).sort()).toEqual(['u_1', 'u_2'])
  })
})
