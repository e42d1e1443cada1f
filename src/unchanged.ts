import type { Store } from './store'

const PREFIX = 'd'
const DAY = 864e5

/**
 * Remembers, per user, the hash of the last call delivered from this browser, so an identify that
 * changes nothing within 24 hours is not sent again. Only the hash and the time are stored.
 */
export const createUnchanged = (store: Store) => {
  const last = new Map<string, [hash: number, at: number]>()
  return {
    /** Reads the stored hashes at start-up and deletes the stale ones. */
    _load: (meta: Record<string, any>, now: number) => {
      const stale: string[] = []
      for (const key in meta)
        if (key[0] == PREFIX) {
          if (meta[key]?.[1] > now - DAY) last.set(key.slice(1), meta[key])
          else stale.push(key)
        }
      return store.delMany(stale)
    },
    _is: (userId: string, hash: number, now: number) => {
      const seen = last.get(userId)
      return !!seen && seen[0] == hash && now - seen[1] < DAY
    },
    /** A different call for this user is queued: until it is delivered, nothing about them is unchanged. */
    _forget: (userId: string) => last.delete(userId) && store.delMany([PREFIX + userId]),
    /** Notes a delivered call; returns the entry to store with the round's other writes. */
    _remember: (userId: string, hash: number, now: number): [string, unknown] => {
      last.set(userId, [hash, now])
      return [PREFIX + userId, [hash, now]]
    },
  }
}
