import { queueKey } from './ids'
import type { Settings } from './config'
import type { Store } from './store'
import type { DropReason } from './types'
import type { IdentifyCall } from './validate'

/** One identify call as stored in IndexedDB. Field names are hand-written: they outlive releases. */
export interface QueuedCall extends IdentifyCall {
  messageId: string
  /** ISO time of the identify call; it expires 7 days later. */
  timestamp: string
  /** Failed sends so far. */
  attempts: number
  /** Epoch ms before which it is not retried. */
  nextAt: number
  /** hashOf the call's JSON, kept once delivered to skip unchanged calls. */
  hash: number
}

export type Entry = [key: string, call: QueuedCall]

/** The calls of one user waiting together; sent as one merged call under the newest messageId. */
export interface Group {
  _entries: Entry[]
  _merged: QueuedCall
}

const WEEK = 6048e5

/** Groups calls by user in queue order: nothing is reordered, and later values win. */
export const groupByUser = (entries: Entry[]): Group[] => {
  const byUser = new Map<string, Group>()
  for (const entry of entries) {
    const call = entry[1]
    const group = byUser.get(call.userId)
    if (!group) byUser.set(call.userId, { _entries: [entry], _merged: call })
    else {
      const older = group._merged
      group._entries.push(entry)
      // Keeps the newest call's id, time and hash (the last call delivered is the newest one). A group
      // waits for the latest retry time of its calls, so a backoff is never skipped.
      group._merged = {
        ...call,
        email: call.email ?? older.email,
        traits: { ...older.traits, ...call.traits },
        nextAt: Math.max(older.nextAt, call.nextAt),
      }
    }
  }
  return [...byUser.values()]
}

const DAY = 864e5
/** Key prefix of the queued calls; `d` + userId keeps the last delivered hash of a user. */
const CALL = 'q'
const DELIVERED = 'd'

/**
 * The queue's policy over the store. Appends are batched into one transaction per tick. Reading
 * drops corrupt, expired (7 days) and overflowing (oldest first) calls. It also remembers, per
 * user, the hash and time of the last call delivered from this browser (never the traits), so an
 * unchanged identify within 24 hours is not queued. `_known` mirrors what this page last saw, so
 * a closing page can send without waiting for IndexedDB.
 */
export const createQueue = (
  store: Store,
  { maxQueueSize }: Settings,
  drop: (call: QueuedCall, reason: DropReason) => void,
  log: (...args: unknown[]) => void,
) => {
  const known = new Map<string, QueuedCall>()
  const delivered = new Map<string, [hash: number, at: number]>()
  let buffer: Entry[] = []
  let writing: Promise<void> | undefined
  let reading: Promise<any> = Promise.resolve()

  const load = async (now: number) => {
    await writing
    const calls: Entry[] = []
    const meta: Record<string, any> = {}
    const doomed: string[] = []
    for (const [key, value] of await store.entries())
      if (key[0] == DELIVERED) {
        if (value?.[1] > now - DAY) delivered.set(key.slice(1), value)
        else doomed.push(key)
      } else if (key[0] != CALL) meta[key] = value
      // A call without numeric attempts and nextAt would never be due and would hold back its user's later calls.
      else if (
        typeof value?.messageId != 'string' ||
        typeof value.userId != 'string' ||
        typeof value.traits != 'object' ||
        !(value.attempts >= 0 && value.nextAt >= 0)
      ) {
        log('corrupt record removed', key)
        doomed.push(key)
      } else if (Date.parse(value.timestamp) > now - WEEK) calls.push([key, value])
      else {
        drop(value, 'expired')
        doomed.push(key)
      }
    for (const [key, call] of calls.splice(0, calls.length - maxQueueSize)) {
      drop(call, 'queue_full')
      doomed.push(key)
    }
    if (doomed.length) await store.delMany(doomed)
    known.clear()
    calls.forEach(([key, call]) => known.set(key, call))
    return { _calls: calls, _meta: meta }
  }

  return {
    _known: known,

    /** Whether this call equals the last one delivered for its user in the past 24 hours. */
    _unchanged: ({ userId, hash }: QueuedCall, now: number) => {
      const last = delivered.get(userId)
      return !!last && last[0] == hash && now - last[1] < DAY
    },

    _add: (call: QueuedCall) => {
      const key = queueKey(call.messageId)
      // A changed call is queued: until it is delivered, nothing about this user is unchanged.
      if (delivered.delete(call.userId)) store.delMany([DELIVERED + call.userId])
      buffer.push([key, call])
      known.set(key, call)
      return (writing ||= Promise.resolve().then(() => {
        const entries = buffer
        buffer = []
        writing = undefined
        return store.setMany(entries)
      }))
    },

    /**
     * The valid calls in queue order, and the other stored keys (consent). Reads run one after
     * another, so two never both drop (and announce) the same call.
     */
    _load: (now: number): ReturnType<typeof load> => (reading = reading.then(() => load(now))),

    /**
     * Records a round's answers in two transactions: answered calls removed; failed ones
     * rewritten with their next attempt, with the hashes of the delivered calls.
     */
    _settle: async (removed: string[], updated: Entry[], sent: QueuedCall[] = [], now = 0) => {
      const entries: [string, unknown][] = updated.filter(([key]) => known.has(key))
      for (const { userId, hash } of sent) {
        delivered.set(userId, [hash, now])
        entries.push([DELIVERED + userId, [hash, now]])
      }
      removed.forEach((key) => known.delete(key))
      entries.forEach(([key, call]) => known.has(key) && known.set(key, call as QueuedCall))
      if (removed.length) await store.delMany(removed)
      if (entries.length) await store.setMany(entries)
    },
  }
}
