// The dedupe store's claim-in-flight semantics (CONTRACT §6 Scale-out) and the delivery layer on
// top of them, with an injected upstream: no network.
import { describe, expect, it } from 'vitest'
import { createMemoryStore, createProxyHandler, type DedupeStore, type ProxyOptions, type UpstreamSend } from '../src/proxy/index'
import { createDelivery } from '../src/proxy/deliver'
import { resolveOptions } from '../src/proxy/options'

const PROXY = 'https://shop.example/flameup'

const item = (n: number, traits: Record<string, unknown> = { plan: 'pro' }) => ({ messageId: 'm' + n, userId: 'u' + n, traits })

const deferred = <T,>() => {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** A call's JSON as the handler hands it on: UTF-8 bytes. */
const bytes = (text: string) => new TextEncoder().encode(text)
const utf8 = (body: Uint8Array) => new TextDecoder().decode(body)

/** A handler whose upstream is an UpstreamSend (the lean path the CLI takes) that records each call. */
const setup = (options: Partial<ProxyOptions> = {}, answer: UpstreamSend = async ({ body }) => ({ status: 201, text: JSON.stringify({ id: 'p_' + JSON.parse(utf8(body)).userId }) })) => {
  const sent: string[] = []
  const logs: string[] = []
  const handler = createProxyHandler({
    apiKey: 'sk_dedupe_0123456789',
    workspaceId: 'ws_1',
    log: (line) => logs.push(line),
    send: (request) => {
      sent.push(JSON.parse(utf8(request.body)).userId)
      return answer(request)
    },
    ...options,
  })
  const post = async (batch: unknown[]) => {
    const response = await handler(new Request(PROXY, { method: 'POST', body: JSON.stringify({ batch }) }))
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() }
  }
  return { sent, logs, post }
}

describe('createMemoryStore', () => {
  it('gives the claim to the first caller, "claimed" to the next, and the record once settled', async () => {
    const store = createMemoryStore()
    expect(await store.claim('k', 1000)).toBeUndefined()
    expect(await store.claim('k', 1000)).toBe('claimed')
    await store.settle('k', { status: 201 }, 1000)
    expect(await store.claim('k', 1000)).toEqual({ status: 201 })
  })

  it('frees the key on release, so the retry of a failed call is sent', async () => {
    const store = createMemoryStore()
    await store.claim('k', 1000)
    await store.release('k')
    expect(await store.claim('k', 1000)).toBeUndefined()
  })

  it('never releases a delivered record', async () => {
    const store = createMemoryStore()
    await store.claim('k', 1000)
    await store.settle('k', { status: 200 }, 1000)
    await store.release('k')
    expect(await store.claim('k', 1000)).toEqual({ status: 200 })
  })

  it('lets a claim lapse after claimMs (an instance that died mid-call) and a record after its ttl', async () => {
    let now = 0
    const store = createMemoryStore({ now: () => now })
    await store.claim('a', 100)
    now = 99
    expect(await store.claim('a', 100)).toBe('claimed')
    now = 100
    expect(await store.claim('a', 100)).toBeUndefined()
    await store.settle('a', { status: 201 }, 50)
    now = 149
    expect(await store.claim('a', 100)).toEqual({ status: 201 })
    now = 150
    expect(await store.claim('a', 100)).toBeUndefined()
  })

  it('forgets the least recently used entry past maxEntries', async () => {
    const store = createMemoryStore({ maxEntries: 2 })
    for (const key of ['a', 'b']) {
      await store.claim(key, 1000)
      await store.settle(key, { status: 201 }, 1000)
    }
    expect(await store.claim('a', 1000)).toEqual({ status: 201 })
    await store.claim('c', 1000)
    expect(await store.claim('b', 1000)).toBeUndefined()
    expect(await store.claim('c', 1000)).toBe('claimed')
  })

  it('evicts in steps of a tenth once a large store is full', async () => {
    const store = createMemoryStore({ maxEntries: 1000 })
    for (let n = 0; n <= 1000; n++) await store.settle('k' + n, { status: 201 }, 1000)
    // The 1,001st entry took it past 1,000: the oldest went, down to 900 entries.
    expect(await store.claim('k100', 1000)).toBeUndefined()
    expect(await store.claim('k101', 1000)).toEqual({ status: 201 })
  })

  it('stays within maxBytes when records carry persons (issue 10: 30 KB traits took 710 MB)', async () => {
    const store = createMemoryStore({ maxBytes: 100000 })
    const person = { id: 'p', workspace_id: 'w', external_id: 'x', attributes: { blob: 'x'.repeat(30000) } }
    for (let n = 0; n < 10; n++) await store.settle('k' + n, { status: 201, person }, 1000)
    const kept = []
    for (let n = 0; n < 10; n++) if (typeof (await store.claim('k' + n, 1000)) == 'object') kept.push(n)
    // Past 100 KB the oldest records go, down to 90 KB: the two newest 30 KB records are kept.
    expect(kept).toEqual([8, 9])
  })
})

describe('delivery with claims', () => {
  it('answers a call claimed by another instance 503 with Retry-After, without sending it', async () => {
    const store = createMemoryStore()
    const other = setup({ store }, () => new Promise(() => {}))
    void other.post([item(1)])
    await expect.poll(() => other.sent.length).toBe(1)
    const { post, sent } = setup({ store })
    const answer = await post([item(1), item(2)])
    expect(answer.status).toBe(200)
    expect(answer.retryAfter).toBe('1')
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([503, 201])
    expect(sent).toEqual(['u2'])
  })

  it('answers from the record once the other instance delivered, and sends after its failure', async () => {
    const store = createMemoryStore()
    const gate = deferred<void>()
    let status = 201
    const first = setup({ store }, async () => (await gate.promise, { status, text: '{}' }))
    const firstAnswer = first.post([item(1)])
    await expect.poll(() => first.sent.length).toBe(1)
    gate.resolve()
    await firstAnswer
    const second = setup({ store })
    expect((await second.post([item(1)])).body.results[0].status).toBe(201)
    expect(second.sent).toEqual([])
    // A failed call releases its claim: the next instance sends it.
    status = 500
    await first.post([item(2)])
    await second.post([item(2)])
    expect(second.sent).toEqual(['u2'])
  })

  it('keeps the status only, not the person, unless exposePerson is set', async () => {
    const settled: unknown[] = []
    const store = createMemoryStore()
    const spy: DedupeStore = { ...store, settle: (key, record, ttl) => (settled.push(record), store.settle(key, record, ttl)) }
    const { post } = setup({ store: spy })
    await post([item(1)])
    expect(settled).toEqual([{ status: 201 }])
    // exposePerson is h10's option (CONTRACT §6); the delivery layer reads it from the resolved options.
    const options = resolveOptions({ apiKey: 'sk_dedupe_0123456789', workspaceId: 'ws_1', store: spy, send: async () => ({ status: 201, text: '{"id":"p_u2"}' }) })
    await createDelivery({ ...options, exposePerson: true } as typeof options, () => {})(bytes('{"userId":"u2"}'), 'm2')
    expect(settled[1]).toEqual({ status: 201, person: { id: 'p_u2' } })
  })

  it('sends anyway when the store throws, and logs each failing step', async () => {
    const broken: DedupeStore = {
      claim: () => Promise.reject(new Error('redis down')),
      settle: () => Promise.reject(new Error('redis down')),
      release: () => {
        throw new Error('redis down')
      },
    }
    const { post, sent, logs } = setup({ store: broken })
    expect((await post([item(1)])).body.results[0].status).toBe(201)
    expect(sent).toEqual(['u1'])
    expect(logs.join('\n')).toMatch(/claim failed: redis down[\s\S]*settle failed: redis down/)
  })

  it('hashes synchronously on Node: two deliveries started in one tick share one call', async () => {
    let sends = 0
    const deliver = createDelivery(
      resolveOptions({
        apiKey: 'sk_dedupe_0123456789',
        workspaceId: 'ws_1',
        store: { claim: () => undefined, settle: () => {}, release: () => {} },
        send: async () => (sends++, { status: 201, text: '{}' }),
      }),
      () => {},
    )
    const a = deliver(bytes('{"userId":"u1"}'), 'm1')
    const b = deliver(bytes('{"userId":"u1"}'), 'm1')
    // The same promise: the key was known before either returned, with no await in between.
    expect(b).toBe(a)
    await Promise.all([a, b])
    expect(sends).toBe(1)
  })
})

describe('send (an upstream with its own time limits)', () => {
  it('answers 504 for a TimeoutError and 502 for an unreachable API, and passes Retry-After on', async () => {
    const timeout = Object.assign(new Error('no answer'), { name: 'TimeoutError' })
    const timedOut = setup({}, () => Promise.reject(timeout))
    expect((await timedOut.post([item(1)])).status).toBe(504)
    // A timeout is not retried at once; a refused connection is, once.
    expect(timedOut.sent).toHaveLength(1)
    const refused = setup({}, () => Promise.reject(new Error('ECONNREFUSED')))
    expect((await refused.post([item(1)])).status).toBe(502)
    expect(refused.sent).toHaveLength(2)
    const limited = setup({}, async () => ({ status: 429, retryAfter: '7', text: '{"error":"Too Many Requests","message":"slow down","code":429}' }))
    const answer = await limited.post([item(1)])
    expect(answer.retryAfter).toBe('7')
    expect(answer.body.results[0].status).toBe(429)
  })
})

describe('calls waiting for a slot', () => {
  it('are held and sent as UTF-8 bytes, outside the JS heap (issue 10: 12,000 calls of 30 KB under 200 MB)', async () => {
    const bodies: unknown[] = []
    const { post } = setup({
      maxConcurrency: 1,
      send: async ({ body }) => {
        bodies.push(body)
        return { status: 201, text: '{}' }
      },
    })
    const note = 'é'.repeat(10000)
    const answer = await post([1, 2].map((n) => ({ messageId: 'b' + n, userId: 'u' + n, traits: { note } })))
    expect(answer.body.results.map((result: { status: number }) => result.status)).toEqual([201, 201])
    expect(bodies.every((body) => body instanceof Uint8Array)).toBe(true)
    expect(bodies.map((body) => JSON.parse(utf8(body as Uint8Array)))).toEqual([1, 2].map((n) => expect.objectContaining({ userId: 'u' + n, traits: { note } })))
  })
})
