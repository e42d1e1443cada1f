import type { ClaimResult, DedupeStore, DeliveredRecord } from './dedupe'

/**
 * The part of a node-redis client (`createClient()` from `redis`, v5 and later) the store uses.
 * Commands go through `sendCommand` with a per-command timeout, so a Redis that is away fails
 * the command quickly even on a client that queues commands while offline.
 */
export interface RedisCommander {
  sendCommand<T = unknown>(args: string[], options?: { timeout?: number }): Promise<T>
}

export interface RedisStoreOptions {
  /** A connected node-redis client you manage. Either this or `url`. */
  client?: RedisCommander
  /**
   * A Redis URL (`redis://host:6379`, `rediss://...`): the store creates, connects and owns the
   * client, failing commands at once while disconnected and reconnecting in the background.
   */
  url?: string
  /**
   * Prefix of every key the store writes.
   * @default 'flameup:'
   */
  prefix?: string
  /**
   * Milliseconds one Redis command may take; past it the command fails, which the proxy treats as
   * a store outage: it sends the call anyway (a possible duplicate, never a lost call).
   * @default 1000
   */
  commandTimeoutMs?: number
  /** Receives one line when the store's own client errors or reconnects (`url` only). */
  log?: (line: string) => void
}

/** A {@link DedupeStore} on Redis, plus the client's lifecycle when the store created it. */
export interface RedisStore extends DedupeStore {
  /** Resolves once the store's client is connected (at once with `client`); never rejects. */
  ready: Promise<void>
  /** Closes the client the store created (nothing with `client`). */
  close(): Promise<void>
}

// Deletes the key only while it still holds this instance's claim: a claim that lapsed and was
// taken by another instance (or already settled) is not theirs to drop.
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

const token = () => 'claim:' + crypto.randomUUID()

/**
 * The shared dedupe store for several proxy instances (CONTRACT §6 Scale-out): the claim is
 * `SET key claim NX PX claimMs`, the delivered record `SET key {"status":201} PX ttlMs`, and a
 * failed call's claim is dropped with a compare-and-delete script. Values hold the status (and
 * the person only with `exposePerson`), never the call.
 *
 * ```ts
 * import { createRedisStore } from 'flameup/proxy/redis'
 * const store = createRedisStore({ url: process.env.REDIS_URL })
 * const handler = createProxyHandler({ apiKey, workspaceId, store })
 * ```
 */
export const createRedisStore = ({ client, url, prefix = 'flameup:', commandTimeoutMs = 1000, log = () => {} }: RedisStoreOptions): RedisStore => {
  type Owned = RedisCommander & { isOpen: boolean; close(): Promise<unknown> }
  let owned: Owned | undefined
  let ready = Promise.resolve()
  if (!client) {
    if (typeof url != 'string' || !url) throw new TypeError('createRedisStore: pass a client or a url')
    // Imported on first use: `redis` is an optional peer dependency, needed only with `url`.
    ready = import('redis').then(
      async ({ createClient }) => {
        const created = createClient({
          url,
          // While Redis is away, fail at once instead of queueing: the proxy then sends without the store.
          disableOfflineQueue: true,
          socket: { connectTimeout: commandTimeoutMs, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
        })
        let reported = ''
        // Without an 'error' listener, node-redis's EventEmitter would throw and end the process.
        created.on('error', (error: Error) => {
          const line = 'redis: ' + (error?.message || String(error))
          if (line != reported) log((reported = line))
        })
        created.on('ready', () => (reported = ''))
        owned = created as unknown as Owned
        // Resolves on the first connection; while Redis is down it keeps trying in the background.
        await Promise.race([created.connect(), new Promise((resolve) => setTimeout(resolve, 2 * commandTimeoutMs))])
      },
      (error) => log('redis: the `redis` package could not be loaded (npm install redis): ' + String(error?.message || error)),
    ).catch(() => {})
  }
  const command = <T,>(args: string[]) => {
    const redis = client ?? owned
    if (!redis) return Promise.reject(new Error('redis: not connected yet'))
    return redis.sendCommand<T>(args, { timeout: commandTimeoutMs })
  }
  const claims = new Map<string, string>()

  const read = (value: string | null): ClaimResult => {
    if (value === null || value.startsWith('claim:')) return 'claimed'
    const record = JSON.parse(value) as DeliveredRecord
    return typeof record?.status == 'number' ? record : 'claimed'
  }

  return {
    ready,
    close: async () => {
      if (owned?.isOpen) await owned.close()
    },
    claim: async (key, claimMs) => {
      const mine = token()
      const set = await command<string | null>(['SET', prefix + key, mine, 'NX', 'PX', String(Math.ceil(claimMs))])
      if (set !== null) {
        claims.set(key, mine)
        return undefined
      }
      // Held or delivered: one more read says which. Gone in between (released): in flight, retry soon.
      return read(await command<string | null>(['GET', prefix + key]))
    },
    settle: async (key, record, ttlMs) => {
      claims.delete(key)
      await command(['SET', prefix + key, JSON.stringify(record), 'PX', String(Math.ceil(ttlMs))])
    },
    release: async (key) => {
      const mine = claims.get(key)
      claims.delete(key)
      if (mine) await command(['EVAL', RELEASE, '1', prefix + key, mine])
    },
  }
}
