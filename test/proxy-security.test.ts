// Issue 10, tried as an attacker would: each test is the request that succeeded against the proxy
// before the fix, asserting the answer CONTRACT §6 now requires. The first part drives the handler
// with an injected fetch; the second the built CLI (dist/proxy-cli.mjs) over real HTTP on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { CLI, ROOT, cleanEnv, ensureBuilt } from './proxy-processes'
import { createProxyHandler, type ProxyOptions } from '../src/proxy/index'
import { createLimiter } from '../src/proxy/limit'

const KEY = 'sk_live_security_0123456789'
const SECRET = 'identity-secret-for-tests'
const PROXY = 'https://shop.example/flameup'

const hmac = (userId: string, secret = SECRET) => createHmac('sha256', secret).update(userId).digest('hex')

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

/** The API's person, as the API would answer: the very data the read oracle leaked. */
const personOf = (userId: string) => ({
  id: 'p_' + userId,
  external_id: userId,
  email: userId + '@victim.example',
  phone: '+1 555 0100',
  attributes: { plan: 'pro' },
})

const deferred = () => {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

interface Sent {
  url: string
  init: RequestInit
  body: Record<string, unknown>
}

/**
 * A handler over a fake API. Like the real fetch it builds Headers from what the proxy passes
 * (a CR/LF in a header value throws there), and it counts the calls in flight.
 */
const setup = (upstream: (sent: Sent) => Response | Promise<Response> = ({ body }) => json(201, personOf(String(body.userId))), options: Partial<ProxyOptions> = {}) => {
  const sent: Sent[] = []
  const logs: string[] = []
  const flight = { now: 0, peak: 0 }
  const handler = createProxyHandler({
    apiKey: KEY,
    workspaceId: 'ws_1',
    log: (line) => logs.push(line),
    fetch: async (url, init) => {
      new Headers(init.headers)
      const entry = { url, init, body: JSON.parse(new TextDecoder().decode(init.body as Uint8Array)) }
      sent.push(entry)
      flight.peak = Math.max(flight.peak, ++flight.now)
      try {
        return await upstream(entry)
      } finally {
        flight.now--
      }
    },
    ...options,
  })
  const post = async (body: unknown, init: RequestInit = {}) => {
    const response = await handler(
      new Request(PROXY, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: typeof body == 'string' ? body : JSON.stringify(body), ...init }),
    )
    const text = await response.text()
    return { status: response.status, headers: Object.fromEntries(response.headers), text, body: text ? JSON.parse(text) : undefined }
  }
  return { handler, sent, logs, flight, post }
}

let serial = 0
const item = (extra: Record<string, unknown> = {}) => ({
  messageId: 'sec-' + ++serial,
  userId: 'user_' + serial,
  traits: { first_name: 'Ann' },
  ...extra,
})

/** Traits nested `levels` deep, the traits object itself being the first level. */
const nested = (levels: number) => {
  let value: Record<string, unknown> = { leaf: 1 }
  for (let i = 1; i < levels; i++) value = { a: value }
  return value
}

afterEach(() => {
  vi.useRealTimers()
})

describe('a stranger learns nothing about a person', () => {
  it('the read oracle: posting a victim userId answers no person, and 200 (existing) reads as 201 (new)', async () => {
    const known = new Set(['victim_42'])
    const { post } = setup(({ body }) => json(known.has(String(body.userId)) ? 200 : 201, personOf(String(body.userId))))
    const victim = await post({ batch: [{ messageId: 'x', userId: 'victim_42' }] })
    const stranger = await post({ batch: [{ messageId: 'y', userId: 'nobody_7' }] })
    expect(victim.body).toEqual({ results: [{ messageId: 'x', status: 201 }] })
    expect(stranger.body).toEqual({ results: [{ messageId: 'y', status: 201 }] })
    expect(victim.text).not.toContain('victim.example')
  })

  it('exposePerson shows the person only to a verified identity', async () => {
    const open = setup(undefined, { exposePerson: true })
    expect((await open.post({ batch: [item({ userId: 'victim_42' })] })).body.results[0]).not.toHaveProperty('person')
    const verified = setup(undefined, { exposePerson: true, identitySecret: SECRET })
    const answer = await verified.post({ batch: [item({ userId: 'ann', userHash: hmac('ann') })] })
    expect(answer.body.results[0]).toMatchObject({ status: 201, person: { external_id: 'ann', email: 'ann@victim.example' } })
  })

  it('an upstream HTML error page, stack trace or internal host name never reaches the browser', async () => {
    const html = '<html><head><title>502</title></head><body>upstream people-svc.internal:8080 refused\n    at Socket.connect (net.js:1)</body></html>'
    const bodies: Record<string, () => Response> = {
      u1: () => new Response(html, { status: 500, headers: { 'Content-Type': 'text/html' } }),
      u2: () => new Response(html, { status: 400, headers: { 'Content-Type': 'text/html' } }),
      u3: () =>
        json(400, {
          error: 'Bad Request',
          message: 'x'.repeat(600),
          code: 400,
          stack: 'Error: at people-svc.internal',
          host: 'people-svc.internal',
          details: [{ field: 'email', message: 'Invalid email format', internal: 'people-svc.internal' }, 'junk'],
        }),
      u4: () => json(503, { error: 'Service Unavailable', message: 'upstream connect error to people-svc.internal:8080', code: 503 }),
      u5: () => json(422, { error: 'Unprocessable', message: 'Error: boom\n    at handler (/srv/people-svc/app.js:10)', code: 422 }),
    }
    const { post } = setup(({ body }) => bodies[String(body.userId)]())
    const batch = Object.keys(bodies).map((userId) => item({ userId }))
    const answer = await post({ batch })
    expect(answer.text).not.toMatch(/internal|<|stack|Socket|\/srv/)
    const [html500, html400, extra, gateway, trace] = answer.body.results
    expect(html500.error).toEqual({ error: 'Internal Server Error', message: expect.any(String), code: 500 })
    expect(html400.error).toEqual({ error: 'Bad Request', message: 'The Flameup API answered with status 400', code: 400 })
    expect(extra.error).toEqual({
      error: 'Bad Request',
      message: 'x'.repeat(500),
      code: 400,
      details: [{ field: 'email', message: 'Invalid email format' }],
    })
    expect(gateway.error).toEqual({ error: 'Service Unavailable', message: 'The Flameup API is unavailable; try again later', code: 503 })
    expect(trace).toMatchObject({ status: 422, error: { error: 'Unprocessable Entity', code: 422 } })
  })

  it('a one-line plain-text 4xx body (no HTML, no newline) is not passed on as the message', async () => {
    // It passed every prose check and reached the browser as `message` (a gateway's own 404 or 429 text).
    const bodies: Record<string, () => Response> = {
      t1: () => new Response('no route to people-svc.internal:8080 from edge-7', { status: 404, headers: { 'Content-Type': 'text/plain' } }),
      t2: () => new Response('rate limited by gw-3.corp for key fl_live_x', { status: 429, statusText: 'Slow Down gw-3.corp' }),
      t3: () => json(400, 'people-svc.internal says no'),
    }
    const { post } = setup(({ body }) => bodies[String(body.userId)]())
    const answer = await post({ batch: Object.keys(bodies).map((userId) => item({ userId })) })
    expect(answer.text).not.toMatch(/internal|corp|edge|fl_live|Slow/)
    expect(answer.body.results.map((result: { error: unknown }) => result.error)).toEqual([
      { error: 'Not Found', message: 'The Flameup API answered with status 404', code: 404 },
      { error: 'Too Many Requests', message: 'The Flameup API answered with status 429', code: 429 },
      { error: 'Bad Request', message: 'The Flameup API answered with status 400', code: 400 },
    ])
  })

  it('an upstream 401 or 403 is the item\'s 401 with a generic body (the key is wrong)', async () => {
    const { post } = setup(() => json(403, { error: 'Forbidden', message: 'key fl_live_x lacks scope people:write on ws_1', code: 403 }))
    const answer = await post({ batch: [item()] })
    expect(answer.body.results[0]).toEqual({ messageId: expect.any(String), status: 401, error: expect.objectContaining({ error: 'Unauthorized', code: 401 }) })
    expect(answer.text).not.toContain('scope')
  })
})

describe('identity verification', () => {
  it('overwriting anyone: a call for another userId without a valid userHash is 403 and never reaches the API', async () => {
    const { post, sent } = setup(undefined, { identitySecret: SECRET })
    const forged = item({ userId: 'victim_42', email: 'attacker@evil.example', userHash: hmac('attacker') })
    const missing = item({ userId: 'victim_43', email: 'attacker@evil.example' })
    const upper = item({ userId: 'victim_44', userHash: hmac('victim_44').toUpperCase() })
    const wrongKey = item({ userId: 'victim_45', userHash: hmac('victim_45', 'guessed') })
    const own = item({ userId: 'ann', userHash: hmac('ann') })
    const answer = await post({ batch: [forged, missing, upper, wrongKey, own] })
    const forbidden = { status: 403, error: { error: 'Forbidden', message: expect.any(String), code: 403 } }
    expect(answer.body.results).toEqual([
      { messageId: forged.messageId, ...forbidden },
      { messageId: missing.messageId, ...forbidden },
      { messageId: upper.messageId, ...forbidden },
      { messageId: wrongKey.messageId, ...forbidden },
      { messageId: own.messageId, status: 201 },
    ])
    expect(sent.map((entry) => entry.body.userId)).toEqual(['ann'])
    // The proof is for the proxy only: the API never sees it.
    expect(sent[0].body).toEqual({ userId: 'ann', traits: { first_name: 'Ann' } })
  })

  it('authorize(request, call) decides per call; false is 403, a throw is a retryable 503, logged on one line', async () => {
    const seen: unknown[] = []
    const { post, sent, logs } = setup(undefined, {
      authorize: async (request, call) => {
        seen.push(call)
        if (call.userId == 'broken') throw new Error('session store down\nforged line')
        return request.headers.get('cookie') == 'session=' + call.userId
      },
    })
    const mine = item({ userId: 'ann', email: 'ann@example.com' })
    const answer = await post(
      { batch: [mine, item({ userId: 'victim_42' }), item({ userId: 'broken' })] },
      { headers: { 'Content-Type': 'text/plain', Cookie: 'session=ann' } },
    )
    expect(answer.body.results.map((result: { status: number }) => result.status)).toEqual([201, 403, 503])
    expect(seen[0]).toEqual({ messageId: mine.messageId, userId: 'ann', email: 'ann@example.com', traits: { first_name: 'Ann' }, userHash: undefined })
    expect(sent.map((entry) => entry.body.userId)).toEqual(['ann'])
    expect(logs).toEqual(['authorize failed: session store down\\u000aforged line'])
  })

  it('with both options set, a call must pass both', async () => {
    const { post, sent } = setup(undefined, { identitySecret: SECRET, authorize: (_, call) => call.userId != 'banned' })
    const answer = await post({ batch: [item({ userId: 'banned', userHash: hmac('banned') }), item({ userId: 'ok', userHash: hmac('ok') })] })
    expect(answer.body.results.map((result: { status: number }) => result.status)).toEqual([403, 201])
    expect(sent).toHaveLength(1)
  })
})

describe('limits across requests', () => {
  it('50 parallel requests of 6 calls put at most maxConcurrency (default 64) calls in flight, not 300', async () => {
    const gate = deferred()
    const { post, flight, sent } = setup(async ({ body }) => {
      await gate.promise
      return json(201, personOf(String(body.userId)))
    })
    const answers = Array.from({ length: 50 }, () => post({ batch: Array.from({ length: 6 }, () => item()) }))
    await vi.waitFor(() => expect(flight.now).toBe(64))
    gate.resolve()
    const done = await Promise.all(answers)
    expect(flight.peak).toBe(64)
    expect(sent).toHaveLength(300)
    for (const answer of done) expect(answer.status).toBe(200)
  })

  it('past maxPending waiting items, a request is answered 503 with Retry-After at once', { timeout: 5000 }, async () => {
    const gate = deferred()
    const { post, sent } = setup(
      async ({ body }) => {
        await gate.promise
        return json(201, personOf(String(body.userId)))
      },
      { maxConcurrency: 1, maxPending: 3 },
    )
    const first = post({ batch: [item(), item(), item()] })
    await vi.waitFor(() => expect(sent).toHaveLength(1))
    // One call in flight, two waiting: two more would make four.
    const busy = await post({ batch: [item(), item()] })
    expect(busy.status).toBe(503)
    expect(busy.headers['retry-after']).toMatch(/^\d+$/)
    expect(busy.body).toMatchObject({ error: 'Service Unavailable', code: 503 })
    gate.resolve()
    expect((await first).body.results.map((result: { status: number }) => result.status)).toEqual([201, 201, 201])
    // The reservations were all given back.
    expect((await post({ batch: [item(), item(), item()] })).status).toBe(200)
  })

  it('rateLimit: past perMinute items per client key, 429 with Retry-After; other clients and the next minute pass', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(0)
    const { post, sent } = setup(undefined, { rateLimit: { perMinute: 10, key: (request) => request.headers.get('x-client') ?? undefined } })
    const as = (client: string, count: number) =>
      post({ batch: Array.from({ length: count }, () => item()) }, { headers: { 'Content-Type': 'text/plain', 'X-Client': client } })
    expect((await as('a', 8)).status).toBe(200)
    const limited = await as('a', 3)
    expect(limited.status).toBe(429)
    // One item short, at ten a minute: six seconds.
    expect(limited.headers['retry-after']).toBe('6')
    expect(limited.body).toMatchObject({ error: 'Too Many Requests', code: 429 })
    expect((await as('b', 10)).status).toBe(200)
    vi.setSystemTime(6000)
    expect((await as('a', 3)).status).toBe(200)
    expect(sent).toHaveLength(21)
  })

  it('a request whose client went away has its not-yet-sent calls cancelled', async () => {
    const gate = deferred()
    const { post, sent } = setup(
      async ({ body }) => {
        await gate.promise
        return json(201, personOf(String(body.userId)))
      },
      { maxConcurrency: 1 },
    )
    const first = post({ batch: [item({ userId: 'holder' })] })
    await vi.waitFor(() => expect(sent).toHaveLength(1))
    const client = new AbortController()
    const gone = post({ batch: [item({ userId: 'gone_1' }), item({ userId: 'gone_2' })] }, { signal: client.signal })
    client.abort()
    gate.resolve()
    await first
    await gone
    // A later request gets the slot at once: the cancelled calls gave theirs up.
    expect((await post({ batch: [item({ userId: 'later' })] })).status).toBe(200)
    expect(sent.map((entry) => entry.body.userId)).toEqual(['holder', 'later'])
  })
})

describe('the shared limiter', () => {
  it('grants slots in order, skips a waiter whose request went away, and never lets pending exceed maxPending', async () => {
    const limiter = createLimiter(1, 3)
    expect(limiter.admit(3)).toBe(true)
    expect(limiter.admit(1)).toBe(false)
    expect(limiter.acquire(null)).toBe(true)
    limiter.done()
    const gone = new AbortController()
    const order: string[] = []
    const a = (limiter.acquire(gone.signal) as Promise<boolean>).then((granted) => order.push('a:' + granted))
    const b = (limiter.acquire(null) as Promise<boolean>).then((granted) => order.push('b:' + granted))
    // Two items still wait: two more would make four.
    expect(limiter.admit(2)).toBe(false)
    gone.abort()
    await a
    limiter.done()
    // One waits now: two more fit, three do not.
    expect(limiter.admit(3)).toBe(false)
    expect(limiter.admit(2)).toBe(true)
    limiter.release()
    await b
    expect(order).toEqual(['a:false', 'b:true'])
    // b's item is sent, the two admitted end unsent, b gives its slot back: all is free again.
    limiter.done()
    limiter.done()
    limiter.done()
    limiter.release()
    expect(limiter.admit(3)).toBe(true)
    expect(limiter.acquire(null)).toBe(true)
  })
})

describe('what each item may hold', () => {
  it.each([
    ['CR/LF', 'a\r\nX-Injected: 1'],
    ['NUL', 'a\u0000b'],
    ['a character above U+00FF', 'id-\u20ac'],
    ['a space', 'a b'],
    ['129 characters', 'm'.repeat(129)],
    ['nothing', ''],
  ])('a messageId with %s is that item\'s 400; the rest of the batch is delivered (was a whole-request 502)', async (_name, messageId) => {
    const { post, sent } = setup()
    const good = item()
    const answer = await post({ batch: [item({ messageId }), good] })
    expect(answer.status).toBe(200)
    expect(answer.body.results).toEqual([
      { messageId, status: 400, error: expect.objectContaining({ code: 400, details: [expect.objectContaining({ field: 'messageId' })] }) },
      { messageId: good.messageId, status: 201 },
    ])
    expect(sent.map((entry) => entry.body.userId)).toEqual([good.userId])
  })

  it.each([
    ['2,198 levels', nested(2198)],
    ['33 levels', nested(33)],
  ])('traits nested %s deep are that item\'s 400 and never forwarded', async (_name, traits) => {
    const { post, sent } = setup()
    const answer = await post({ batch: [item({ traits })] })
    expect(answer.body.results[0]).toMatchObject({ status: 400, error: { details: [{ field: 'traits', message: expect.stringMatching(/32 levels/) }] } })
    expect(sent).toHaveLength(0)
  })

  it('traits 32 levels deep are delivered', async () => {
    const { post, sent } = setup()
    expect((await post({ batch: [item({ traits: nested(32) })] })).body.results[0].status).toBe(201)
    expect(sent).toHaveLength(1)
  })

  it.each([
    ['__proto__ at the top', '{"__proto__":{"admin":true}}'],
    ['constructor nested', '{"a":{"constructor":{"prototype":{"admin":true}}}}'],
    ['prototype in an array', '{"a":[{"prototype":1}]}'],
  ])('traits holding %s are that item\'s 400 and never forwarded', async (_name, traits) => {
    const { post, sent } = setup()
    const answer = await post(`{"batch":[{"messageId":"p1","userId":"u","traits":${traits}}]}`)
    expect(answer.body.results[0]).toMatchObject({ status: 400, error: { details: [{ field: 'traits' }] } })
    expect(sent).toHaveLength(0)
  })

  it('log lines stay one line: control characters from upstream text are escaped, the key redacted', async () => {
    const { post, logs } = setup(() => {
      throw new TypeError('fetch failed', { cause: { message: 'reset\nflameup-proxy: forged line ' + KEY } })
    })
    await post({ batch: [item()] })
    expect(logs).toHaveLength(1)
    expect(logs[0]).not.toMatch(/[\u0000-\u001f]/)
    expect(logs[0]).toContain('reset\\u000aflameup-proxy: forged line [redacted]')
  })
})

// ---------------------------------------------------------------------------------------------
// Over real HTTP, against the built CLI.

const WORKSPACE = 'ws_sec'

const children = new Set<ChildProcess>()
const sockets = new Set<Socket>()

interface Api {
  url: string
  requests: { userId?: string; messageId?: string; body: Record<string, unknown>; status: number | null }[]
  reset(): void
  close(): Promise<void>
}
let api: Api

const startCli = (env: Record<string, string> = {}) =>
  new Promise<{ url: string; port: number; stderr: () => string }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI], {
      env: { ...cleanEnv(), FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, FLAMEUP_API_HOST: api.url, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    let stderr = ''
    let stdout = ''
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    child.stdout!.on('data', (chunk) => {
      stdout += chunk
      const match = /listening on (http:\/\/\S+)/.exec(stdout)
      if (match) resolve({ url: match[1], port: Number(new URL(match[1]).port), stderr: () => stderr })
    })
    child.once('exit', (code) => reject(new Error('flameup-proxy exited with ' + code + ': ' + stderr)))
  })

const runCli = (env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI], {
      env: { ...cleanEnv(), FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk) => (stdout += chunk))
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })

/** A raw HTTP request, so that Host and the X-Forwarded-* headers can be anything. */
const raw = (port: number, headers: Record<string, string>, body = '', path = '/flameup', method = 'POST') =>
  new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { 'Content-Type': 'text/plain', ...headers }, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
    })
    req.on('error', reject)
    req.end(body)
  })

/** A socket that sends `head` and then nothing; resolves with what the server wrote once it closes the connection. */
const stall = (port: number, head: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    sockets.add(socket)
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(text))
    socket.write(head)
  })

const batchOf = (...items: unknown[]) => JSON.stringify({ batch: items })

describe('flameup-proxy over HTTP', () => {
  let proxy: Awaited<ReturnType<typeof startCli>>

  beforeAll(async () => {
    await ensureBuilt()
    const { startApi } = await import(pathToFileURL(join(ROOT, 'demo/api.mjs')).href)
    api = await startApi({ apiKey: KEY, workspaceId: WORKSPACE })
    proxy = await startCli({ FLAMEUP_HEADER_TIMEOUT_MS: '300', FLAMEUP_BODY_TIMEOUT_MS: '600' })
  }, 120000)

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await api?.close()
  })

  it('answers GET /healthz with 200 ok', async () => {
    const answer = await raw(proxy.port, { Host: '127.0.0.1:' + proxy.port }, '', '/healthz', 'GET')
    expect(answer).toMatchObject({ status: 200, text: 'ok' })
  })

  it('the read oracle over HTTP: no person, and an existing person reads like a new one', async () => {
    const host = { Host: '127.0.0.1:' + proxy.port }
    const first = await raw(proxy.port, host, batchOf(item({ messageId: 'o1', userId: 'victim_http' })))
    const again = await raw(proxy.port, host, batchOf(item({ messageId: 'o2', userId: 'victim_http' })))
    expect(JSON.parse(first.text)).toEqual({ results: [{ messageId: 'o1', status: 201 }] })
    expect(JSON.parse(again.text)).toEqual({ results: [{ messageId: 'o2', status: 201 }] })
    expect(api.requests.map((entry) => entry.status)).toEqual([201, 200])
  })

  it('a messageId with CR/LF is that item\'s 400, not a whole-request 502 the browser retries ten times', async () => {
    const good = item()
    const answer = await raw(proxy.port, { Host: '127.0.0.1:' + proxy.port }, batchOf(item({ messageId: 'a\r\nb' }), good))
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.text).results.map((result: { status: number }) => result.status)).toEqual([400, 201])
  })

  it('a foreign Host (DNS rebinding) is refused with 403, even when Origin matches it', async () => {
    const rebound = 'rebind.evil.example:' + proxy.port
    api.reset()
    const answer = await raw(proxy.port, { Host: rebound, Origin: 'http://' + rebound }, batchOf(item()))
    expect(answer.status).toBe(403)
    expect(JSON.parse(answer.text)).toMatchObject({ error: 'Forbidden', code: 403 })
    expect(api.requests).toHaveLength(0)
    for (const host of ['localhost', '127.0.0.1', 'app.localhost', '[::1]']) {
      const ok = await raw(proxy.port, { Host: host + ':' + proxy.port }, batchOf(item()))
      expect(ok.status).toBe(200)
    }
  })

  it('X-Forwarded-Host from the client is ignored: it no longer makes a foreign origin "same-origin"', async () => {
    api.reset()
    const answer = await raw(
      proxy.port,
      { Host: '127.0.0.1:' + proxy.port, Origin: 'http://evil.example', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'http' },
      batchOf(item()),
    )
    expect(answer.status).toBe(403)
    expect(api.requests).toHaveLength(0)
  })

  it('a slow body is cut off at the body timeout (was held 300 s), and slow headers at the header timeout', async () => {
    const body = stall(proxy.port, 'POST /flameup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n{"batch"')
    const headers = stall(proxy.port, 'POST /flameup HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    const deadline = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10000))
    expect(await Promise.race([body, deadline])).toMatch(/^HTTP\/1\.1 408/)
    expect(await Promise.race([headers, deadline])).toMatch(/^HTTP\/1\.1 408/)
  })

  it('warns once at start that any identity is accepted without FLAMEUP_IDENTITY_SECRET', () => {
    expect(proxy.stderr().match(/warning: FLAMEUP_IDENTITY_SECRET is not set/g)).toHaveLength(1)
  })

  it('FLAMEUP_IDENTITY_SECRET: a forged userHash is 403, a valid one delivers, and userHash never reaches the API', async () => {
    const verified = await startCli({ FLAMEUP_IDENTITY_SECRET: SECRET })
    expect(verified.stderr()).not.toMatch(/warning/)
    api.reset()
    const host = { Host: '127.0.0.1:' + verified.port }
    const answer = await raw(
      verified.port,
      host,
      batchOf(item({ messageId: 'f1', userId: 'victim_42', email: 'me@evil.example' }), item({ messageId: 'v1', userId: 'ann', userHash: hmac('ann') })),
    )
    expect(JSON.parse(answer.text).results).toEqual([
      { messageId: 'f1', status: 403, error: { error: 'Forbidden', message: expect.any(String), code: 403 } },
      { messageId: 'v1', status: 201 },
    ])
    expect(api.requests.map((entry) => entry.userId)).toEqual(['ann'])
    expect(api.requests[0].body).not.toHaveProperty('userHash')
  })

  it('FLAMEUP_RATE_LIMIT: past it, 429 with Retry-After', async () => {
    const limited = await startCli({ FLAMEUP_RATE_LIMIT: '5' })
    const host = { Host: '127.0.0.1:' + limited.port }
    expect((await raw(limited.port, host, batchOf(item(), item(), item(), item(), item()))).status).toBe(200)
    const refused = await raw(limited.port, host, batchOf(item()))
    expect(refused.status).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    // X-Forwarded-For from the client is no new identity without FLAMEUP_TRUST_PROXY.
    expect((await raw(limited.port, { ...host, 'X-Forwarded-For': '203.0.113.9' }, batchOf(item()))).status).toBe(429)
  })

  it('FLAMEUP_TRUST_PROXY=1 takes the host and client address from the one proxy in front', async () => {
    const behind = await startCli({ FLAMEUP_TRUST_PROXY: '1', FLAMEUP_RATE_LIMIT: '1' })
    // The proxy in front appends the address it saw; the first entry is the client's own claim.
    const via = (client: string) => ({
      Host: '127.0.0.1:' + behind.port,
      Origin: 'https://shop.example',
      'X-Forwarded-Host': 'shop.example',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-For': '198.51.100.1, ' + client,
    })
    expect((await raw(behind.port, via('203.0.113.1'), batchOf(item()))).status).toBe(200)
    expect((await raw(behind.port, via('203.0.113.1'), batchOf(item()))).status).toBe(429)
    expect((await raw(behind.port, via('203.0.113.2'), batchOf(item()))).status).toBe(200)
  })

  it('caps open connections (FLAMEUP_MAX_CONNECTIONS)', async () => {
    const capped = await startCli({ FLAMEUP_MAX_CONNECTIONS: '2' })
    const open = () =>
      new Promise<Socket>((resolve) => {
        const socket = connect(capped.port, '127.0.0.1', () => resolve(socket))
        sockets.add(socket)
      })
    await open()
    await open()
    const third = await open()
    const closed = await new Promise<string>((resolve) => {
      third.on('close', () => resolve('closed'))
      third.on('error', () => {})
      setTimeout(() => resolve('still open after 5 s'), 5000)
    })
    expect(closed).toBe('closed')
  })

  it.each([
    ['FLAMEUP_RATE_LIMIT', 'lots', /^flameup-proxy: FLAMEUP_RATE_LIMIT must be a whole number from 0, not lots\n/],
    ['FLAMEUP_TRUST_PROXY', 'yes', /^flameup-proxy: FLAMEUP_TRUST_PROXY must be 1 or 0, not yes\n/],
    ['FLAMEUP_BODY_TIMEOUT_MS', '-5', /^flameup-proxy: FLAMEUP_BODY_TIMEOUT_MS must be a whole number from 1, not -5\n/],
    ['FLAMEUP_MAX_CONNECTIONS', '0', /^flameup-proxy: FLAMEUP_MAX_CONNECTIONS must be a whole number from 1, not 0\n/],
  ])('exits 1 with one line for a malformed %s', async (name, value, line) => {
    const { code, stdout, stderr } = await runCli({ [name]: value })
    expect(code).toBe(1)
    expect(stderr).toMatch(line)
    expect(stderr.split('\n')).toHaveLength(2)
    expect(stdout).toBe('')
  })
})
