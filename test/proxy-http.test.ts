// The built `flameup-proxy` CLI as a child process in front of the local API stand-in, over real
// HTTP on 127.0.0.1. dist/proxy-cli.mjs is rebuilt first when a proxy source is newer.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, ensureBuilt, killChildren, runCli, startCli } from './proxy-processes'

const KEY = 'sk_http_test_5f2e9c1d7a'
const WORKSPACE = 'ws_http'
const APP = 'http://app.localhost:3000'
const TIMEOUT_MS = 2000

interface Api {
  url: string
  people: Map<string, Record<string, unknown>>
  requests: { userId?: string; messageId?: string; status: number | null }[]
  setFaults(faults: Record<string, unknown>): void
  reset(): void
  close(): Promise<void>
}

let api: Api
let proxy: Awaited<ReturnType<typeof startCli>>
/** Every answer the proxy gave in this file, headers and body, for the key search at the end. */
const seen: string[] = []
let serial = 0

const item = (extra: Record<string, unknown> = {}) => {
  const n = ++serial
  return { messageId: 'msg-' + n, userId: 'user-' + n, traits: { first_name: 'Ann' }, timestamp: new Date(0).toISOString(), ...extra }
}

const request = async (init: RequestInit & { path?: string } = {}) => {
  const response = await fetch(proxy.url + (init.path || '/flameup'), init)
  const text = await response.text()
  const headers = Object.fromEntries(response.headers)
  seen.push(JSON.stringify(headers) + '\n' + text)
  let body
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, headers, body }
}

const post = (batch: unknown[], headers: Record<string, string> = {}) =>
  request({ method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers }, body: JSON.stringify({ batch }) })

const statuses = (answer: { body: { results: { status: number }[] } }) => answer.body.results.map((result) => result.status)

/** Deliveries the API saw, read over HTTP like a browser test would. */
const deliveries = async (messageId: string) => {
  const log: { messageId?: string }[] = await (await fetch(api.url + '/__requests')).json()
  return log.filter((entry) => entry.messageId == messageId).length
}

beforeAll(async () => {
  await ensureBuilt()
  const { startApi } = await import(pathToFileURL(join(ROOT, 'demo/api.mjs')).href)
  api = await startApi({ apiKey: KEY, workspaceId: WORKSPACE })
  proxy = await startCli({
    FLAMEUP_API_KEY: KEY,
    FLAMEUP_WORKSPACE_ID: WORKSPACE,
    FLAMEUP_API_HOST: api.url,
    FLAMEUP_ALLOWED_ORIGINS: APP + ', http://other.localhost:4000',
    FLAMEUP_TIMEOUT_MS: String(TIMEOUT_MS),
    HOST: '127.0.0.1',
    PORT: '0',
  })
}, 120000)

beforeEach(() => api.reset())

afterAll(async () => {
  killChildren()
  await api?.close()
})

describe('flameup-proxy over HTTP', () => {
  it('listens on 127.0.0.1 and delivers a batch', async () => {
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const first = item({ email: 'ann@example.com', traits: { first_name: 'Ann', plan: 'pro' } })
    const second = item()
    const answer = await post([first, second], { Origin: APP })
    expect(answer.status).toBe(200)
    expect(answer.headers['access-control-allow-origin']).toBe(APP)
    // No person in the answer by default (CONTRACT §6): the stand-in holds it.
    expect(answer.body.results).toEqual([
      { messageId: first.messageId, status: 201 },
      { messageId: second.messageId, status: 201 },
    ])
    expect(api.people.get(first.userId)).toMatchObject({ first_name: 'Ann', attributes: { plan: 'pro' }, workspace_id: WORKSPACE })
  })

  it('maps mixed results (201, 400 not sent, 500 from the API) in batch order', async () => {
    const ok = item()
    const invalid = item({ email: 'ann@' })
    const failing = item()
    api.setFaults({ statusByUserId: { [failing.userId]: 500 } })
    const answer = await post([ok, invalid, failing])
    expect(answer.status).toBe(200)
    expect(statuses(answer)).toEqual([201, 400, 500])
    expect(answer.body.results[1].error.details).toEqual([{ field: 'email', message: expect.any(String) }])
    expect(api.requests.map((entry) => entry.userId).sort()).toEqual([ok.userId, failing.userId].sort())
  })

  it('answers a replayed batch without reaching the API again', async () => {
    const batch = [item(), item()]
    const first = await post(batch)
    const again = await post(batch)
    // The replay is answered from the dedupe store, which keeps the status (not the person).
    expect(statuses(again)).toEqual(statuses(first))
    expect(await deliveries(batch[0].messageId)).toBe(1)
    expect(await deliveries(batch[1].messageId)).toBe(1)
  })

  it('sends concurrent duplicates to the API once', async () => {
    api.setFaults({ latencyMs: 300 })
    const batch = [item()]
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(batch)))
    for (const answer of answers) expect(answer.body.results[0]).toMatchObject({ messageId: batch[0].messageId, status: 201 })
    expect(await deliveries(batch[0].messageId)).toBe(1)
  })

  it('keeps the API status per item: 401 to pause, 429 with Retry-After to wait', async () => {
    api.setFaults({ status: 401 })
    expect(statuses(await post([item(), item()]))).toEqual([401, 401])
    api.setFaults({ status: 429, retryAfter: 12 })
    const limited = await post([item()])
    expect(statuses(limited)).toEqual([429])
    expect(limited.headers['retry-after']).toBe('12')
  })

  it('answers 502 when the API is down, and the same batch delivers once it is back', async () => {
    const batch = [item(), item()]
    api.setFaults({ down: true })
    const down = await post(batch)
    expect(down.status).toBe(502)
    expect(down.body).toMatchObject({ error: 'Bad Gateway', code: 502 })
    api.setFaults({})
    expect(statuses(await post(batch))).toEqual([201, 201])
  })

  it('answers 504 when the API hangs past the timeout', async () => {
    api.setFaults({ hang: true })
    const answer = await post([item()])
    expect(answer.status).toBe(504)
    expect(answer.body).toMatchObject({ error: 'Gateway Timeout', code: 504, message: expect.stringMatching(/in time/) })
    expect(api.requests).toHaveLength(1)
  })

  it('answers 400 for a malformed body', async () => {
    const answer = await request({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"batch": [' })
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ error: 'Bad Request', message: 'The body is not valid JSON' })
    const empty = await request({ method: 'POST', body: '{"batch":[]}' })
    expect(empty.status).toBe(400)
    expect(api.requests).toHaveLength(0)
  })

  it('answers preflights: 204 for a listed origin, 403 otherwise', async () => {
    const preflight = (origin: string) =>
      request({ method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } })
    const allowed = await preflight(APP)
    expect(allowed.status).toBe(204)
    expect(allowed.headers).toMatchObject({ 'access-control-allow-origin': APP, 'access-control-allow-methods': 'POST' })
    const refused = await preflight('http://evil.localhost')
    expect(refused.status).toBe(403)
    expect(refused.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('answers 403 to a batch from an origin not listed, sending nothing', async () => {
    const answer = await post([item()], { Origin: 'http://evil.localhost' })
    expect(answer.status).toBe(403)
    expect(answer.body).toMatchObject({ error: 'Forbidden', code: 403 })
    expect(api.requests).toHaveLength(0)
  })

  it('answers 405 to other methods', async () => {
    const answer = await request({ method: 'GET' })
    expect(answer.status).toBe(405)
    expect(answer.headers.allow).toBe('POST, OPTIONS')
    expect((await request({ method: 'PUT', body: '{}', path: '/any/other/path' })).status).toBe(405)
  })

  it('answers 413 over 1 MB, declared or streamed', async () => {
    const big = JSON.stringify({ batch: [item({ traits: { note: 'x'.repeat(1100000) } })] })
    expect((await request({ method: 'POST', body: big })).status).toBe(413)
    const bytes = new TextEncoder().encode(big)
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += 65536) controller.enqueue(bytes.subarray(offset, offset + 65536))
        controller.close()
      },
    })
    const streamed = await request({ method: 'POST', body: chunked, duplex: 'half' } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(api.requests).toHaveLength(0)
  })

  it('never lets the key out: not in any answer, header or log line', async () => {
    // Answers of every kind, on top of those the tests above collected.
    api.setFaults({ status: 500 })
    await post([item(), item({ userId: '' })])
    await post([item()], { Origin: 'http://evil.localhost' })
    await request({ method: 'GET' })
    api.setFaults({ down: true })
    await post([item()])
    expect(seen.length).toBeGreaterThanOrEqual(4)
    for (const answer of seen) expect(answer).not.toContain(KEY)
    expect(proxy.stderr.join('')).toMatch(/could not reach the Flameup API/)
    expect(proxy.stderr.join('')).not.toContain(KEY)
  })
})

describe('the API stand-in (demo/api.mjs)', () => {
  const create = (body: unknown, { key = KEY, workspace = WORKSPACE } = {}) =>
    fetch(`${api.url}/api/v1/workspaces/${workspace}/people`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
      body: JSON.stringify(body),
    }).then(async (response) => ({ status: response.status, headers: response.headers, body: await response.json() }))

  it('answers with the documented bodies', async () => {
    expect((await create({ userId: 'u' }, { key: 'wrong' })).body).toEqual({
      error: 'Unauthorized',
      message: 'Authentication required. Please provide a valid API token',
      code: 401,
    })
    expect(await create({ userId: 'u' }, { workspace: 'other' })).toMatchObject({ status: 404, body: { code: 404 } })
    expect(await create({ userId: 'u', email: 'nope' })).toMatchObject({
      status: 400,
      body: { error: 'Bad Request', code: 400, details: [{ field: 'email', message: 'Invalid email format' }] },
    })
    expect(await create({ email: 'a@b.co' })).toMatchObject({ status: 400, body: { details: [{ field: 'userId' }] } })
  })

  it('creates a person with 201, then updates it with 200', async () => {
    const created = await create({ userId: 'ann', email: 'ann@example.com', traits: { first_name: 'Ann', plan: 'pro' } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      workspace_id: WORKSPACE,
      external_id: 'ann',
      email: 'ann@example.com',
      first_name: 'Ann',
      last_name: null,
      status: 'active',
      attributes: { plan: 'pro' },
    })
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/)
    const updated = await create({ userId: 'ann', traits: { last_name: 'Lee', seats: 3 } })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({ id: created.body.id, email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', attributes: { plan: 'pro', seats: 3 } })
    expect(updated.body.created_at).toBe(created.body.created_at)
    expect(await (await fetch(api.url + '/__people')).json()).toHaveLength(1)
  })

  it('fails the same calls for the same seed, over /__control', async () => {
    const run = async () => {
      await fetch(api.url + '/__reset', { method: 'POST' })
      await fetch(api.url + '/__control', { method: 'POST', body: JSON.stringify({ failRate: 0.5, retryAfter: 2 }) })
      const answers = []
      for (let n = 0; n < 12; n++) answers.push(await create({ userId: 'r' + n }))
      return answers
    }
    const first = await run()
    const codes = first.map((answer) => answer.status)
    expect((await run()).map((answer) => answer.status)).toEqual(codes)
    expect(codes.some((code) => code >= 500) && codes.some((code) => code < 300)).toBe(true)
    for (const answer of first.filter((answer) => answer.status == 503)) expect(answer.headers.get('retry-after')).toBe('2')
  })

  it('answers CORS preflights for direct mode', async () => {
    const response = await fetch(`${api.url}/api/v1/workspaces/${WORKSPACE}/people`, {
      method: 'OPTIONS',
      headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(response.headers.get('access-control-allow-headers')).toMatch(/authorization/)
  })
})

describe('flameup-proxy CLI', () => {
  it.each([
    ['no key', { FLAMEUP_WORKSPACE_ID: 'ws' }, /^flameup-proxy: FLAMEUP_API_KEY is required\n$/],
    ['no workspace', { FLAMEUP_API_KEY: KEY }, /^flameup-proxy: FLAMEUP_WORKSPACE_ID is required\n$/],
    ['neither', {}, /^flameup-proxy: FLAMEUP_API_KEY and FLAMEUP_WORKSPACE_ID are required\n$/],
    ['a bad PORT', { FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: 'ws', PORT: 'eighty' }, /^flameup-proxy: PORT must be a port number, not eighty\n$/],
    ['a bad API host', { FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: 'ws', FLAMEUP_API_HOST: 'localhost:1' }, /^flameup-proxy: FLAMEUP_API_HOST must be an http\(s\) URL\n$/],
  ])('exits 1 with one line on stderr given %s', async (_name, env, line) => {
    const { code, stdout, stderr } = await runCli(env)
    expect(code).toBe(1)
    expect(stderr).toMatch(line)
    expect(stderr).not.toContain(KEY)
    expect(stdout).toBe('')
  })

  it('stops cleanly on SIGTERM', async () => {
    const { child } = await startCli({ FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, FLAMEUP_API_HOST: api.url, PORT: '0' })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
