import type { Person } from '../types'

/** What the proxy remembers about a delivered call: enough to answer a resend without the API. */
export interface DeliveredRecord {
  /** The 2xx status the API answered with. */
  status: number
  /** The person the API answered with; kept only when the handler has `exposePerson` set. */
  person?: Person
}

/**
 * What {@link DedupeStore.claim} found: `undefined` when the caller now holds the claim and must
 * send the call; the record of a finished delivery; or `'claimed'` when the call is in flight
 * elsewhere (another request or another instance holds the claim).
 */
export type ClaimResult = DeliveredRecord | 'claimed' | undefined

/**
 * Where calls in flight are claimed and delivered calls remembered (CONTRACT §6 Scale-out). Keys
 * are opaque strings (a SHA-256 hash of the workspace, the messageId and the call). A store
 * shared by several proxy instances (`flameup/proxy/redis`) makes them send each call once:
 * - `claim` atomically takes the key for `claimMs` unless something is there (Redis:
 *   `SET key claim NX PX claimMs`), and returns what was there;
 * - `settle` replaces the claim with the delivered record for `ttlMs` (only 2xx are settled);
 * - `release` drops this caller's claim after a failure, so the browser's retry reaches the API.
 * Any method may return a promise. A store that throws (an outage) is logged and passed over: the
 * call is sent anyway, so an outage costs a possible duplicate, never a lost call.
 */
export interface DedupeStore {
  claim(key: string, claimMs: number): ClaimResult | Promise<ClaimResult>
  settle(key: string, record: DeliveredRecord, ttlMs: number): void | Promise<void>
  release(key: string): void | Promise<void>
}

export interface MemoryStoreOptions {
  /**
   * Most entries kept; past it the least recently used one is forgotten.
   * @default 10000
   */
  maxEntries?: number
  /**
   * Most bytes kept (keys and records, as JSON characters); past it the least recently used
   * entries are forgotten. Bounds memory when records carry persons (`exposePerson`).
   * @default 16777216 (16 MB)
   */
  maxBytes?: number
  /** Clock in milliseconds, for tests. @default Date.now */
  now?: () => number
}

interface Entry {
  /** `undefined` while claimed. */
  record?: DeliveredRecord
  expires: number
  bytes: number
}

// Per-entry bookkeeping (Map slot, object, numbers) counted on top of the characters.
const OVERHEAD = 64

/**
 * The default in-process store: a Map in least-recently-used order with a deadline per entry,
 * bounded in entries and in bytes. Only one process sees it: use a shared store to scale out.
 */
export const createMemoryStore = ({ maxEntries = 10000, maxBytes = 16777216, now = Date.now }: MemoryStoreOptions = {}): DedupeStore => {
  const entries = new Map<string, Entry>()
  let bytes = 0
  // Where eviction stops once a bound is passed (see put); a small store evicts one at a time.
  const lowEntries = maxEntries >= 100 ? Math.floor(maxEntries * 0.9) : maxEntries
  const lowBytes = maxBytes * 0.9

  const drop = (key: string) => {
    const entry = entries.get(key)
    if (entry) {
      entries.delete(key)
      bytes -= entry.bytes
    }
    return entry
  }
  const put = (key: string, entry: Entry) => {
    drop(key)
    entries.set(key, entry)
    bytes += entry.bytes
    if (entries.size <= maxEntries && bytes <= maxBytes) return
    // The Map iterates oldest first. Forget down to 90 % of the bounds at once: starting an
    // iteration walks past the slots of earlier deletions, so doing it per insert costs O(n).
    for (const oldest of entries.keys()) {
      if (entries.size <= lowEntries && bytes <= lowBytes) break
      drop(oldest)
    }
  }

  return {
    claim: (key, claimMs) => {
      const entry = entries.get(key)
      if (entry && entry.expires > now()) {
        // Re-inserting moves the key to the young end of the Map's insertion order.
        put(key, entry)
        return entry.record ?? 'claimed'
      }
      put(key, { expires: now() + claimMs, bytes: key.length + OVERHEAD })
      return undefined
    },
    settle: (key, record, ttlMs) => {
      const size = key.length + OVERHEAD + (record.person ? JSON.stringify(record.person).length : 0)
      // A record larger than the whole budget is not kept at all, rather than evicting everything.
      if (size > maxBytes) drop(key)
      else put(key, { record, expires: now() + ttlMs, bytes: size })
    },
    release: (key) => {
      if (entries.get(key)?.record === undefined) drop(key)
    },
  }
}
