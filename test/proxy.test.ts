import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryStore, createProxyHandler, type DedupeStore, type ProxyOptions } from '../src/proxy/index'

const KEY = 'sk_live_0123456789abcdef'
const PAGE = 'https://shop.example'
const PROXY = PAGE + '/flameup'
const PEOPLE = 'https://api.flameup.ai/api/v1/workspaces/ws_1/people'

interface Sent {
  url: string
  init: RequestInit
  body: { userId: string; email?: string; traits: Record<string, unknown> }
}
type Upstream = (sent: Sent) => Response | Promise<Response>

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

const created: Upstream = ({ body }) => json(201, { id: 'p_' + body.userId, external_id: body.userId, email: body.email ?? null })

const item = (n: number, extra: Record<string, unknown> = {}) => ({
  messageId: 'm' + n,
  userId: 'u' + n,
  traits: { first_name: 'Ann', plan: 'pro' },
  timestamp: '2026-01-02T03:04:05.000Z',
  ...extra,
})

const deferred = <T,>() => {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** A store that forgets everything, so only in-flight sharing can prevent a second call. */
const forgetful: DedupeStore = { claim: () => undefined, settle: () => {}, release: () => {} }

/**
 * A handler over a fake API. Every answer it gives is checked for the key on the way out, so each
 * test in this file also tests that the key never leaves.
 */
const setup = (upstream: Upstream = created, options: Partial<ProxyOptions> = {}) => {
  const sent: Sent[] = []
  const logs: string[] = []
  const handler = createProxyHandler({
    apiKey: KEY,
    workspaceId: 'ws_1',
    log: (line) => logs.push(line),
    fetch: async (url, init) => {
      const entry = { url, init, body: JSON.parse(new TextDecoder().decode(init.body as Uint8Array)) }
      sent.push(entry)
      return upstream(entry)
    },
    ...options,
  })
  const call = async (request: Request) => {
    const response = await handler(request)
    const text = await response.text()
    const headers = Object.fromEntries(response.headers)
    expect(text + JSON.stringify(headers)).not.toContain(KEY)
    return { status: response.status, headers, text, body: text ? JSON.parse(text) : undefined }
  }
  const post = (body: unknown, headers: Record<string, string> = { 'Content-Type': 'text/plain;charset=UTF-8' }) =>
    call(new Request(PROXY, { method: 'POST', headers, body: typeof body == 'string' ? body : JSON.stringify(body) }))
  return { handler, sent, logs, call, post }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('createProxyHandler options', () => {
  it('refuses to start without a key, a workspace or a usable apiHost', () => {
    expect(() => createProxyHandler({ apiKey: '', workspaceId: 'ws' })).toThrow(/apiKey is required/)
    expect(() => createProxyHandler({ apiKey: KEY, workspaceId: '' })).toThrow(/workspaceId is required/)
    expect(() => createProxyHandler({ apiKey: KEY, workspaceId: 'ws', apiHost: 'api.flameup.ai' })).toThrow(/apiHost/)
    expect(() => createProxyHandler({ apiKey: KEY, workspaceId: 'ws', timeoutMs: 0 })).toThrow(/timeoutMs/)
  })

  it('sends to a custom apiHost, trailing slash trimmed and workspace escaped', async () => {
    const { post, sent } = setup(created, { apiHost: 'http://127.0.0.1:9999/', workspaceId: 'ws/2' })
    expect((await post({ batch: [item(1)] })).status).toBe(200)
    expect(sent[0].url).toBe('http://127.0.0.1:9999/api/v1/workspaces/ws%2F2/people')
  })
})

describe('forwarding', () => {
  it('sends each valid call to the people endpoint with the key and answers per item', async () => {
    const { post, sent } = setup()
    const answer = await post({ batch: [item(1, { email: 'ann@example.com' })], sentAt: '2026-01-02T03:04:06.000Z' })
    expect(answer.status).toBe(200)
    // No person by default (CONTRACT §6): the answer says delivered and nothing about the person.
    expect(answer.body).toEqual({ results: [{ messageId: 'm1', status: 201 }] })
    expect(sent).toHaveLength(1)
    expect(sent[0].url).toBe(PEOPLE)
    expect(sent[0].init.method).toBe('POST')
    const headers = new Headers(sent[0].init.headers)
    expect(headers.get('authorization')).toBe('Bearer ' + KEY)
    expect(headers.get('content-type')).toBe('application/json')
    expect(sent[0].body).toEqual({ userId: 'u1', email: 'ann@example.com', traits: { first_name: 'Ann', plan: 'pro' } })
  })

  it('maps mixed results (201, 400 not sent, 500 from the API) in batch order', async () => {
    const { post, sent } = setup(({ body }) =>
      body.userId == 'u3' ? json(500, { error: 'Internal Server Error', code: 500 }) : created({ body } as Sent),
    )
    const answer = await post({ batch: [item(1), item(2, { email: 'not-an-email' }), item(3), item(4)] })
    expect(answer.status).toBe(200)
    expect(answer.body.results.map((r: { messageId: string; status: number }) => [r.messageId, r.status])).toEqual([
      ['m1', 201],
      ['m2', 400],
      ['m3', 500],
      ['m4', 201],
    ])
    expect(answer.body.results[1].error).toMatchObject({ code: 400, details: [{ field: 'email' }] })
    expect(answer.body.results[2].error).toEqual({
      error: 'Internal Server Error',
      message: 'The Flameup API answered with status 500',
      code: 500,
    })
    expect(sent.map((s) => s.body.userId).sort()).toEqual(['u1', 'u3', 'u4'])
  })

  it('passes the API 400 body through untouched', async () => {
    const rejection = { error: 'Bad Request', message: 'nope', code: 400, details: [{ field: 'email', message: 'Invalid email format' }] }
    const { post } = setup(() => json(400, rejection))
    expect((await post({ batch: [item(1, { email: 'a@b.co' })] })).body.results[0]).toEqual({ messageId: 'm1', status: 400, error: rejection })
  })

  it.each([
    ['empty userId', { userId: '' }, 'userId'],
    ['userId "undefined"', { userId: 'undefined' }, 'userId'],
    ['userId over 255 characters', { userId: 'x'.repeat(256) }, 'userId'],
    ['userId not a string', { userId: 42 }, 'userId'],
    ['traits not an object', { traits: ['a'] }, 'traits'],
    ['malformed email', { email: 'ann@' }, 'email'],
    ['email inside traits, malformed', { traits: { email: 'nope' } }, 'email'],
    ['a call over 32 KB', { traits: { note: 'x'.repeat(33000) } }, 'traits'],
    ['a timestamp that is not a date', { timestamp: 'yesterday' }, 'timestamp'],
  ])('rejects %s with a per-item 400 and never calls the API', async (_name, extra, field) => {
    const { post, sent } = setup()
    const answer = await post({ batch: [item(1, extra)] })
    expect(answer.status).toBe(200)
    expect(answer.body.results[0]).toMatchObject({ messageId: 'm1', status: 400, error: { code: 400, details: [{ field }] } })
    expect(sent).toHaveLength(0)
  })

  it('answers an upstream 401 or 403 as the item\'s 401 (the key is wrong: pause), and keeps 503 to retry', async () => {
    for (const [upstream, status] of [
      [401, 401],
      [403, 401],
      [503, 503],
    ]) {
      const { post } = setup(() => json(upstream, { code: upstream }))
      const answer = await post({ batch: [item(1)] })
      expect(answer.status).toBe(200)
      expect(answer.body.results[0]).toEqual({ messageId: 'm1', status, error: expect.objectContaining({ code: status }) })
    }
  })

  it('stops sending a batch after a 429, answers the rest alike and passes Retry-After on', async () => {
    const { post, sent } = setup(() => json(429, { code: 429 }, { 'Retry-After': '30' }), { concurrency: 1 })
    const answer = await post({ batch: [item(1), item(2), item(3)] })
    expect(sent).toHaveLength(1)
    expect(answer.headers['retry-after']).toBe('30')
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([429, 429, 429])
  })

  it('stops sending a batch after a 401', async () => {
    const { post, sent } = setup(() => json(401, { code: 401 }), { concurrency: 1 })
    const answer = await post({ batch: [item(1), item(2)] })
    expect(sent).toHaveLength(1)
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([401, 401])
  })

  it('sends at most `concurrency` calls at once', async () => {
    let open = 0
    let peak = 0
    const { post, sent } = setup(
      async ({ body }) => {
        peak = Math.max(peak, ++open)
        await new Promise((r) => setTimeout(r, 1))
        open--
        return created({ body } as Sent)
      },
      { concurrency: 3 },
    )
    await post({ batch: Array.from({ length: 12 }, (_, n) => item(n)) })
    expect(sent).toHaveLength(12)
    expect(peak).toBe(3)
  })

  it.each(['text/plain', 'text/plain;charset=UTF-8', 'application/json', 'application/json; charset=utf-8'])(
    'accepts a %s body',
    async (type) => {
      const { post } = setup()
      expect((await post({ batch: [item(1)] }, { 'Content-Type': type })).body.results[0].status).toBe(201)
    },
  )

  it('answers 415 for a body that is neither JSON nor text', async () => {
    const { post, sent } = setup()
    const answer = await post('batch=1', { 'Content-Type': 'application/x-www-form-urlencoded' })
    expect(answer.status).toBe(415)
    expect(sent).toHaveLength(0)
  })
})

describe('dedupe', () => {
  it('answers a replayed batch from the cache without a second API call', async () => {
    const { post, sent } = setup()
    const batch = { batch: [item(1), item(2)] }
    const first = await post(batch)
    const second = await post(batch)
    expect(sent).toHaveLength(2)
    const statuses = (answer: typeof first) => answer.body.results.map(({ messageId, status }: { messageId: string; status: number }) => ({ messageId, status }))
    expect(statuses(second)).toEqual(statuses(first))
  })

  it('sends a messageId once when two requests carry it at the same time', async () => {
    const gate = deferred<void>()
    const { post, sent } = setup(
      async (entry) => {
        await gate.promise
        return created(entry)
      },
      { store: forgetful },
    )
    const both = Promise.all([post({ batch: [item(1)] }), post({ batch: [item(1)] })])
    await vi.waitFor(() => expect(sent).toHaveLength(1))
    // The first call is held at the API; the second request can only join it or send its own, and
    // it is answered only after the gate opens. A second send would show in `sent` at that point.
    gate.resolve()
    const [a, b] = await both
    expect(sent).toHaveLength(1)
    expect(a.body.results[0].status).toBe(201)
    expect(b.body).toEqual(a.body)
  })

  it('sends a messageId repeated within one batch once and answers both', async () => {
    const { post, sent } = setup()
    const answer = await post({ batch: [item(1), item(1)] })
    expect(sent).toHaveLength(1)
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([201, 201])
  })

  it('sends again a messageId reused for different content (a call merged after an unacknowledged send)', async () => {
    const { post, sent } = setup()
    await post({ batch: [item(1)] })
    await post({ batch: [item(1, { traits: { plan: 'team' } })] })
    expect(sent.map((s) => s.body.traits.plan)).toEqual(['pro', 'team'])
  })

  it('never caches a retryable failure', async () => {
    const statuses = [500, 429, 201]
    const { post, sent } = setup(({ body }) => (statuses.length > 1 ? json(statuses.shift()!, {}) : created({ body } as Sent)))
    const answers = []
    for (let n = 0; n < 4; n++) answers.push((await post({ batch: [item(1)] })).body.results[0].status)
    expect(answers).toEqual([500, 429, 201, 201])
    expect(sent).toHaveLength(3)
  })

  it('shares deliveries between proxies that share a store', async () => {
    const store = createMemoryStore()
    const a = setup(created, { store })
    const b = setup(created, { store })
    await a.post({ batch: [item(1)] })
    const answer = await b.post({ batch: [item(1)] })
    expect(answer.body.results[0]).toEqual({ messageId: 'm1', status: 201 })
    expect(b.sent).toHaveLength(0)
  })

  it('keeps delivering when the store fails, and logs it', async () => {
    const broken: DedupeStore = {
      claim: () => Promise.reject(new Error('redis down')),
      settle: () => Promise.reject(new Error('redis down')),
      release: () => Promise.reject(new Error('redis down')),
    }
    const { post, sent, logs } = setup(created, { store: broken })
    expect((await post({ batch: [item(1)] })).body.results[0].status).toBe(201)
    expect(sent).toHaveLength(1)
    expect(logs.join('\n')).toMatch(/dedupe store claim failed: redis down[\s\S]*settle failed/)
  })

  it('forgets a delivery after dedupeTtlMs', async () => {
    let now = 0
    const { post, sent } = setup(created, { store: createMemoryStore({ now: () => now }), dedupeTtlMs: 1000 })
    await post({ batch: [item(1)] })
    now = 999
    await post({ batch: [item(1)] })
    now = 2000
    await post({ batch: [item(1)] })
    expect(sent).toHaveLength(2)
  })
})

describe('CORS and origins', () => {
  const preflight = (handler: ReturnType<typeof setup>['call'], origin: string) =>
    handler(
      new Request(PROXY, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      }),
    )

  it('answers a preflight from an allowed origin with 204 and the allow headers', async () => {
    const { call } = setup(created, { allowedOrigins: ['https://app.example'] })
    const answer = await preflight(call, 'https://app.example')
    expect(answer.status).toBe(204)
    expect(answer.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'Content-Type',
      vary: 'Origin',
    })
  })

  it('refuses a preflight from an origin not listed with 403 and no allow headers', async () => {
    const { call } = setup(created, { allowedOrigins: ['https://app.example'] })
    const answer = await preflight(call, 'https://evil.example')
    expect(answer.status).toBe(403)
    expect(answer.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('allows only the same origin by default', async () => {
    const { call, post, sent } = setup()
    expect((await preflight(call, 'https://evil.example')).status).toBe(403)
    expect((await post({ batch: [item(1)] }, { Origin: PAGE, 'Content-Type': 'text/plain' })).status).toBe(200)
    expect((await post({ batch: [item(2)] }, { 'Content-Type': 'text/plain' })).status).toBe(200)
    const refused = await post({ batch: [item(3)] }, { Origin: 'http://shop.example', 'Content-Type': 'text/plain' })
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ error: 'Forbidden', code: 403 })
    expect(sent.map((s) => s.body.userId)).toEqual(['u1', 'u2'])
  })

  it('lets a listed origin read the answer, Retry-After included', async () => {
    const { post } = setup(created, { allowedOrigins: ['https://app.example/'] })
    const answer = await post({ batch: [item(1)] }, { Origin: 'https://app.example', 'Content-Type': 'text/plain' })
    expect(answer.status).toBe(200)
    expect(answer.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(answer.headers['access-control-expose-headers']).toBe('Retry-After')
  })

  it('takes the list as a comma-separated string too', async () => {
    const { post } = setup(created, { allowedOrigins: 'https://a.example, https://b.example' })
    expect((await post({ batch: [item(1)] }, { Origin: 'https://b.example', 'Content-Type': 'text/plain' })).status).toBe(200)
    expect((await post({ batch: [item(2)] }, { Origin: 'https://a.exampl', 'Content-Type': 'text/plain' })).status).toBe(403)
  })

  it("allows any origin with '*'", async () => {
    const { post } = setup(created, { allowedOrigins: '*' })
    expect((await post({ batch: [item(1)] }, { Origin: 'https://any.example', 'Content-Type': 'text/plain' })).status).toBe(200)
  })
})

describe('whole-request answers', () => {
  it.each(['GET', 'PUT', 'DELETE'])('answers %s with 405 and Allow', async (method) => {
    const { call, sent } = setup()
    const answer = await call(new Request(PROXY, { method, body: method == 'GET' ? undefined : '{}' }))
    expect(answer.status).toBe(405)
    expect(answer.headers.allow).toBe('POST, OPTIONS')
    expect(sent).toHaveLength(0)
  })

  it('answers 413 from Content-Length alone, before reading the body', async () => {
    const { post, sent } = setup(created, { maxBodyBytes: 1000 })
    // The body itself is small: only the declared length can trigger this answer.
    const answer = await post({ batch: [item(1)] }, { 'Content-Type': 'text/plain', 'Content-Length': '1001' })
    expect(answer.status).toBe(413)
    expect(answer.body).toMatchObject({ error: 'Payload Too Large', code: 413 })
    expect(sent).toHaveLength(0)
  })

  it('answers 413 when a body without Content-Length grows over maxBodyBytes', async () => {
    const { call, sent } = setup(created, { maxBodyBytes: 1000 })
    const chunk = new TextEncoder().encode('x'.repeat(400))
    let pulls = 0
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => (pulls++ < 100 ? controller.enqueue(chunk) : controller.close()),
    })
    const answer = await call(new Request(PROXY, { method: 'POST', body, duplex: 'half' } as RequestInit))
    expect(answer.status).toBe(413)
    expect(pulls).toBeLessThan(100)
    expect(sent).toHaveLength(0)
  })

  it.each([
    ['not JSON', '{"batch": [', /not valid JSON/],
    ['empty', '', /not valid JSON/],
    ['not an object', '[1]', /"batch" array/],
    ['no batch', '{"items": []}', /"batch" array/],
    ['an empty batch', '{"batch": []}', /empty/],
    ['an item that is not an object', '{"batch": [1]}', /batch\[0\] must be an object/],
    ['an item without a messageId', JSON.stringify({ batch: [{ userId: 'u1' }] }), /batch\[0\]\.messageId/],
    ['a bad sentAt', JSON.stringify({ batch: [item(1)], sentAt: 'soon' }), /sentAt/],
    ['too many items', JSON.stringify({ batch: Array.from({ length: 101 }, (_, n) => item(n)) }), /at most 100/],
  ])('answers 400 with a message for a body that is %s', async (_name, body, message) => {
    const { post, sent } = setup()
    const answer = await post(body)
    expect(answer.status).toBe(400)
    expect(answer.body.error).toBe('Bad Request')
    expect(answer.body.message).toMatch(message)
    expect(sent).toHaveLength(0)
  })

  it('answers 502 when the API cannot be reached for any item, and logs why', async () => {
    const { post, logs } = setup(() => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    })
    const answer = await post({ batch: [item(1), item(2)] })
    expect(answer.status).toBe(502)
    expect(answer.body).toMatchObject({ error: 'Bad Gateway', code: 502 })
    expect(logs).toEqual([expect.stringMatching(/2 of 2 calls could not reach the Flameup API: ECONNREFUSED/)])
  })

  it('retries a dropped connection once, at once', async () => {
    let drops = 1
    const { post, sent } = setup((entry) => {
      if (drops-- > 0) throw new TypeError('fetch failed', { cause: { code: 'UND_ERR_SOCKET' } })
      return created(entry)
    })
    expect((await post({ batch: [item(1)] })).body.results[0].status).toBe(201)
    expect(sent).toHaveLength(2)
  })

  it('keeps sending the rest of a batch after a dropped connection', async () => {
    const { post, sent } = setup(
      (entry) => {
        if (entry.body.userId == 'u1') throw new TypeError('fetch failed')
        return created(entry)
      },
      { concurrency: 1 },
    )
    const answer = await post({ batch: [item(1), item(2)] })
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([502, 201])
    expect(sent.map((s) => s.body.userId)).toEqual(['u1', 'u1', 'u2'])
  })

  it('stops sending a batch after a timeout', async () => {
    const { post, sent } = setup(() => new Promise<Response>(() => {}), { concurrency: 1, timeoutMs: 20 })
    const answer = await post({ batch: [item(1), item(2), item(3)] })
    expect(answer.status).toBe(504)
    expect(sent).toHaveLength(1)
  })

  it('answers per item when only some items could not reach the API', async () => {
    const { post } = setup(() => {
      throw new TypeError('fetch failed')
    })
    const answer = await post({ batch: [item(1), item(2, { userId: '' })] })
    expect(answer.status).toBe(200)
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([502, 400])
  })

  it('aborts a call that hangs past timeoutMs and answers 504', async () => {
    let aborted = false
    const { post } = setup(
      ({ init }) =>
        new Promise<Response>((_, reject) =>
          init.signal!.addEventListener('abort', () => {
            aborted = true
            reject(new DOMException('aborted', 'AbortError'))
          }),
        ),
      { timeoutMs: 20 },
    )
    const answer = await post({ batch: [item(1)] })
    expect(answer.status).toBe(504)
    expect(answer.body).toMatchObject({ error: 'Gateway Timeout', code: 504 })
    expect(aborted).toBe(true)
  })

  it('times out even a fetch that ignores its signal, and answers the others per item', async () => {
    const { post } = setup(({ body }) => (body.userId == 'u1' ? new Promise<Response>(() => {}) : created({ body } as Sent)), {
      timeoutMs: 20,
    })
    const answer = await post({ batch: [item(1), item(2)] })
    expect(answer.status).toBe(200)
    expect(answer.body.results.map((r: { status: number }) => r.status)).toEqual([504, 201])
  })
})

describe('the API key', () => {
  it('is removed from answers and log lines even when the API echoes it', async () => {
    const { post, logs } = setup(({ init }) => {
      const auth = new Headers(init.headers).get('authorization')
      return json(400, { error: 'Bad Request', message: 'bad token ' + auth, code: 400 })
    })
    const answer = await post({ batch: [item(1)] })
    expect(answer.body.results[0].error.message).toBe('bad token Bearer [redacted]')

    const failing = setup(() => {
      throw new Error('could not connect with ' + KEY)
    })
    expect((await failing.post({ batch: [item(1)] })).status).toBe(502)
    expect(failing.logs).toHaveLength(1)
    expect(failing.logs.concat(logs).join('\n')).not.toContain(KEY)
  })
})
