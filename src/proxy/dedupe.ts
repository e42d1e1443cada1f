import type { Person } from '../types'

/** What the proxy remembers about a delivered call: enough to answer a resend without the API. */
export interface DeliveredRecord {
  /** The 2xx status the API answered with. */
  status: number
  /** The person the API answered with, when it answered with one. */
  person?: Person
}

/**
 * Where delivered calls are remembered. Keys are opaque strings (a hash of the workspace, the
 * messageId and the call); values are plain JSON, so a shared store such as Redis can keep them
 * with `JSON.stringify` and `SET key value PX ttlMs`, letting several proxy instances answer
 * each other's resends. Either method may return a promise; a store that throws is treated as
 * a miss on `get` and ignored on `set`, so an outage there costs a duplicate, never a call.
 */
export interface DedupeStore {
  get(key: string): DeliveredRecord | undefined | Promise<DeliveredRecord | undefined>
  set(key: string, value: DeliveredRecord, ttlMs: number): void | Promise<void>
}

export interface MemoryStoreOptions {
  /**
   * Most entries kept; past it the least recently used one is forgotten.
   * @default 10000
   */
  maxEntries?: number
  /** Clock in milliseconds, for tests. @default Date.now */
  now?: () => number
}

/** The default in-process store: a Map in least-recently-used order with a deadline per entry. */
export const createMemoryStore = ({ maxEntries = 10000, now = Date.now }: MemoryStoreOptions = {}): DedupeStore => {
  const entries = new Map<string, { value: DeliveredRecord; expires: number }>()
  return {
    get: (key) => {
      const entry = entries.get(key)
      if (!entry) return undefined
      entries.delete(key)
      if (entry.expires <= now()) return undefined
      // Re-inserting moves the key to the young end of the Map's insertion order.
      entries.set(key, entry)
      return entry.value
    },
    set: (key, value, ttlMs) => {
      entries.delete(key)
      entries.set(key, { value, expires: now() + ttlMs })
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries) break
        entries.delete(oldest)
      }
    },
  }
}
