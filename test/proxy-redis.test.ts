// flameup/proxy/redis against a real redis-server on a free loopback port: the store's semantics,
// two CLI instances sharing it (issue 11: the same batch sent to both reached the API 2,500 times
// out of 2,500), and a Redis that goes away mid-run.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisStore, type RedisStore } from '../src/proxy/redis'
import { cleanEnv, CLI, ensureBuilt, killChildren, REDIS_SERVER, ROOT, startCli, startRedis } from './proxy-processes'

const KEY = 'sk_redis_test_0123456789'
const WORKSPACE = 'ws_redis'

interface Api {
  url: string
  requests: { messageId?: string; status: number | null }[]
  setFaults(faults: Record<string, unknown>): void
  reset(): void
  close(): Promise<void>
}

if (!existsSync(REDIS_SERVER)) throw new Error('redis-server is missing: apt-get install -y --no-install-recommends redis-server')

let redis: Awaited<ReturnType<typeof startRedis>>
let api: Api
const stores: RedisStore[] = []

beforeAll(async () => {
  const [started] = await Promise.all([startRedis(), ensureBuilt()])
  redis = started
  const { startApi } = await import(pathToFileURL(join(ROOT, 'demo/api.mjs')).href)
  api = await startApi({ apiKey: KEY, workspaceId: WORKSPACE })
}, 120000)

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()))
  killChildren()
  await api?.close()
})

const storeOf = async (options: Parameters<typeof createRedisStore>[0]) => {
  const store = createRedisStore(options)
  stores.push(store)
  await store.ready
  return store
}

describe('createRedisStore', () => {
  it('claims with SET NX PX, answers "claimed" to the next caller, then the settled status', async () => {
    const a = await storeOf({ url: redis.url, prefix: 't1:' })
    const b = await storeOf({ url: redis.url, prefix: 't1:' })
    expect(await a.claim('k', 5000)).toBeUndefined()
    expect(await b.claim('k', 5000)).toBe('claimed')
    await a.settle('k', { status: 201 }, 60000)
    expect(await b.claim('k', 5000)).toEqual({ status: 201 })
  })

  it('releases only its own claim, so a failed call is sent again by whoever retries it', async () => {
    const a = await storeOf({ url: redis.url, prefix: 't2:' })
    const b = await storeOf({ url: redis.url, prefix: 't2:' })
    await a.claim('k', 5000)
    // b holds no claim on k: its release must not free a's.
    await b.release('k')
    expect(await b.claim('k', 5000)).toBe('claimed')
    await a.release('k')
    expect(await b.claim('k', 5000)).toBeUndefined()
  })

  it('lets a claim lapse after claimMs (an instance that died mid-call)', async () => {
    const a = await storeOf({ url: redis.url, prefix: 't3:' })
    await a.claim('k', 1)
    // PX is enforced by Redis: poll until it has expired the key, no sleep.
    await expect.poll(() => a.claim('k', 5000)).toBeUndefined()
  })

  it('works on a node-redis client the caller owns, and writes only the status', async () => {
    const client = await createClient({ url: redis.url }).connect()
    try {
      const store = createRedisStore({ client, prefix: 't4:' })
      await store.claim('k', 5000)
      await store.settle('k', { status: 200 }, 60000)
      expect(await client.get('t4:k')).toBe('{"status":200}')
      expect(await client.pTTL('t4:k')).toBeGreaterThan(50000)
    } finally {
      await client.close()
    }
  })

  it('fails fast while Redis is away instead of queueing the command', async () => {
    const down = await startRedis()
    const store = await storeOf({ url: down.url, commandTimeoutMs: 500 })
    await down.stop()
    await expect(store.claim('k', 5000)).rejects.toThrow()
  })
})

describe('FLAMEUP_REDIS_URL', () => {
  it('refuses a value that is not a redis URL with one line and exit 1', async () => {
    const child = spawn(process.execPath, [CLI], {
      env: { ...cleanEnv(), FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, FLAMEUP_REDIS_URL: 'localhost:6379', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    const code = await new Promise((resolve) => child.once('close', resolve))
    expect(code).toBe(1)
    expect(stderr).toBe('flameup-proxy: FLAMEUP_REDIS_URL must be a redis:// or rediss:// URL\n')
  })
})

describe('two flameup-proxy instances sharing Redis', () => {
  const items = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, n) => ({ messageId: prefix + '-' + n, userId: prefix + '-user-' + n, traits: { plan: 'pro' } }))

  const post = async (url: string, batch: unknown[]) => {
    const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ batch }) })
    return (await response.json()) as { results: { messageId: string; status: number }[] }
  }

  /** Sends the batch like the SDK does: items answered 503 (in flight elsewhere) again, until each is delivered. */
  const deliverAll = async (url: string, batch: { messageId: string }[]) => {
    let left = batch
    for (let round = 0; left.length && round < 50; round++) {
      const answer = await post(url, left)
      const retry = new Set(answer.results.filter((result) => result.status == 503).map((result) => result.messageId))
      expect(answer.results.filter((result) => !(result.status == 503 || (result.status >= 200 && result.status < 300)))).toEqual([])
      left = left.filter((entry) => retry.has(entry.messageId))
    }
    expect(left).toEqual([])
  }

  const callsPer = (prefix: string) => {
    const counts = new Map<string, number>()
    for (const { messageId } of api.requests) if (messageId?.startsWith(prefix)) counts.set(messageId, (counts.get(messageId) ?? 0) + 1)
    return counts
  }

  it('sends each messageId once when the same batches reach both at once and one after the other', async () => {
    const env = { FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, FLAMEUP_API_HOST: api.url, FLAMEUP_REDIS_URL: redis.url }
    const [a, b] = await Promise.all([startCli(env), startCli(env)])
    // Slow answers keep calls in flight on one instance while the other receives the same batch.
    api.setFaults({ latencyMs: 30 })
    const batches = Array.from({ length: 8 }, (_, n) => items('both-' + n, 25))
    await Promise.all(batches.flatMap((batch) => [deliverAll(a.url, batch), deliverAll(b.url, batch)]))
    for (const batch of batches) {
      await deliverAll(a.url, batch)
      await deliverAll(b.url, batch)
    }
    const counts = callsPer('both-')
    expect(counts.size).toBe(200)
    expect([...counts.values()].filter((count) => count > 1)).toEqual([])
    api.setFaults({})
  })

  it('keeps delivering when Redis goes away mid-run, and dedupes again once it is back', async () => {
    const own = await startRedis()
    const env = { FLAMEUP_API_KEY: KEY, FLAMEUP_WORKSPACE_ID: WORKSPACE, FLAMEUP_API_HOST: api.url, FLAMEUP_REDIS_URL: own.url }
    const proxy = await startCli(env)
    const before = items('outage-a', 25)
    await deliverAll(proxy.url, before)
    await own.stop()
    // Redis is gone: every call is still answered 201 and reaches the API (the worst case is a duplicate).
    const during = items('outage-b', 25)
    const answer = await post(proxy.url, during)
    expect(answer.results.map((result) => result.status)).toEqual(during.map(() => 201))
    expect(callsPer('outage-b').size).toBe(25)
    expect(proxy.stderr.join('')).toMatch(/dedupe store claim failed/)
    // Back on the same port: the client reconnects in the background. A probe sent twice reaches the
    // API once as soon as the store answers again; then a batch is deduped as before the outage.
    await startRedis(own.port)
    let probe = 0
    await expect
      .poll(
        async () => {
          const batch = items('probe-' + ++probe, 1)
          await post(proxy.url, batch)
          await post(proxy.url, batch)
          return callsPer('probe-' + probe + '-').get(batch[0].messageId)
        },
        { timeout: 15000 },
      )
      .toBe(1)
    const after = items('outage-c', 25)
    await deliverAll(proxy.url, after)
    await deliverAll(proxy.url, after)
    expect([...callsPer('outage-c').values()]).toEqual(after.map(() => 1))
  })
})
